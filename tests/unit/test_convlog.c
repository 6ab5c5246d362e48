/* The message log's records (engine/core/reply.h): scores, day keys, expiry,
 * the record's fields.  The log itself is exercised end to end by
 * tests/integ/replies.sh against a real redis-server. */
#include "test_common.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score),
        cmocka_unit_test(test_key_and_expiry),
        cmocka_unit_test(test_record),
    };
    return cmocka_run_group_tests_name("convlog", tests, NULL, NULL);
}
