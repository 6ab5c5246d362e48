/* Typed config values. */
#include "test_common.h"

#include <stdlib.h>
#include <string.h>

#include "cfgval.h"
#include "err.h"

static char why[200];

static void test_cfgval_durations(void **state)
{
    (void)state;
    uint64_t ms;
    assert_int_equal(flex_cfgval_duration("30", 1000, 0, UINT64_MAX, &ms, why, 200), 0);
    assert_int_equal(ms, 30000);
    assert_int_equal(flex_cfgval_duration("250ms", 1000, 0, UINT64_MAX, &ms, why, 200), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(flex_cfgval_duration("5m", 1000, 0, UINT64_MAX, &ms, why, 200), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(flex_cfgval_duration("2h", 1000, 0, UINT64_MAX, &ms, why, 200), 0);
    assert_int_equal(flex_cfgval_duration("1d", 1000, 0, UINT64_MAX, &ms, why, 200), 0);
    assert_int_equal(ms, 86400000);
    assert_int_equal(flex_cfgval_duration("5 s", 1000, 0, UINT64_MAX, &ms, why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_duration("5w", 1000, 0, UINT64_MAX, &ms, why, 200), FLEX_E_INVAL);
    assert_non_null(strstr(why, "unknown unit"));
    assert_int_equal(flex_cfgval_duration("-5", 1000, 0, UINT64_MAX, &ms, why, 200), FLEX_E_INVAL);
    assert_int_equal(
        flex_cfgval_duration("99999999999999999999d", 1000, 0, UINT64_MAX, &ms, why, 200),
        FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_duration("2h", 1000, 0, 3600000, &ms, why, 200), FLEX_E_RANGE);
}

static void test_cfgval_numbers_and_bools(void **state)
{
    (void)state;
    uint64_t u;
    double d;
    bool b;
    assert_int_equal(flex_cfgval_uint("512", 1, 4096, &u, why, 200), 0);
    assert_int_equal(u, 512);
    assert_int_equal(flex_cfgval_uint("0", 1, 4096, &u, why, 200), FLEX_E_RANGE);
    assert_int_equal(flex_cfgval_uint("12k", 1, 4096, &u, why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_uint("+1", 1, 4096, &u, why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_double("12.5", 0, 100, &d, why, 200), 0);
    assert_true(d == 12.5);
    assert_int_equal(flex_cfgval_double("nan", 0, 100, &d, why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_double("-1", 0, 100, &d, why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_double("1e9", 0, 100, &d, why, 200), FLEX_E_RANGE);
    const char *t[] = {"true", "YES", "on", "1"}, *f[] = {"false", "No", "OFF", "0"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(flex_cfgval_bool(t[i], &b, why, 200), 0);
        assert_true(b);
        assert_int_equal(flex_cfgval_bool(f[i], &b, why, 200), 0);
        assert_false(b);
    }
    assert_int_equal(flex_cfgval_bool("maybe", &b, why, 200), FLEX_E_INVAL);
}

static void test_cfgval_times_and_zones(void **state)
{
    (void)state;
    uint32_t m;
    assert_int_equal(flex_cfgval_hhmm("21:00", &m, why, 200), 0);
    assert_int_equal(m, 1260);
    assert_int_equal(flex_cfgval_hhmm("8:05", &m, why, 200), 0);
    assert_int_equal(m, 485);
    assert_int_equal(flex_cfgval_hhmm("24:00", &m, why, 200), FLEX_E_RANGE);
    assert_int_equal(flex_cfgval_hhmm("8:5", &m, why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_hhmm("0800", &m, why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_timezone("America/New_York", why, 200), 0);
    assert_int_equal(flex_cfgval_timezone("America/Phoenix", why, 200), 0);
    assert_int_equal(flex_cfgval_timezone("UTC", why, 200), 0);
    assert_int_equal(flex_cfgval_timezone("America/Springfield", why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_timezone("America", why, 200), FLEX_E_INVAL); /* a dir */
    assert_int_equal(flex_cfgval_timezone("/etc/passwd", why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_timezone("../../etc/passwd", why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_timezone("localtime", why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_timezone("", why, 200), FLEX_E_INVAL);
}

static void test_cfgval_addresses(void **state)
{
    (void)state;
    assert_int_equal(flex_cfgval_hostport("127.0.0.1:9100", why, 200), 0);
    assert_int_equal(flex_cfgval_hostport("[::1]:9100", why, 200), 0);
    assert_int_equal(flex_cfgval_hostport("localhost:1", why, 200), 0);
    assert_int_equal(flex_cfgval_hostport("127.0.0.1", why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_hostport(":9100", why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_hostport("h:0", why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_hostport("h:65536", why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_hostport("h:80x", why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_redis_url("redis://127.0.0.1:6379/0", why, 200), 0);
    assert_int_equal(flex_cfgval_redis_url("redis://:secret@127.0.0.1:6390/3", why, 200), 0);
    assert_int_equal(flex_cfgval_redis_url("redis://127.0.0.1", why, 200), 0);
    assert_int_equal(flex_cfgval_redis_url("unix:///run/redis.sock", why, 200), 0);
    assert_int_equal(flex_cfgval_redis_url("redis://127.0.0.1:6379/99", why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_redis_url("http://127.0.0.1", why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_redis_url("rediss://u:p@redis.internal:6380/2", why, 200), 0);
    assert_int_equal(flex_cfgval_redis_url("rediss://", why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_redis_url("redisss://127.0.0.1", why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_http_url("http://127.0.0.1:8085", why, 200), 0);
    assert_int_equal(flex_cfgval_http_url("https://api.example.com/x?y", why, 200), 0);
    assert_int_equal(flex_cfgval_http_url("ftp://x", why, 200), FLEX_E_INVAL);
    assert_int_equal(flex_cfgval_http_url("http://", why, 200), FLEX_E_INVAL);
    assert_true(flex_cfgval_name_ok("loc-1", 5));
    assert_false(flex_cfgval_name_ok("loc 1", 5));
    assert_false(flex_cfgval_name_ok("loc.1", 5));
    assert_false(flex_cfgval_name_ok("", 0));
}

/* What may be shown of a Redis URL: never its password. */
static void test_cfgval_redact_url(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"redis://:S3cret@10.0.0.5:6379/0", "redis://:****@10.0.0.5:6379/0"},
        {"redis://flexuser:S3cret@10.0.0.5:6379/0", "redis://flexuser:****@10.0.0.5:6379/0"},
        {"redis://S3cret@10.0.0.5", "redis://****@10.0.0.5"},
        {"redis://u:p@ss@w0rd@h:1/2", "redis://u:****@h:1/2"},     /* '@' in the password */
        {"redis://u:S3cret/ab?c#d@h:1/2", "redis://u:****@h:1/2"}, /* '/', '?', '#' in it */
        {"rediss://u:S3cret@h:6380", "rediss://u:****@h:6380"},
        {"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
        {"unix:///run/redis.sock", "unix:///run/redis.sock"},
        {"redis:/flex:Hunter2@10.1.2.3:6379/0", "****@10.1.2.3:6379/0"}, /* scheme mistyped */
        {"redis//flex:Hunter2@h", "****@h"},
        {"https://ACx:S3cret@api.example.com/x", "https://ACx:****@api.example.com/x"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[128];
        flex_cfgval_redact_url(cases[i][0], out, sizeof(out));
        assert_string_equal(out, cases[i][1]);
        assert_null(strstr(out, "S3cret"));
    }
    char small[12];
    flex_cfgval_redact_url("redis://:S3cret@h:1", small, sizeof(small));
    assert_null(strstr(small, "S3c"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cfgval_durations),
        cmocka_unit_test(test_cfgval_numbers_and_bools),
        cmocka_unit_test(test_cfgval_times_and_zones),
        cmocka_unit_test(test_cfgval_addresses),
        cmocka_unit_test(test_cfgval_redact_url),
    };
    return cmocka_run_group_tests_name("cfgval", tests, NULL, NULL);
}
