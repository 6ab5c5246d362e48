/* The flex.v1 schemas: every message packs and unpacks; garbage is refused. */
#include "test_common.h"

#include <string.h>

#include "flex.pb-c.h"
#include "job.h"
#include "mem.h"

static void test_proto_job_round_trip(void **state)
{
    (void)state;
    Flex__V1__Job job = FLEX__V1__JOB__INIT;
    Flex__V1__Job__VarsEntry e1 = FLEX__V1__JOB__VARS_ENTRY__INIT;
    Flex__V1__Job__VarsEntry e2 = FLEX__V1__JOB__VARS_ENTRY__INIT;
    Flex__V1__Job__VarsEntry *vars[] = {&e1, &e2};
    e1.key = "first_name";
    e1.value = "Zo\xc3\xab";
    e2.key = "date";
    e2.value = "Dec 1";
    job.type = FLEX__V1__JOB_TYPE__JOB_TYPE_MESSAGE;
    job.id = "m-1";
    job.location = "loc-1";
    job.patient = "p-1";
    job.phone = "+12025550101";
    job.template_ = "reminder_24h";
    job.n_vars = 2;
    job.vars = vars;
    job.expires_at_ms = 1764600000000;
    size_t n = flex__v1__job__get_packed_size(&job);
    uint8_t *buf = flex_malloc(n);
    assert_int_equal(flex__v1__job__pack(&job, buf), n);
    Flex__V1__Job *back = flex__v1__job__unpack(NULL, n, buf);
    assert_non_null(back);
    assert_int_equal(back->type, FLEX__V1__JOB_TYPE__JOB_TYPE_MESSAGE);
    assert_string_equal(back->id, "m-1");
    assert_string_equal(back->phone, "+12025550101");
    assert_string_equal(back->template_, "reminder_24h");
    assert_int_equal(back->n_vars, 2);
    assert_string_equal(back->vars[0]->value, "Zo\xc3\xab");
    assert_int_equal(back->expires_at_ms, 1764600000000);
    flex__v1__job__free_unpacked(back, NULL);
    /* A truncated payload is refused, not half-read. */
    assert_null(flex__v1__job__unpack(NULL, n - 3, buf));
    flex_free(buf);
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    assert_null(flex__v1__job__unpack(NULL, sizeof(junk), junk));
}

static void test_proto_status_inbound_deadletter(void **state)
{
    (void)state;
    uint8_t buf[512];
    Flex__V1__StatusEvent ev = FLEX__V1__STATUS_EVENT__INIT;
    ev.job_id = "m-1";
    ev.state = FLEX__V1__STATE__STATE_ACCEPTED;
    ev.carrier = "primary";
    ev.carrier_message_id = "0a1b2c";
    ev.parts = 2;
    size_t n = flex__v1__status_event__pack(&ev, buf);
    Flex__V1__StatusEvent *e = flex__v1__status_event__unpack(NULL, n, buf);
    assert_non_null(e);
    assert_int_equal(e->state, FLEX__V1__STATE__STATE_ACCEPTED);
    assert_string_equal(e->carrier_message_id, "0a1b2c");
    assert_int_equal(e->parts, 2);
    flex__v1__status_event__free_unpacked(e, NULL);

    Flex__V1__InboundMessage in = FLEX__V1__INBOUND_MESSAGE__INIT;
    in.from = "+12025550101";
    in.text = "STOP";
    in.intent = FLEX__V1__INTENT__INTENT_STOP;
    n = flex__v1__inbound_message__pack(&in, buf);
    Flex__V1__InboundMessage *i = flex__v1__inbound_message__unpack(NULL, n, buf);
    assert_non_null(i);
    assert_int_equal(i->intent, FLEX__V1__INTENT__INTENT_STOP);
    flex__v1__inbound_message__free_unpacked(i, NULL);

    Flex__V1__DeadLetter dl = FLEX__V1__DEAD_LETTER__INIT;
    const uint8_t raw[] = {0x00, 0xff, 0x10};
    dl.raw.data = (uint8_t *)raw;
    dl.raw.len = sizeof(raw);
    dl.reason = "undecodable protobuf";
    n = flex__v1__dead_letter__pack(&dl, buf);
    Flex__V1__DeadLetter *d = flex__v1__dead_letter__unpack(NULL, n, buf);
    assert_non_null(d);
    assert_int_equal(d->raw.len, 3);
    assert_memory_equal(d->raw.data, raw, 3);
    flex__v1__dead_letter__free_unpacked(d, NULL);
}

/* A JobBatch as protobuf-c packs it, split job by job without decoding
 * (flex_jobbatch_split): the same jobs, in order; more than asked counted,
 * not written; fields of a newer producer skipped; cut bytes refused. */
static void test_proto_jobbatch_split(void **state)
{
    (void)state;
    Flex__V1__Job j[3] = {FLEX__V1__JOB__INIT, FLEX__V1__JOB__INIT, FLEX__V1__JOB__INIT};
    Flex__V1__Job *jp[3] = {&j[0], &j[1], &j[2]};
    const char *ids[] = {"b-0", "b-1", "b-2"};
    for (int i = 0; i < 3; i++) {
        j[i].type = FLEX__V1__JOB_TYPE__JOB_TYPE_MESSAGE;
        j[i].id = (char *)ids[i];
        j[i].location = "loc-1";
        j[i].phone = "+12025550143";
        j[i].body = "Your cleaning is due";
    }
    Flex__V1__JobBatch b = FLEX__V1__JOB_BATCH__INIT;
    b.n_jobs = 3;
    b.jobs = jp;
    size_t n = flex__v1__job_batch__get_packed_size(&b);
    uint8_t *buf = flex_malloc(n + 16);
    assert_int_equal(flex__v1__job_batch__pack(&b, buf), n);
    struct flex_job_slice sl[FLEX_JOBBATCH_MAX];
    assert_int_equal(flex_jobbatch_split(buf, n, sl, FLEX_JOBBATCH_MAX), 3);
    for (int i = 0; i < 3; i++) {
        Flex__V1__Job *back = flex__v1__job__unpack(NULL, sl[i].len, sl[i].p);
        assert_non_null(back);
        assert_string_equal(back->id, ids[i]);
        flex__v1__job__free_unpacked(back, NULL);
    }
    sl[1].p = NULL;
    assert_int_equal(flex_jobbatch_split(buf, n, sl, 1), 3); /* counted... */
    assert_null(sl[1].p);                                    /* ...not written */
    /* a varint field 2, a fixed32 field 3 and a string field 4 after them */
    const uint8_t extra[] = {0x10, 0x96, 0x01, 0x1d, 1, 2, 3, 4, 0x22, 0x02, 'h', 'i'};
    memcpy(buf + n, extra, sizeof(extra));
    assert_int_equal(flex_jobbatch_split(buf, n + sizeof(extra), sl, FLEX_JOBBATCH_MAX), 3);
    assert_int_equal(flex_jobbatch_split(buf, n - 1, sl, FLEX_JOBBATCH_MAX), -1); /* cut */
    assert_int_equal(flex_jobbatch_split(buf, 0, sl, FLEX_JOBBATCH_MAX), 0);
    const uint8_t bad_wire[] = {0x0b}; /* field 1, wire type 3 (a group) */
    assert_int_equal(flex_jobbatch_split(bad_wire, 1, sl, FLEX_JOBBATCH_MAX), -1);
    const uint8_t long_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(flex_jobbatch_split(long_varint, sizeof(long_varint), sl, 4), -1);
    flex_free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proto_job_round_trip),
        cmocka_unit_test(test_proto_status_inbound_deadletter),
        cmocka_unit_test(test_proto_jobbatch_split),
    };
    return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
