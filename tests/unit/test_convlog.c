/* The message log's records (engine/core/reply.h): scores, day keys, expiry,
 * the record's fields.  The log itself is exercised end to end by
 * tests/integ/replies.sh against a real redis-server. */
#include "test_common.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "reply.h"

#define DAY_MS 86400000LL

static void test_score(void **state)
{
    (void)state;
    char s[24];
    assert_int_equal(flex_conv_score("+12025550143", s, sizeof(s)), 0);
    assert_string_equal(s, "12025550143");
    /* a short code (no "+") is negated: never the same as an E.164 number */
    assert_int_equal(flex_conv_score("72345", s, sizeof(s)), 0);
    assert_string_equal(s, "-72345");
    /* 15 digits (E.164's longest) are exact in a double; 16 are refused */
    assert_int_equal(flex_conv_score("+999999999999999", s, sizeof(s)), 0);
    assert_int_equal(flex_conv_score("+9999999999999999", s, sizeof(s)), -1);
    assert_int_equal(flex_conv_score("DENTIST", s, sizeof(s)), -1);
    assert_int_equal(flex_conv_score("+", s, sizeof(s)), -1);
    assert_int_equal(flex_conv_score("", s, sizeof(s)), -1);
    assert_int_equal(flex_conv_score("+1202555014x", s, sizeof(s)), -1);
    char small[6];
    assert_int_equal(flex_conv_score("+12025550143", small, sizeof(small)), -1);
    /* a text received: a half above the number (a short code's: below) */
    assert_int_equal(flex_conv_score_in("+12025550143", s, sizeof(s)), 0);
    assert_string_equal(s, "12025550143.5");
    assert_int_equal(flex_conv_score_in("72345", s, sizeof(s)), 0);
    assert_string_equal(s, "-72345.5");
    /* still exact at 15 digits: 999999999999999.5 < 2^50, 51 bits */
    assert_int_equal(flex_conv_score_in("+999999999999999", s, sizeof(s)), 0);
    assert_true(strtod(s, NULL) - 999999999999999.0 == 0.5);
    assert_int_equal(flex_conv_score_in("DENTIST", s, sizeof(s)), -1);
    char in13[13];
    assert_int_equal(flex_conv_score_in("+12025550143", in13, sizeof(in13)), -1);
    /* both kinds of records as one range, low to high */
    char lo[24], hi[24];
    assert_int_equal(flex_conv_score_range("+12025550143", lo, hi, sizeof(lo)), 0);
    assert_string_equal(lo, "12025550143");
    assert_string_equal(hi, "12025550143.5");
    assert_int_equal(flex_conv_score_range("72345", lo, hi, sizeof(lo)), 0);
    assert_string_equal(lo, "-72345.5");
    assert_string_equal(hi, "-72345");
    assert_int_equal(flex_conv_score_range("x", lo, hi, sizeof(lo)), -1);
}

static void test_key_and_expiry(void **state)
{
    (void)state;
    char k[48];
    int64_t t = 20422 * DAY_MS + 5; /* just after a UTC midnight */
    flex_conv_key(t, k, sizeof(k));
    assert_string_equal(k, "flex:log:20422");
    flex_conv_key(t - 10, k, sizeof(k));
    assert_string_equal(k, "flex:log:20421");
    struct flex_cfg cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.engine.history_days = 30;
    cfg.engine.reply_context_days = 7;
    /* a day's key lives until that day's end plus the longer of the two */
    assert_int_equal(flex_conv_expire_at(&cfg, t), 20423 * DAY_MS + 30 * DAY_MS);
    cfg.engine.reply_context_days = 45;
    assert_int_equal(flex_conv_expire_at(&cfg, t), 20423 * DAY_MS + 45 * DAY_MS);
}

static void test_record(void **state)
{
    (void)state;
    char rec[512], v[64];
    long n = flex_conv_record(rec, sizeof(rec), 1764460800000LL, 'o', "loc-1", "p-9", "a-7",
                              "job-1", "reminder_24h", NULL, "Hi\tthere\nsee you");
    assert_true(n > 0);
    /* time first: records of one number sort by time within a day */
    assert_memory_equal(rec, "t=1764460800000\t", 16);
    flex_conv_field_copy(rec, (size_t)n, "l=", v, sizeof(v));
    assert_string_equal(v, "loc-1");
    flex_conv_field_copy(rec, (size_t)n, "k=", v, sizeof(v));
    assert_string_equal(v, "reminder_24h");
    flex_conv_field_copy(rec, (size_t)n, "s=", v, sizeof(v));
    assert_string_equal(v, "");
    size_t xl;
    const char *x = flex_conv_field(rec, (size_t)n, "x=", &xl);
    assert_non_null(x);
    assert_int_equal(xl, strlen("Hi there see you"));
    assert_memory_equal(x, "Hi there see you", xl);
    /* a text that does not fit is refused, not cut */
    assert_int_equal(flex_conv_record(rec, 40, 1, 'i', "l", "p", "a", "j", "k", NULL,
                                      "a text longer than what is left"),
                     -1);
}

/* A family on one number: every patient texted lately is listed for the
 * front desk, the longest ids (64 bytes) included, the newest first. */
static void test_context_lists_every_patient(void **state)
{
    (void)state;
    struct flex_cfg cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.engine.reply_context_days = 30;
    int64_t now = 20422 * DAY_MS;
    static char recs[FLEX_REPLY_CONTEXT][512];
    redisReply el[FLEX_REPLY_CONTEXT], *els[FLEX_REPLY_CONTEXT];
    char want[FLEX_REPLY_CONTEXT * 66] = "";
    for (int i = 0; i < FLEX_REPLY_CONTEXT; i++) {
        char pt[65];
        snprintf(pt, sizeof(pt), "%02d%062d", i, 0); /* 64 bytes */
        long n = flex_conv_record(recs[i], sizeof(recs[i]), now - i * 1000, 'o', "loc-1", pt, "",
                                  "j", "reminder_24h", "", "See you");
        assert_true(n > 0);
        memset(&el[i], 0, sizeof(el[i]));
        el[i].type = REDIS_REPLY_STRING;
        el[i].str = recs[i];
        el[i].len = (size_t)n;
        els[i] = &el[i];
        if (i)
            strcat(want, ",");
        strcat(want, pt);
    }
    redisReply arr;
    memset(&arr, 0, sizeof(arr));
    arr.type = REDIS_REPLY_ARRAY;
    arr.elements = FLEX_REPLY_CONTEXT;
    arr.element = els;
    struct flex_reply_ctx ctx;
    flex_reply_parse_context(&cfg, &arr, "loc-1", now, &ctx);
    assert_true(ctx.found);
    assert_string_equal(ctx.patients, want);
    assert_memory_equal(ctx.patient, "00", 2); /* the newest */
}

/* Reminder (appointment a-7), the patient asks "Who is this?", flexd
 * answers with HELP (an automatic reply: no patient, no appointment): a
 * "C" then confirms a-7, not nothing.  A text from another location,
 * newer, loses to the location texted. */
static void test_context_skips_automatic_replies(void **state)
{
    (void)state;
    struct flex_cfg cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.engine.reply_context_days = 30;
    int64_t now = 20422 * DAY_MS;
    static char recs[4][512];
    long n[4];
    n[0] = flex_conv_record(recs[0], sizeof(recs[0]), now - 1000, 'o', "loc-2", "p-9", "a-9", "j9",
                            "reminder_24h", "", "Other office");
    n[1] = flex_conv_record(recs[1], sizeof(recs[1]), now - 2000, 'o', "loc-1", "", "", "auto-1",
                            "help", "", "Capitol Dental: reply STOP to opt out");
    n[2] = flex_conv_record(recs[2], sizeof(recs[2]), now - 3000, 'i', "loc-1", "p-7", "", "mo:1",
                            "help", "", "Who is this?");
    n[3] = flex_conv_record(recs[3], sizeof(recs[3]), now - 4000, 'o', "loc-1", "p-7", "a-7", "j7",
                            "reminder_24h", "", "See you tomorrow");
    redisReply el[4], *els[4];
    for (int i = 0; i < 4; i++) {
        assert_true(n[i] > 0);
        memset(&el[i], 0, sizeof(el[i]));
        el[i].type = REDIS_REPLY_STRING;
        el[i].str = recs[i];
        el[i].len = (size_t)n[i];
        els[i] = &el[i];
    }
    redisReply arr;
    memset(&arr, 0, sizeof(arr));
    arr.type = REDIS_REPLY_ARRAY;
    arr.elements = 4;
    arr.element = els;
    struct flex_reply_ctx ctx;
    flex_reply_parse_context(&cfg, &arr, "loc-1", now, &ctx);
    assert_true(ctx.found);
    assert_string_equal(ctx.location, "loc-1");
    assert_string_equal(ctx.patient, "p-7");
    assert_string_equal(ctx.appointment, "a-7");
    /* with only the automatic reply: its location, no patient */
    arr.elements = 2;
    flex_reply_parse_context(&cfg, &arr, "loc-1", now, &ctx);
    assert_true(ctx.found);
    assert_string_equal(ctx.location, "loc-1");
    assert_string_equal(ctx.patient, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score),
        cmocka_unit_test(test_key_and_expiry),
        cmocka_unit_test(test_record),
        cmocka_unit_test(test_context_lists_every_patient),
        cmocka_unit_test(test_context_skips_automatic_replies),
    };
    return cmocka_run_group_tests_name("convlog", tests, NULL, NULL);
}
