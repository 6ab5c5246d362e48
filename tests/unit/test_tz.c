/* Time zones: the TZif reader agrees with glibc's localtime_r, and local
 * wall times map back to the right instants around DST changes. */
#include "test_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tz.h"

static const char *const zones[] = {
    "America/New_York",    "America/Chicago",
    "America/Denver",      "America/Phoenix",
    "America/Los_Angeles", "America/Anchorage",
    "Pacific/Honolulu",    "America/Puerto_Rico",
    "Europe/London",       "Australia/Sydney",
    "Asia/Kolkata",        "Pacific/Chatham",
    "America/St_Johns",    "UTC",
};

/* Offsets from 1900 to 2100 against glibc, one zone at a time (glibc's TZ
 * is process-wide: fine in a single-threaded test). */
static void test_tz_matches_glibc(void **state)
{
    (void)state;
    srand(7);
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        const struct flex_tz *tz = flex_tz_get(zones[z]);
        assert_non_null(tz);
        setenv("TZ", zones[z], 1);
        tzset();
        int bad = 0;
        for (int i = 0; i < 20000; i++) {
            int64_t t = -2208988800LL + (int64_t)((double)rand() / RAND_MAX * 6311433600.0);
            if (i < 400) /* every hour around the 2026 and 2040 changes too */
                t = (i < 200 ? 1772000000LL : 2215000000LL) + (int64_t)(i % 200) * 3600 * 24 * 2;
            time_t tt = (time_t)t;
            struct tm g;
            localtime_r(&tt, &g);
            struct flex_tm m;
            flex_tz_local(tz, t, &m);
            if (flex_tz_offset(tz, t) != g.tm_gmtoff || m.hour != g.tm_hour || m.day != g.tm_mday ||
                m.month != g.tm_mon + 1 || m.year != g.tm_year + 1900 || m.wday != g.tm_wday) {
                if (bad++ < 3)
                    printf("# %s t=%lld: ours %d glibc %ld\n", zones[z], (long long)t,
                           flex_tz_offset(tz, t), g.tm_gmtoff);
            }
        }
        assert_int_equal(bad, 0);
    }
    unsetenv("TZ");
}

static void test_tz_to_utc_round_trip_and_gaps(void **state)
{
    (void)state;
    const struct flex_tz *ny = flex_tz_get("America/New_York");
    assert_non_null(ny);
    /* 2026-12-01 09:30 EST = 14:30 UTC */
    struct flex_tm tm = {2026, 12, 1, 9, 30, 0, 0};
    assert_int_equal(flex_tz_to_utc(ny, &tm),
                     flex_tz_days_from_civil(2026, 12, 1) * 86400 + 14 * 3600 + 30 * 60);
    /* 2026-03-08 02:30 does not exist in New York: taken as 03:30 EDT = 07:30 UTC */
    struct flex_tm gap = {2026, 3, 8, 2, 30, 0, 0};
    assert_int_equal(flex_tz_to_utc(ny, &gap),
                     flex_tz_days_from_civil(2026, 3, 8) * 86400 + 7 * 3600 + 30 * 60);
    /* 2026-11-01 01:30 happens twice: the first (EDT, 05:30 UTC) */
    struct flex_tm twice = {2026, 11, 1, 1, 30, 0, 0};
    assert_int_equal(flex_tz_to_utc(ny, &twice),
                     flex_tz_days_from_civil(2026, 11, 1) * 86400 + 5 * 3600 + 30 * 60);
    /* every local hour of 2027 maps back to itself, except the gap */
    for (int64_t t = 1798761600; t < 1798761600 + 365 * 86400; t += 1800) {
        struct flex_tm l;
        flex_tz_local(ny, t, &l);
        int64_t back = flex_tz_to_utc(ny, &l);
        struct flex_tm l2;
        flex_tz_local(ny, back, &l2);
        assert_int_equal(l2.hour * 60 + l2.min, l.hour * 60 + l.min);
        assert_int_equal(l2.day, l.day);
    }
}

static void test_tz_rejects_bad_files(void **state)
{
    (void)state;
    struct flex_tz *tz;
    char why[80];
    const uint8_t junk[] = "TZif2 this is not a zone file at all, only words and more words";
    assert_int_not_equal(flex_tz_parse(junk, sizeof(junk), &tz, why, sizeof(why)), 0);
    assert_true(why[0] != '\0');
    assert_int_not_equal(flex_tz_parse((const uint8_t *)"TZ", 2, &tz, why, sizeof(why)), 0);
    assert_null(flex_tz_get("Not/AZone"));
    assert_null(flex_tz_get("../etc/passwd"));
}

static void test_tz_civil_days(void **state)
{
    (void)state;
    for (int64_t d = -800000; d < 800000; d += 17) {
        int y, m, dd;
        flex_tz_civil_from_days(d, &y, &m, &dd);
        assert_int_equal(flex_tz_days_from_civil(y, m, dd), d);
    }
    assert_int_equal(flex_tz_days_from_civil(2000, 3, 1), 11017);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tz_matches_glibc),
        cmocka_unit_test(test_tz_to_utc_round_trip_and_gaps),
        cmocka_unit_test(test_tz_rejects_bad_files),
        cmocka_unit_test(test_tz_civil_days),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    flex_tz_free_all();
    return rc;
}
