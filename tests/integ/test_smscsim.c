/* smscsim against a blocking test client over loopback: binds, submits,
 * receipts, throttling, failures, inbound texts, the log and the stats. */
#include "../unit/test_common.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "gsm7.h"
#include "sms.h"
#include "smpp_client.h"
#include "smpp_payload.h"
#include "utf.h"
#include "str.h"

static char dir[64];
static char bin[256];

struct sim {
    pid_t pid;
    int port;
    char log[128], stats[128];
};

/* Starts smscsim with |extra| options (NULL-terminated). */
static void sim_start(struct sim *s, const char *const *extra)
{
    static int n;
    char port[16], *argv[32];
    int a = 0;
    s->port = tc_free_port();
    snprintf(port, sizeof(port), "127.0.0.1:%d", s->port);
    snprintf(s->log, sizeof(s->log), "%s/log%d", dir, n);
    snprintf(s->stats, sizeof(s->stats), "%s/stats%d.json", dir, n++);
    argv[a++] = bin;
    argv[a++] = "--listen";
    argv[a++] = port;
    argv[a++] = "--log";
    argv[a++] = s->log;
    argv[a++] = "--stats";
    argv[a++] = s->stats;
    argv[a++] = "--max-seconds";
    argv[a++] = "60";
    for (int i = 0; extra && extra[i]; i++)
        argv[a++] = (char *)extra[i];
    argv[a] = NULL;
    s->pid = tc_spawn(argv, s->port);
    assert_true(s->pid > 0);
}

static void sim_stop(struct sim *s)
{
    assert_int_equal(tc_stop(s->pid), 0);
}

static struct flex_smpp_pdu submit(uint32_t seq, const char *dst, const uint8_t *sm, size_t len,
                                   uint8_t dcs, uint8_t esm)
{
    struct flex_smpp_pdu p = {0};
    p.command_id = FLEX_SMPP_SUBMIT_SM;
    p.sequence = seq;
    p.source_addr_ton = p.dest_addr_ton = 1;
    p.source_addr_npi = p.dest_addr_npi = 1;
    memcpy(p.source_addr, "12025550100", 12);
    snprintf(p.destination_addr, sizeof(p.destination_addr), "%s", dst);
    p.registered_delivery = 1;
    p.data_coding = dcs;
    p.esm_class = esm;
    p.short_message = sm;
    p.sm_length = (uint8_t)len;
    return p;
}

static void test_smscsim_bind(void **state)
{
    (void)state;
    struct sim s;
    sim_start(&s, NULL);
    static struct tc_conn c;
    assert_int_equal(tc_connect(&c, s.port), 0);
    assert_int_equal(tc_bind(&c, "flex", "wrong"), FLEX_SMPP_ESME_RBINDFAIL);
    assert_int_equal(tc_bind(&c, "other", "flexpass"), FLEX_SMPP_ESME_RBINDFAIL);
    /* Not bound yet: a submit is refused. */
    struct flex_smpp_pdu p = submit(5, "12025550143", (const uint8_t *)"x", 1, 0, 0);
    assert_int_equal(tc_send(&c, &p), 0);
    assert_int_equal(tc_recv(&c, &p, 2000), 0);
    assert_int_equal(p.command_status, FLEX_SMPP_ESME_RINVBNDSTS);
    assert_int_equal(tc_bind(&c, "flex", "flexpass"), 0);
    assert_int_equal(tc_bind(&c, "flex", "flexpass"), FLEX_SMPP_ESME_RALYBND);
    tc_close(&c);
    sim_stop(&s);
    char *st = tc_slurp(s.stats);
    assert_int_equal(tc_json_num(st, "binds_rejected"), 2);
    free(st);
}

static void test_smscsim_submit_and_receipt(void **state)
{
    (void)state;
    struct sim s;
    const char *opts[] = {"--dlr-delay-ms", "100", NULL};
    sim_start(&s, opts);
    static struct tc_conn c;
    assert_int_equal(tc_connect(&c, s.port), 0);
    assert_int_equal(tc_bind(&c, "flex", "flexpass"), 0);
    const char *text = "Hi Ana, see you Dec 1 at 9:30 AM. Reply C to confirm.";
    uint8_t sept[200];
    struct flex_text_error terr;
    long n = flex_gsm7_encode(text, strlen(text), sept, sizeof(sept), &terr);
    struct flex_smpp_pdu p = submit(7, "12025550143", sept, (size_t)n, 0, 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(tc_send(&c, &p), 0);
    assert_int_equal(tc_recv(&c, &p, 2000), 0);
    assert_int_equal(p.command_id, FLEX_SMPP_SUBMIT_SM_RESP);
    assert_int_equal(p.sequence, 7);
    assert_int_equal(p.command_status, 0);
    char id[65];
    flex_strlcpy(id, p.message_id, sizeof(id));
    assert_true(strlen(id) > 0);
    /* The receipt, after the delay, with TLVs and the standard text. */
    assert_int_equal(tc_recv(&c, &p, 3000), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(ms >= 95);
    assert_int_equal(p.command_id, FLEX_SMPP_DELIVER_SM);
    assert_int_equal(p.esm_class & FLEX_SMPP_ESM_RECEIPT, FLEX_SMPP_ESM_RECEIPT);
    assert_string_equal(p.destination_addr, "12025550100");
    struct flex_smpp_receipt r;
    assert_int_equal(flex_smpp_receipt_parse(&p, &r), 0);
    assert_string_equal(r.id, id);
    assert_int_equal(r.state, FLEX_SMPP_STATE_DELIVERED);
    char body[256];
    memcpy(body, p.short_message, p.sm_length);
    body[p.sm_length] = '\0';
    assert_non_null(strstr(body, "stat:DELIVRD"));
    char want[80];
    snprintf(want, sizeof(want), "id:%s ", id);
    assert_non_null(strstr(body, want));
    struct flex_smpp_pdu ack = {0};
    ack.command_id = FLEX_SMPP_DELIVER_SM_RESP;
    ack.sequence = p.sequence;
    assert_int_equal(tc_send(&c, &ack), 0);
    /* A second submit gets another id. */
    p = submit(8, "12025550144", sept, (size_t)n, 0, 0);
    assert_int_equal(tc_send(&c, &p), 0);
    assert_int_equal(tc_recv(&c, &p, 2000), 0);
    assert_string_not_equal(p.message_id, id);
    tc_close(&c);
    sim_stop(&s);
    char *log = tc_slurp(s.log);
    assert_non_null(strstr(log, "12025550143\t12025550100\t0\tHi Ana, see you Dec 1"));
    assert_non_null(strstr(log, id));
    free(log);
    char *st = tc_slurp(s.stats);
    assert_int_equal(tc_json_num(st, "received"), 2);
    assert_int_equal(tc_json_num(st, "unique_destinations"), 2);
    assert_int_equal(tc_json_num(st, "receipts_sent"), 1); /* the second one was pending */
    free(st);
}

/* A UCS-2 text with an emoji, cut in two parts with a UDH, is logged as
 * the patient would read it. */
static void test_smscsim_concatenated_ucs2_logged_whole(void **state)
{
    (void)state;
    struct sim s;
    sim_start(&s, NULL);
    static struct tc_conn c;
    static struct flex_sms sms;
    assert_int_equal(tc_connect(&c, s.port), 0);
    assert_int_equal(tc_bind(&c, "flex", "flexpass"), 0);
    const char *text = "Hi Zo\xc3\xab \xf0\x9f\x98\x80 your cleaning reminder from Capitol Dental "
                       "Care: see you Wed, Dec 10 at 10:30 AM. Reply C to confirm.";
    struct flex_text_error terr;
    assert_int_equal(flex_sms_encode(&sms, text, strlen(text), 6, &terr), 0);
    assert_int_equal(sms.coding, FLEX_SMS_UCS2);
    assert_true(sms.nparts >= 2);
    for (unsigned k = 0; k < sms.nparts; k++) {
        uint8_t sm[200];
        size_t start = flex_sms_part_start(&sms, k), len = sms.part_end[k] - start;
        size_t h = flex_smpp_udh_write(sm, 77, (uint8_t)sms.nparts, (uint8_t)(k + 1));
        memcpy(sm + h, sms.data + start, len);
        struct flex_smpp_pdu p = submit(20 + k, "12025550150", sm, h + len, 8, 0x40);
        assert_int_equal(tc_send(&c, &p), 0);
        assert_int_equal(tc_recv(&c, &p, 2000), 0);
        assert_int_equal(p.command_status, 0);
    }
    tc_close(&c);
    sim_stop(&s);
    char *log = tc_slurp(s.log);
    char want[512];
    snprintf(want, sizeof(want), "12025550150\t12025550100\t8\t%s\t", text);
    assert_non_null(strstr(log, want));
    assert_int_equal(strchr(log, '\n') - log, strlen(log) - 1); /* one line */
    free(log);
}

static void count_statuses(struct tc_conn *c, int n, int *ok, int *other, uint32_t status)
{
    *ok = *other = 0;
    for (int i = 0; i < n; i++) {
        struct flex_smpp_pdu p =
            submit((uint32_t)(100 + i), "12025550160", (const uint8_t *)"x", 1, 0, 0);
        p.registered_delivery = 0;
        assert_int_equal(tc_send(c, &p), 0);
    }
    for (int i = 0; i < n; i++) {
        struct flex_smpp_pdu p;
        assert_int_equal(tc_recv(c, &p, 2000), 0);
        if (p.command_status == 0)
            (*ok)++;
        else if (p.command_status == status)
            (*other)++;
    }
}

static void test_smscsim_throttle_and_failures(void **state)
{
    (void)state;
    struct sim s;
    const char *thr[] = {"--throttle-mps", "20", NULL};
    sim_start(&s, thr);
    static struct tc_conn c;
    int ok, other;
    assert_int_equal(tc_connect(&c, s.port), 0);
    assert_int_equal(tc_bind(&c, "flex", "flexpass"), 0);
    count_statuses(&c, 100, &ok, &other, FLEX_SMPP_ESME_RTHROTTLED);
    assert_true(ok >= 1 && ok < 30);
    assert_int_equal(ok + other, 100);
    tc_close(&c);
    sim_stop(&s);
    char *st = tc_slurp(s.stats);
    assert_int_equal(tc_json_num(st, "throttled"), other);
    free(st);

    const char *fail[] = {"--fail-rate", "0.5", NULL};
    sim_start(&s, fail);
    assert_int_equal(tc_connect(&c, s.port), 0);
    assert_int_equal(tc_bind(&c, "flex", "flexpass"), 0);
    count_statuses(&c, 400, &ok, &other, FLEX_SMPP_ESME_RSYSERR);
    assert_int_equal(ok + other, 400);
    assert_true(other > 120 && other < 280);
    tc_close(&c);
    sim_stop(&s);
}

static void test_smscsim_inbound_from_mo_file(void **state)
{
    (void)state;
    char mo[128];
    snprintf(mo, sizeof(mo), "%s/mo.txt", dir);
    FILE *f = fopen(mo, "w");
    const char *long_text = "Can I move my visit to Friday? \xf0\x9f\x98\x80 My daughter has a "
                            "school event Thursday afternoon and I cannot make it, sorry!";
    fprintf(f, "+12025550143\tSTOP\n12025550144\t%s\n", long_text);
    fclose(f);
    const char *opts[] = {"--mo-file", mo, NULL};
    struct sim s;
    sim_start(&s, opts);
    static struct tc_conn c;
    assert_int_equal(tc_connect(&c, s.port), 0);
    assert_int_equal(tc_bind(&c, "flex", "flexpass"), 0);
    struct flex_smpp_pdu p;
    assert_int_equal(tc_recv(&c, &p, 2000), 0);
    assert_int_equal(p.command_id, FLEX_SMPP_DELIVER_SM);
    assert_int_equal(p.esm_class & FLEX_SMPP_ESM_RECEIPT, 0);
    assert_string_equal(p.source_addr, "12025550143");
    char text[1024];
    flex_gsm7_decode(p.short_message, p.sm_length, text, sizeof(text));
    assert_string_equal(text, "STOP");
    /* The long one: UCS-2 parts with a UDH; joined, it is the original. */
    uint8_t joined[2048];
    size_t jl = 0;
    unsigned total = 0, got = 0;
    do {
        assert_int_equal(tc_recv(&c, &p, 2000), 0);
        assert_int_equal(p.data_coding, 8);
        struct flex_smpp_concat cc;
        long h = flex_smpp_udh_parse(p.short_message, p.sm_length, &cc);
        assert_true(h > 0);
        assert_int_equal(cc.seq, got + 1);
        total = cc.total;
        memcpy(joined + jl, p.short_message + h, p.sm_length - (size_t)h);
        jl += p.sm_length - (size_t)h;
        got++;
    } while (got < total);
    flex_utf16be_to_utf8(joined, jl, text, sizeof(text));
    assert_string_equal(text, long_text);
    tc_close(&c);
    sim_stop(&s);
    char *st = tc_slurp(s.stats);
    assert_int_equal(tc_json_num(st, "inbound_sent"), 2);
    free(st);
}

static void test_smscsim_bad_pdus(void **state)
{
    (void)state;
    struct sim s;
    sim_start(&s, NULL);
    static struct tc_conn c;
    assert_int_equal(tc_connect(&c, s.port), 0);
    /* Unknown command: generic_nack, and the session goes on. */
    const uint8_t unknown[16] = {0, 0, 0, 16, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 9};
    assert_int_equal(send(c.fd, unknown, 16, 0), 16);
    struct flex_smpp_pdu p;
    assert_int_equal(tc_recv(&c, &p, 2000), 0);
    assert_int_equal(p.command_id, FLEX_SMPP_GENERIC_NACK);
    assert_int_equal(p.command_status, FLEX_SMPP_ESME_RINVCMDID);
    assert_int_equal(p.sequence, 9);
    struct flex_smpp_pdu el = {0};
    el.command_id = FLEX_SMPP_ENQUIRE_LINK;
    el.sequence = 10;
    assert_int_equal(tc_send(&c, &el), 0);
    assert_int_equal(tc_recv(&c, &p, 2000), 0);
    assert_int_equal(p.command_id, FLEX_SMPP_ENQUIRE_LINK_RESP);
    /* A command_length under 16 breaks the stream: nack, then closed. */
    const uint8_t broken[16] = {0, 0, 0, 8, 0, 0, 0, 0x15};
    assert_int_equal(send(c.fd, broken, 16, 0), 16);
    assert_int_equal(tc_recv(&c, &p, 2000), 0);
    assert_int_equal(p.command_id, FLEX_SMPP_GENERIC_NACK);
    assert_int_equal(tc_recv(&c, &p, 2000), -1); /* EOF */
    tc_close(&c);
    sim_stop(&s);
}

static int setup(void **state)
{
    (void)state;
    return tc_env_begin(bin, sizeof(bin), dir, sizeof(dir), "/tmp/flex-smscsim-XXXXXX");
}

static int teardown(void **state)
{
    (void)state;
    return tc_env_end(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smscsim_bind),
        cmocka_unit_test(test_smscsim_submit_and_receipt),
        cmocka_unit_test(test_smscsim_concatenated_ucs2_logged_whole),
        cmocka_unit_test(test_smscsim_throttle_and_failures),
        cmocka_unit_test(test_smscsim_inbound_from_mo_file),
        cmocka_unit_test(test_smscsim_bad_pdus),
    };
    return cmocka_run_group_tests_name("smscsim", tests, setup, teardown);
}
