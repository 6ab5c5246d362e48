/*
 * When texts go out: quiet hours in the location's time zone, the
 * expansion of appointments into reminders and of recalls into their
 * cadence, and the calendar days and weeks the frequency cap counts.
 *
 * Pure functions of the config, the job and the time: the intake calls
 * them and writes the results to Redis (docs/architecture.md,
 * "Scheduling").
 */
#ifndef FLEX_TIMING_H
#define FLEX_TIMING_H

#include <stdbool.h>
#include <stdint.h>

#include "job.h"

struct flex_cfg;
struct flex_cfg_location;
struct Flex__V1__Job;

/* Reminders per appointment (72 h, 24 h, 2 h) and messages per recall
 * (14 days before due, 7 and 30 days after). */
#define FLEX_TIMING_MAX_STEPS 3

/* 0 when a text may go to a patient of |loc| at |now_ms|; otherwise the
 * end of the quiet hours (Unix ms) it must wait for. */
int64_t flex_timing_quiet_until(const struct flex_cfg *cfg, const struct flex_cfg_location *loc,
                                int64_t now_ms);

/* One text an appointment or recall expands into. */
struct flex_timing_step {
    char id[FLEX_JOB_DERIVED_ID_MAX + 1]; /* "<parent>/<step>/<version s>" */
    const char *kind;                     /* template name: "reminder_24h", "recall_due" */
    int64_t send_at_ms, expires_at_ms;
    char date[24], time[24]; /* {date} {time} in the location's zone */
};

struct flex_timing_plan {
    int64_t version;       /* starts_at or due, ms */
    int64_t keep_until_ms; /* the parent's record may go after this */
    unsigned nsteps;
    struct flex_timing_step steps[FLEX_TIMING_MAX_STEPS];
    unsigned skipped; /* steps already past (or pushed by quiet hours past their use) */
};

/* Expands the validated appointment or recall |job| at |now_ms|.  A step
 * whose time has passed is skipped, except the latest one of an
 * appointment still at least an hour away whose next reminder is at least
 * 12 h off, which goes at once (a visit booked for tomorrow still gets its
 * 24 h reminder).  A step in quiet
 * hours moves to their end, or is skipped when that is too late.  A
 * cancelled appointment expands into no step.  Returns 0, or
 * FLEX_E_INVAL for a type that does not expand. */
int flex_timing_expand(const struct flex_cfg *cfg, const struct Flex__V1__Job *job, int64_t now_ms,
                       struct flex_timing_plan *plan);

/* The local calendar day and the Monday-to-Sunday week of |t_ms| at |loc|,
 * as day and week numbers since 1970 (the frequency cap's buckets). */
void flex_timing_cap_buckets(const struct flex_cfg_location *loc, int64_t t_ms, int64_t *day,
                             int64_t *week);

/* "Dec 1" and "9:30 AM": the text forms of |t_ms| in |loc|'s zone. */
void flex_timing_format(const struct flex_cfg_location *loc, int64_t t_ms, char *date,
                        size_t datesz, char *time, size_t timesz);

#endif
