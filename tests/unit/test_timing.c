/* When texts go out: reminder plans (catch-up rule, quiet hours), recall
 * dates in the location's zone, quiet-hours ends, cap buckets. */
#include "test_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "flex.pb-c.h"
#include "timing.h"
#include "tz.h"

#define H 3600000LL

static struct flex_cfg *cfg;

static int setup(void **state)
{
    (void)state;
    const char *s = getenv("FLEX_SRCDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/deploy/flexd.conf", s ? s : ".");
    return flex_cfg_load(&cfg, path, NULL, 0, NULL, NULL);
}

static int teardown(void **state)
{
    (void)state;
    flex_cfg_del(cfg);
    flex_tz_free_all();
    return 0;
}

/* Unix ms of a New York wall time. */
static int64_t ny(int y, int mo, int d, int h, int mi)
{
    struct flex_tm tm = {y, mo, d, h, mi, 0, 0};
    return flex_tz_to_utc(flex_tz_get("America/New_York"), &tm) * 1000;
}

static void plan_for(const char *starts_at, int64_t now, struct flex_timing_plan *p)
{
    Flex__V1__Job j = FLEX__V1__JOB__INIT;
    j.type = FLEX__V1__JOB_TYPE__JOB_TYPE_APPOINTMENT;
    j.id = "a-1";
    j.location = "loc-1";
    j.starts_at = (char *)starts_at;
    j.status = FLEX__V1__APPOINTMENT_STATUS__APPOINTMENT_STATUS_SCHEDULED;
    assert_int_equal(flex_timing_expand(cfg, &j, now, p), 0);
}

static void test_timing_appointment_steps(void **state)
{
    (void)state;
    struct flex_timing_plan p;
    /* Thursday Dec 3 2026 14:00 New York, booked a week ahead: all three. */
    plan_for("2026-12-03T14:00:00-05:00", ny(2026, 11, 26, 12, 0), &p);
    assert_int_equal(p.nsteps, 3);
    assert_int_equal(p.steps[0].send_at_ms, ny(2026, 11, 30, 14, 0));
    assert_int_equal(p.steps[1].send_at_ms, ny(2026, 12, 2, 14, 0));
    assert_int_equal(p.steps[2].send_at_ms, ny(2026, 12, 3, 12, 0));
    assert_string_equal(p.steps[1].kind, "reminder_24h");
    assert_string_equal(p.steps[1].date, "Dec 3");
    assert_string_equal(p.steps[1].time, "2:00 PM");
    assert_int_equal(p.steps[2].expires_at_ms, ny(2026, 12, 3, 14, 0));
    /* Each earlier one expires when the next is due: after an outage only
     * the latest missed one goes (review E2). */
    assert_int_equal(p.steps[0].expires_at_ms, ny(2026, 12, 2, 14, 0));
    assert_int_equal(p.steps[1].expires_at_ms, ny(2026, 12, 3, 12, 0));
    /* Booked 20 h ahead: the 24 h reminder now, the 2 h one later. */
    plan_for("2026-12-03T14:00:00-05:00", ny(2026, 12, 2, 18, 0), &p);
    assert_int_equal(p.nsteps, 2);
    assert_int_equal(p.skipped, 1);
    assert_int_equal(p.steps[0].send_at_ms, ny(2026, 12, 2, 18, 0));
    /* Booked 3 h ahead: only the 2 h one. */
    plan_for("2026-12-03T14:00:00-05:00", ny(2026, 12, 3, 11, 0), &p);
    assert_int_equal(p.nsteps, 1);
    assert_string_equal(p.steps[0].kind, "reminder_2h");
    /* Booked 30 min ahead: nothing. */
    plan_for("2026-12-03T14:00:00-05:00", ny(2026, 12, 3, 13, 30), &p);
    assert_int_equal(p.nsteps, 0);
    assert_int_equal(p.skipped, 3);
}

static void test_timing_quiet_hours_move_and_drop(void **state)
{
    (void)state;
    struct flex_timing_plan p;
    /* 8:30 visit: the 2 h reminder (6:30) moves to 08:00; the 24 h one too. */
    plan_for("2026-12-03T08:30:00-05:00", ny(2026, 11, 26, 12, 0), &p);
    assert_int_equal(p.nsteps, 3);
    assert_int_equal(p.steps[1].send_at_ms, ny(2026, 12, 2, 8, 30));
    assert_int_equal(p.steps[2].send_at_ms, ny(2026, 12, 3, 8, 0));
    /* 7:00 visit: the 2 h reminder would land after it: dropped. */
    plan_for("2026-12-03T07:00:00-05:00", ny(2026, 11, 26, 12, 0), &p);
    assert_int_equal(p.nsteps, 2);
    assert_int_equal(p.skipped, 1);
    assert_int_equal(p.steps[1].send_at_ms, ny(2026, 12, 2, 8, 0));
    /* quiet_until: 22:30 -> 08:00 next day; 07:59 -> 08:00; 12:00 -> 0 */
    const struct flex_cfg_location *l = flex_cfg_location_find(cfg, "loc-1");
    assert_int_equal(flex_timing_quiet_until(cfg, l, ny(2026, 3, 7, 22, 30)), ny(2026, 3, 8, 8, 0));
    assert_int_equal(flex_timing_quiet_until(cfg, l, ny(2026, 12, 3, 7, 59)),
                     ny(2026, 12, 3, 8, 0));
    assert_int_equal(flex_timing_quiet_until(cfg, l, ny(2026, 12, 3, 12, 0)), 0);
}

/* The shipped window (21:00 to 08:00) spans midnight: its end minute is
 * not quiet (08:00:00 and 08:00:59 may send), the minute before is, and
 * its start minute is (21:00 waits for 08:00 the next day, 00:00 for
 * 08:00 the same day).  A window within one day (12:00 to 14:00, by -D)
 * has the same edges. */
static void test_timing_quiet_hours_edges(void **state)
{
    (void)state;
    const struct flex_cfg_location *l = flex_cfg_location_find(cfg, "loc-1");
    const int64_t S = 1000;
    assert_int_equal(flex_timing_quiet_until(cfg, l, ny(2026, 12, 3, 8, 0)), 0);
    assert_int_equal(flex_timing_quiet_until(cfg, l, ny(2026, 12, 3, 8, 0) + 59 * S), 0);
    assert_int_equal(flex_timing_quiet_until(cfg, l, ny(2026, 12, 3, 8, 0) - 1),
                     ny(2026, 12, 3, 8, 0));
    assert_int_equal(flex_timing_quiet_until(cfg, l, ny(2026, 12, 3, 7, 59)),
                     ny(2026, 12, 3, 8, 0));
    assert_int_equal(flex_timing_quiet_until(cfg, l, ny(2026, 12, 3, 21, 0)),
                     ny(2026, 12, 4, 8, 0));
    assert_int_equal(flex_timing_quiet_until(cfg, l, ny(2026, 12, 3, 21, 0) - 1), 0);
    assert_int_equal(flex_timing_quiet_until(cfg, l, ny(2026, 12, 3, 23, 59)),
                     ny(2026, 12, 4, 8, 0));
    assert_int_equal(flex_timing_quiet_until(cfg, l, ny(2026, 12, 4, 0, 0)), ny(2026, 12, 4, 8, 0));
    /* the end minute on the night of a DST change (New York, 2026-03-08) */
    assert_int_equal(flex_timing_quiet_until(cfg, l, ny(2026, 3, 8, 8, 0)), 0);
    assert_int_equal(flex_timing_quiet_until(cfg, l, ny(2026, 3, 8, 1, 30)), ny(2026, 3, 8, 8, 0));

    const char *s = getenv("FLEX_SRCDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/deploy/flexd.conf", s ? s : ".");
    struct flex_cfg_override ov[] = {{"quiet_hours.start=12:00"}, {"quiet_hours.end=14:00"}};
    struct flex_cfg *day;
    assert_int_equal(flex_cfg_load(&day, path, ov, 2, NULL, NULL), 0);
    const struct flex_cfg_location *dl = flex_cfg_location_find(day, "loc-1");
    assert_int_equal(flex_timing_quiet_until(day, dl, ny(2026, 12, 3, 11, 59)), 0);
    assert_int_equal(flex_timing_quiet_until(day, dl, ny(2026, 12, 3, 12, 0)),
                     ny(2026, 12, 3, 14, 0));
    assert_int_equal(flex_timing_quiet_until(day, dl, ny(2026, 12, 3, 13, 59)),
                     ny(2026, 12, 3, 14, 0));
    assert_int_equal(flex_timing_quiet_until(day, dl, ny(2026, 12, 3, 14, 0)), 0);
    assert_int_equal(flex_timing_quiet_until(day, dl, ny(2026, 12, 3, 23, 0)), 0);
    flex_cfg_del(day);
}

static void test_timing_recall_and_buckets(void **state)
{
    (void)state;
    Flex__V1__Job j = FLEX__V1__JOB__INIT;
    j.type = FLEX__V1__JOB_TYPE__JOB_TYPE_RECALL;
    j.id = "r-1";
    j.location = "loc-4"; /* America/Phoenix: no DST */
    j.due = "2027-01-15";
    struct flex_timing_plan p;
    int64_t now = ny(2026, 12, 1, 12, 0);
    assert_int_equal(flex_timing_expand(cfg, &j, now, &p), 0);
    assert_int_equal(p.nsteps, 3);
    /* 10:00 in Phoenix is 17:00 UTC */
    int64_t day = flex_tz_days_from_civil(2027, 1, 1) * 86400000LL;
    assert_int_equal(p.steps[0].send_at_ms, day + 17 * H);
    assert_int_equal(p.steps[1].send_at_ms, day + 21 * 24 * H + 17 * H);
    assert_int_equal(p.steps[2].send_at_ms,
                     flex_tz_days_from_civil(2027, 2, 14) * 86400000LL + 17 * H);
    assert_string_equal(p.steps[0].date, "Jan 15");
    assert_string_equal(p.steps[2].kind, "recall_overdue");
    /* cap buckets: Sunday 23:30 and Monday 00:30 New York are different
     * days and weeks; Monday and Tuesday share a week. */
    const struct flex_cfg_location *l = flex_cfg_location_find(cfg, "loc-1");
    int64_t d1, w1, d2, w2, d3, w3;
    flex_timing_cap_buckets(l, ny(2026, 11, 29, 23, 30), &d1, &w1);
    flex_timing_cap_buckets(l, ny(2026, 11, 30, 0, 30), &d2, &w2);
    flex_timing_cap_buckets(l, ny(2026, 12, 1, 20, 0), &d3, &w3);
    assert_int_equal(d2, d1 + 1);
    assert_int_equal(w2, w1 + 1);
    assert_int_equal(w3, w2);
    assert_int_equal(d3, d2 + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timing_appointment_steps),
        cmocka_unit_test(test_timing_quiet_hours_move_and_drop),
        cmocka_unit_test(test_timing_quiet_hours_edges),
        cmocka_unit_test(test_timing_recall_and_buckets),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
