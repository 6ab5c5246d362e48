#include "timing.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "flex.pb-c.h"
#include "tz.h"

#define HOUR_MS 3600000LL
#define DAY_MS (24 * HOUR_MS)
#define CATCH_UP_MIN_LEAD_MS HOUR_MS       /* a late reminder goes only this far ahead */
#define CATCH_UP_MIN_GAP_MS (12 * HOUR_MS) /* ... and this far before the next one */
#define RECALL_VALID_MS DAY_MS             /* a recall text is not sent a day late */

static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int64_t flex_timing_quiet_until(const struct flex_cfg *cfg, const struct flex_cfg_location *loc,
                                int64_t now_ms)
{
    if (!cfg->quiet_hours.enabled || !loc || !loc->tz)
        return 0;
    int64_t now_s = floor_div(now_ms, 1000);
    struct flex_tm tm;
    flex_tz_local(loc->tz, now_s, &tm);
    uint32_t m = (uint32_t)(tm.hour * 60 + tm.min);
    uint32_t s = cfg->quiet_hours.start_min, e = cfg->quiet_hours.end_min;
    bool quiet = s < e ? (m >= s && m < e) : (m >= s || m < e);
    if (!quiet)
        return 0;
    /* The end is today, or tomorrow when the window wraps midnight and we
     * are before it. */
    int64_t day = flex_tz_days_from_civil(tm.year, tm.month, tm.day);
    if (s > e && m >= s)
        day++;
    struct flex_tm end = {0};
    flex_tz_civil_from_days(day, &end.year, &end.month, &end.day);
    end.hour = (int)(e / 60);
    end.min = (int)(e % 60);
    return flex_tz_to_utc(loc->tz, &end) * 1000;
}

void flex_timing_cap_buckets(const struct flex_cfg_location *loc, int64_t t_ms, int64_t *day,
                             int64_t *week)
{
    int64_t s = floor_div(t_ms, 1000);
    if (loc && loc->tz)
        s += flex_tz_offset(loc->tz, s);
    *day = floor_div(s, 86400);
    *week = floor_div(*day + 3, 7); /* 1970-01-01 was a Thursday: weeks start on Monday */
}

void flex_timing_format(const struct flex_cfg_location *loc, int64_t t_ms, char *date,
                        size_t datesz, char *time, size_t timesz)
{
    struct flex_tm tm;
    flex_tz_local(loc->tz, floor_div(t_ms, 1000), &tm);
    snprintf(date, datesz, "%s %d", mon[tm.month - 1], tm.day);
    int h12 = tm.hour % 12 == 0 ? 12 : tm.hour % 12;
    snprintf(time, timesz, "%d:%02d %s", h12, tm.min, tm.hour < 12 ? "AM" : "PM");
}

/* Moves |st| out of quiet hours; false when it would then be too late. */
static bool out_of_quiet(const struct flex_cfg *cfg, const struct flex_cfg_location *loc,
                         struct flex_timing_step *st)
{
    int64_t until = flex_timing_quiet_until(cfg, loc, st->send_at_ms);
    if (until)
        st->send_at_ms = until;
    return st->send_at_ms < st->expires_at_ms;
}

static void add_step(struct flex_timing_plan *plan, const char *parent, const char *tag,
                     const char *kind, int64_t at, int64_t expires)
{
    struct flex_timing_step *st = &plan->steps[plan->nsteps++];
    memset(st, 0, sizeof(*st));
    snprintf(st->id, sizeof(st->id), "%s/%s/%lld", parent, tag,
             (long long)floor_div(plan->version, 1000));
    st->kind = kind;
    st->send_at_ms = at;
    st->expires_at_ms = expires;
}

static void expand_appointment(const struct flex_cfg *cfg, const struct flex_cfg_location *loc,
                               const Flex__V1__Job *job, int64_t now, struct flex_timing_plan *p)
{
    static const struct {
        const char *tag, *kind;
        int64_t before;
    } steps[] = {{"72h", "reminder_72h", 72 * HOUR_MS},
                 {"24h", "reminder_24h", 24 * HOUR_MS},
                 {"2h", "reminder_2h", 2 * HOUR_MS}};
    int64_t start = p->version;
    p->keep_until_ms = start + DAY_MS;
    if (job->status == FLEX__V1__APPOINTMENT_STATUS__APPOINTMENT_STATUS_CANCELLED)
        return;
    int last_past = -1;
    for (int i = 0; i < 3; i++)
        if (start - steps[i].before <= now)
            last_past = i;
    /* Catch up with the latest missed reminder only, and only when the next
     * one is not close behind (a visit booked 23 h ahead gets its 24 h
     * reminder now; one booked 3 h ahead waits for the 2 h one). */
    bool catch_up =
        last_past >= 0 && start - now >= CATCH_UP_MIN_LEAD_MS &&
        (last_past == 2 || start - steps[last_past + 1].before - now >= CATCH_UP_MIN_GAP_MS);
    for (int i = 0; i < 3; i++) {
        int64_t at = start - steps[i].before;
        if (at <= now) {
            if (i != last_past || !catch_up) {
                p->skipped++;
                continue;
            }
            at = now;
        }
        add_step(p, job->id, steps[i].tag, steps[i].kind, at, start);
        struct flex_timing_step *st = &p->steps[p->nsteps - 1];
        if (!out_of_quiet(cfg, loc, st)) {
            p->nsteps--;
            p->skipped++;
            continue;
        }
        flex_timing_format(loc, start, st->date, sizeof(st->date), st->time, sizeof(st->time));
    }
    /* A reminder expires once the next one is due: after an outage (flexd
     * down, the location paused, a carrier down) only the latest of the
     * missed ones goes, as at planning, never the 72 h one an hour before
     * the visit nor three at once. */
    for (unsigned i = 0; i + 1 < p->nsteps; i++)
        if (p->steps[i + 1].send_at_ms < p->steps[i].expires_at_ms)
            p->steps[i].expires_at_ms = p->steps[i + 1].send_at_ms;
}

static void expand_recall(const struct flex_cfg *cfg, const struct flex_cfg_location *loc,
                          const Flex__V1__Job *job, int64_t now, struct flex_timing_plan *p)
{
    static const struct {
        const char *tag, *kind;
        int days;
    } steps[] = {
        {"due", "recall_due", -14}, {"7d", "recall_overdue", 7}, {"30d", "recall_overdue", 30}};
    int64_t due_day = floor_div(p->version, DAY_MS); /* parse_date gives midnight UTC */
    p->keep_until_ms = (due_day + 31) * DAY_MS;
    if (job->status == FLEX__V1__APPOINTMENT_STATUS__APPOINTMENT_STATUS_CANCELLED)
        return;
    for (int i = 0; i < 3; i++) {
        struct flex_tm tm = {0};
        flex_tz_civil_from_days(due_day + steps[i].days, &tm.year, &tm.month, &tm.day);
        tm.hour = (int)(cfg->engine.recall_send_min / 60);
        tm.min = (int)(cfg->engine.recall_send_min % 60);
        int64_t at = flex_tz_to_utc(loc->tz, &tm) * 1000;
        if (at + RECALL_VALID_MS <= now) {
            p->skipped++;
            continue;
        }
        add_step(p, job->id, steps[i].tag, steps[i].kind, at > now ? at : now,
                 at + RECALL_VALID_MS);
        struct flex_timing_step *st = &p->steps[p->nsteps - 1];
        if (!out_of_quiet(cfg, loc, st)) {
            p->nsteps--;
            p->skipped++;
            continue;
        }
        /* {date}: the due date, as the patient's calendar shows it. */
        int y, m, d;
        flex_tz_civil_from_days(due_day, &y, &m, &d);
        snprintf(st->date, sizeof(st->date), "%s %d", mon[m - 1], d);
    }
}

int flex_timing_expand(const struct flex_cfg *cfg, const Flex__V1__Job *job, int64_t now_ms,
                       struct flex_timing_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
    const struct flex_cfg_location *loc = flex_cfg_location_find(cfg, job->location);
    if (!loc || !loc->tz)
        return FLEX_E_INVAL;
    if (job->type == FLEX__V1__JOB_TYPE__JOB_TYPE_APPOINTMENT) {
        if (flex_job_parse_time(job->starts_at, &plan->version) != 0)
            return FLEX_E_INVAL;
        expand_appointment(cfg, loc, job, now_ms, plan);
        return 0;
    }
    if (job->type == FLEX__V1__JOB_TYPE__JOB_TYPE_RECALL) {
        if (flex_job_parse_date(job->due, &plan->version) != 0)
            return FLEX_E_INVAL;
        expand_recall(cfg, loc, job, now_ms, plan);
        return 0;
    }
    return FLEX_E_INVAL;
}
