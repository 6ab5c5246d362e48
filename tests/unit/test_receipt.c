/* A delivery receipt from the wire to the job's record: the deliver_sm's
 * bytes decoded (adapters/smpp_pdu.c), taken by the SMPP client as the
 * SMSC's PDU (flex_smpp_on_pdu: on_deliver, on_receipt, the receipt parser
 * of adapters/smpp_payload.c), normalized by the SMPP carrier
 * (adapters/smpp_carrier.c) and made into the record the writer stores
 * (flex_rec_report).  A REJECTD receipt must reach the record as a final,
 * not delivered receipt named REJECTD, whether the state is in the text or
 * in the message_state TLV; ENROUTE and ACCEPTD are not final and emit
 * nothing.  No socket: the client never runs. */
#include "test_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carrier.h"
#include "config.h"
#include "pipeline.h"
#include "smpp.h"
#include "smpp_int.h"
#include "smpp_payload.h"
#include "smpp_pdu.h"
#include "smpp_flow.h"
#include "tz.h"

/* adapters/smpp_carrier.c's carrier: the interface's part first, then its
 * client.  Checked at run time (the client reports to the carrier). */
struct smpp_carrier_view {
    struct flex_carrier base;
    struct flex_smpp_client *client;
};

struct seen {
    int receipts, others;
    struct flex_rec rec; /* the last receipt as the dispatcher records it */
    char state[32];
    unsigned nkeys;
    char key0[FLEX_CARRIER_KEY_SZ];
};

static void on_event(void *arg, struct flex_carrier *c, const struct flex_carrier_event *ev)
{
    struct seen *s = arg;
    if (ev->kind != FLEX_CEV_RECEIPT) {
        s->others++;
        return;
    }
    s->receipts++;
    snprintf(s->state, sizeof(s->state), "%s", ev->state ? ev->state : "(null)");
    s->nkeys = ev->nkeys;
    snprintf(s->key0, sizeof(s->key0), "%s", ev->keys[0]);
    flex_rec_report(&s->rec, c->name, ev, 1234);
}

struct fixture {
    struct flex_cfg *cfg;
    struct flex_carrier *car;
    struct flex_smpp_client *client;
    struct seen seen;
};

static int setup(void **state)
{
    static struct fixture f;
    const char *s = getenv("FLEX_SRCDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/deploy/flexd.conf", s ? s : ".");
    if (flex_cfg_load(&f.cfg, path, NULL, 0, NULL, NULL) != 0)
        return -1;
    f.car =
        flex_smpp_carrier_new(f.cfg, flex_cfg_carrier_find(f.cfg, "primary"), on_event, &f.seen);
    if (!f.car)
        return -1;
    f.client = ((struct smpp_carrier_view *)f.car)->client;
    if (!f.client || f.client->cb_arg != f.car) /* the layout above is not the adapter's */
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    flex_carrier_destroy(f->car);
    flex_cfg_del(f->cfg);
    flex_tz_free_all();
    return 0;
}

/* A receipt deliver_sm for message |id| with |text| (NULL: none) and,
 * when |tlv_state| is non-zero, receipted_message_id and message_state
 * TLVs; encoded, decoded from the bytes, and handed to the client as
 * session 0's PDU.  Returns the receipts the carrier emitted. */
static int feed(struct fixture *f, const char *id, const char *text, uint8_t tlv_state)
{
    struct flex_smpp_pdu p = {0};
    p.command_id = FLEX_SMPP_DELIVER_SM;
    p.sequence = 7;
    p.source_addr_ton = p.dest_addr_ton = 1;
    p.source_addr_npi = p.dest_addr_npi = 1;
    snprintf(p.source_addr, sizeof(p.source_addr), "12025550142");
    snprintf(p.destination_addr, sizeof(p.destination_addr), "12025550100");
    p.esm_class = FLEX_SMPP_ESM_RECEIPT;
    if (text) {
        p.short_message = (const uint8_t *)text;
        p.sm_length = (uint8_t)strlen(text);
    }
    if (tlv_state) {
        p.tlv_mask = FLEX_SMPP_HAS_RECEIPTED_ID | FLEX_SMPP_HAS_MESSAGE_STATE;
        snprintf(p.receipted_message_id, sizeof(p.receipted_message_id), "%s", id);
        p.message_state = tlv_state;
    }
    uint8_t wire[512];
    long n = flex_smpp_encode(&p, wire, sizeof(wire));
    assert_true(n > 0);
    struct flex_smpp_pdu d;
    struct flex_smpp_error err;
    assert_int_equal(flex_smpp_decode(&d, wire, (size_t)n, &err), n);
    int before = f->seen.receipts;
    memset(&f->seen.rec, 0, sizeof(f->seen.rec));
    flex_smpp_on_pdu(f->client, &f->client->sess[0], &d);
    return f->seen.receipts - before;
}

static char *receipt_text(char *buf, size_t sz, const char *id, const char *stat)
{
    snprintf(buf, sz,
             "id:%s sub:001 dlvrd:000 submit date:2612011200 done date:2612011201 stat:%s "
             "err:000 text:",
             id, stat);
    return buf;
}

static void expect_final(struct fixture *f, const char *key, bool delivered, const char *name)
{
    assert_int_equal(f->seen.rec.kind, FLEX_REC_RECEIPT);
    assert_string_equal(f->seen.rec.carrier, "primary");
    assert_true(f->seen.nkeys >= 1);
    assert_string_equal(f->seen.key0, key);
    assert_string_equal(f->seen.rec.part_ids[0], key);
    assert_int_equal(f->seen.rec.delivered, delivered);
    assert_string_equal(f->seen.state, name);
    assert_string_equal(f->seen.rec.reason, name); /* the writer's receipt status (r=) */
}

static void test_receipt_rejectd_in_text(void **state)
{
    struct fixture *f = *state;
    char t[200];
    assert_int_equal(feed(f, "5a01", receipt_text(t, sizeof(t), "5A01", "REJECTD"), 0), 1);
    expect_final(f, "5a01", false, "REJECTD");
    /* another spelling carriers use */
    assert_int_equal(feed(f, "5a02", receipt_text(t, sizeof(t), "5a02", "REJECTED"), 0), 1);
    expect_final(f, "5a02", false, "REJECTD");
    /* lower case */
    assert_int_equal(feed(f, "5a03", receipt_text(t, sizeof(t), "5a03", "rejectd"), 0), 1);
    expect_final(f, "5a03", false, "REJECTD");
}

static void test_receipt_rejectd_in_tlv(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(feed(f, "5b01", NULL, FLEX_SMPP_STATE_REJECTED), 1);
    expect_final(f, "5b01", false, "REJECTD");
    /* the TLV wins over the text */
    char t[200];
    assert_int_equal(
        feed(f, "5b02", receipt_text(t, sizeof(t), "5b02", "DELIVRD"), FLEX_SMPP_STATE_REJECTED),
        1);
    expect_final(f, "5b02", false, "REJECTD");
}

/* The neighbours of REJECTD, so that a state read wrong in either
 * direction shows. */
static void test_receipt_other_states(void **state)
{
    struct fixture *f = *state;
    char t[200];
    assert_int_equal(feed(f, "5c01", receipt_text(t, sizeof(t), "5c01", "DELIVRD"), 0), 1);
    expect_final(f, "5c01", true, "DELIVRD");
    assert_int_equal(feed(f, "5c02", NULL, FLEX_SMPP_STATE_DELIVERED), 1);
    expect_final(f, "5c02", true, "DELIVRD");
    assert_int_equal(feed(f, "5c03", receipt_text(t, sizeof(t), "5c03", "UNDELIV"), 0), 1);
    expect_final(f, "5c03", false, "UNDELIV");
    assert_int_equal(feed(f, "5c04", receipt_text(t, sizeof(t), "5c04", "EXPIRED"), 0), 1);
    expect_final(f, "5c04", false, "EXPIRED");
    assert_int_equal(feed(f, "5c05", receipt_text(t, sizeof(t), "5c05", "UNKNOWN"), 0), 1);
    expect_final(f, "5c05", false, "UNKNOWN");
    assert_int_equal(feed(f, "5c06", NULL, 9), 1); /* no such state: unknown */
    expect_final(f, "5c06", false, "UNKNOWN");
    /* not final: nothing reaches the job */
    assert_int_equal(feed(f, "5c07", receipt_text(t, sizeof(t), "5c07", "ENROUTE"), 0), 0);
    assert_int_equal(feed(f, "5c08", NULL, FLEX_SMPP_STATE_ACCEPTED), 0);
    assert_int_equal(f->seen.others, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_receipt_rejectd_in_text),
        cmocka_unit_test(test_receipt_rejectd_in_tlv),
        cmocka_unit_test(test_receipt_other_states),
    };
    return cmocka_run_group_tests_name("receipt", tests, setup, teardown);
}
