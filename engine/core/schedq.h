/*
 * The scheduled queue in Redis: jobs with a future send time wait in a
 * sorted set (score = send time) with their payload in a hash, and are
 * moved onto the intake stream when due by a Lua script, atomically, by
 * whichever flexd gets there first.  Appointments and recalls keep a
 * record of their current version and of the reminders they expanded
 * into, so a reschedule or cancellation replaces them in one step, and a
 * reminder already on its way is stopped by its version (the gate).
 *
 * Keys (docs/schemas.md): flex:sched (zset), flex:sched:jobs (hash),
 * flex:parent:{appointment|recall}:{id} (hash v, m), flex:cap:{patient}:d{N}
 * and :w{N} (sets of job ids: the frequency cap).
 */
#ifndef FLEX_SCHEDQ_H
#define FLEX_SCHEDQ_H

#include <stddef.h>
#include <stdint.h>

struct flex_store;

#define FLEX_KEY_SCHED "flex:sched"           /* zset: job id by send time (ms) */
#define FLEX_KEY_SCHED_JOBS "flex:sched:jobs" /* hash: job id -> Job protobuf */
#define FLEX_KEY_PARENT "flex:parent:"        /* + type:id: hash v (version), m (members) */
#define FLEX_KEY_CAP "flex:cap:"              /* + patient:dN / :wN: sets of job ids */

/* SHA-1 of each script, as loaded into the server. */
struct flex_schedq {
    char add[41], replace[41], promote[41], gate[41];
};

/* Loads the scripts (SCRIPT LOAD): after every (re)connect.  Returns 0, or
 * -1 when Redis failed (see flex_store_error). */
int flex_schedq_load(struct flex_store *st, struct flex_schedq *q);

/* Appends one command (no I/O; one reply to read) that schedules the job
 * |payload| (|len| bytes, borrowed until flushed) as |id| at |at_ms|; the
 * same id again replaces it. */
void flex_schedq_append_add(struct flex_store *st, const struct flex_schedq *q, const char *id,
                            int64_t at_ms, const void *payload, size_t len);

/* One step of a parent's plan. */
struct flex_schedq_member {
    const char *id;
    int64_t at_ms;
    const void *payload;
    size_t len;
};

/* A job's status record (flex:job:{id}), written by the replace only when
 * its version is applied. */
struct flex_schedq_status {
    const char *id, *state, *reason, *location;
    int64_t at_ms, send_at_ms;
};
#define FLEX_SCHEDQ_KEY_SZ 160 /* "flex:job:" and an id (FLEX_JOB_DERIVED_ID_MAX) */

struct flex_schedq_replace {
    const char *parent_key; /* flex:parent:{appointment|recall}:{id} */
    int64_t version;        /* starts_at or due (ms); 0: cancelled */
    int64_t keep_until_ms;  /* the parent record's expiry */
    /* the stream entry the version came in ("ms-seq", "ms-seq#k" in a
     * JobBatch; NULL: none, always applied): a version from an entry older
     * than the one applied changes nothing */
    const char *entry;
    int64_t status_ttl_s; /* of the status records */
};

/* Appends one command replacing everything |r->parent_key| scheduled
 * before by |members| (none: a cancellation), recording |r->version| and
 * writing the |ns| status records |sts| (the parent's, its steps'), all
 * unless a newer version was applied (then the answer is -1; else the
 * count of members). */
void flex_schedq_append_replace(struct flex_store *st, const struct flex_schedq *q,
                                const struct flex_schedq_replace *r,
                                const struct flex_schedq_status *sts, size_t ns,
                                const struct flex_schedq_member *members, size_t n);

/* Moves up to |limit| jobs due at |now_ms| to the intake stream (one round
 * trip).  Returns how many, or -1 when Redis failed. */
long flex_schedq_promote(struct flex_store *st, const struct flex_schedq *q, int64_t now_ms,
                         int limit);

/* Appends one command whose reply (a status string) says whether job |id|
 * may be sent: "ok", "cancelled" or "rescheduled" (its parent at
 * |parent_key| no longer has |version|; NULL key: no parent), or
 * "capped" (the patient's day or week cap is full; 0 = no cap).  Counting
 * is idempotent per job id. */
void flex_schedq_append_gate(struct flex_store *st, const struct flex_schedq *q,
                             const char *parent_key, int64_t version, const char *patient,
                             int64_t day, int64_t week, unsigned cap_day, unsigned cap_week,
                             const char *id);

#endif
