/*
 * The intake thread's parts (engine/intake*.c), private to them: its state,
 * the writes it batches per round, and the functions one part calls in
 * another.  The thread itself is flex_intake_main (engine/core/pipeline.h).
 *
 *   intake.c         the read/claim loop: XREADGROUP, claims, the queue
 *                    sample, stream trims, promotion of due scheduled jobs
 *   intake_writes.c  the round's own writes: statuses, dead letters, acks
 *   intake_news.c    opt-outs, pauses, drains and control commands read
 *                    from Redis, and passed to the dispatcher as news
 *   intake_jobs.c    a stream entry into a record: decode, render, expand
 *                    appointments and recalls, schedule
 *   intake_checks.c  the checks before the dispatcher: dedup, opt-outs, the
 *                    gate (cap, parent version), pauses, quiet hours
 */
#ifndef FLEX_INTAKE_INT_H
#define FLEX_INTAKE_INT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bloom.h"
#include "config.h"
#include "e164.h"
#include "err.h"
#include "flex.pb-c.h"
#include "job.h"
#include "live.h"
#include "log.h"
#include "mem.h"
#include "pipeline.h"
#include "qsbr.h"
#include "reply.h"
#include "schedq.h"
#include "idem.h"
#include "idmap.h"
#include "sms.h"
#include "cmd.h"
#include "statusbuf.h"
#include "store.h"
#include "str.h"
#include "timing.h"
#include "tmpl.h"

#define BATCH 256
#define CLAIM_EVERY_MS 1000
/* Records kept for held jobs (paused locations).  More held jobs give their
 * records back and stay pending in the stream, read again on a resume:
 * one location with a long queue must not take every record and stop the
 * others. */
#define HELD_MAX (FLEX_POOL_SIZE / 4)
#define PROMOTE_EVERY_MS 250
#define DEADLETTER_RAW_MAX 7168  /* bytes of a refused payload kept in its dead letter */
#define RETENTION_EVERY_MS 60000 /* streams trimmed to [retention] this often */
#define IDEM_SWEEP_EVERY_MS 250  /* one step of the idempotency sweep (idem.h) */
#define PROMOTE_BATCH 2000
/* A JobBatch of more than FLEX_JOBBATCH_MAX jobs is dead-lettered job by
 * job, each replayable; one of more than this, whole (a producer's bug or
 * hostile bytes: not a million dead letters) */
#define JOBBATCH_DL_MAX 4096
#define SEND_AT_SLACK_MS 1000 /* a job due this soon goes now */
#define FLEX_PAUSED_MAX 256

struct intake {
    struct flex_pipeline *p;
    struct flex_store *st;
    struct flex_cmd cmd; /* XCLAIM's ids, one command at a time */
    struct flex_qsbr_reader qr;
    struct flex_bloom *bloom;
    uint64_t cfg_gen; /* the configuration's generation at the last round */
    char optlog_id[48], ctl_id[48], chg_id[48], urg_id[48];
    char urg_prefix[16]; /* "u:" and this process's tag: the entries of urgent jobs */
    struct flex_rec **free_list;
    size_t nfree;
    struct flex_rec **held;
    size_t nheld;
    size_t nspilled; /* held jobs beyond HELD_MAX: pending, not in memory */
    /* The jobs in the dispatcher or writer: a mark per record of the pool
     * (p->pool[i] is out when flying[i]), set when admitted and cleared when
     * it comes back; their entries are read from the records only when our
     * pending list is read again, or touched (rare), so that the common
     * path costs no map of entry ids.  A record's entry is written by the
     * intake alone, before it goes. */
    uint8_t *flying;
    size_t nflying;
    char paused[FLEX_PAUSED_MAX][65]; /* the paused set ("*": every location) */
    int npaused;
    int64_t last_claim_ms, last_promote_ms, last_sample_ms, last_touch_ms, last_trim_ms;
    int64_t last_sweep_ms;
    char idem_sweep_sha[41]; /* flex_idem_sweep_lua, loaded */
    int64_t idem_legacy_ms;  /* until then, flex:seen:{id} keys are read too */
    struct flex_schedq sq;
    struct flex_rec *scratch;  /* renders templates to check them */
    struct flex_statusbuf *sb; /* status events until the round's writes go */
    bool reread;               /* after a reconnect: read our own pending entries again */
    bool reconnect;            /* a callback's read failed: end the round as failed */
    char pel_cursor[48];       /* ... from after this id */
    struct flex_arena pbarena; /* each job's decoded protobuf, reset per job */
    ProtobufCAllocator pba;
    const struct flex_cfg *cfg;
    /* JobBatch entries with jobs not all settled, by entry id (cookie: a
     * struct jbatch), and those all settled whose XACK is still to go */
    struct flex_idmap *batches;
    char (*backs)[48];
    size_t nbacks, capbacks;
    unsigned entry_jobs; /* most jobs in one entry of the last read: sizes the next */
    bool read_short;     /* a job found no record: read our pending list again */
};

/* A JobBatch entry being worked on: bit k of |done| once job k's outcome is
 * stored (by the writer, or by the intake's own writes); the entry is
 * acknowledged when |left| reaches 0. */
struct jbatch {
    uint64_t done;
    uint8_t n, left;
};
_Static_assert(FLEX_JOBBATCH_MAX <= 64, "a batch's jobs fit its bitmap");

static const struct flex_log_ctx lctx = {.component = "intake"};

/* ---- writes the intake makes itself (pipelined, flushed per batch) ---- */

#define ACKS_MAX (BATCH * 4)

struct wbatch {
    long dead, suppressed, expired, dups, scheduled, gated;
    /* the XACK of the round's settled entries, their ids copied (the
     * callers' buffers do not live until the batch is flushed) */
    struct flex_cmd acks;
    /* batch jobs settled by this round's writes ("{entry}#{k}"): counted
     * in their entry's struct jbatch once the writes are stored */
    char (*settle)[48];
    size_t nsettle, capsettle;
};

/* Where records being admitted come from, which decides what is checked
 * and where a record goes when Redis fails in the middle of its checks. */
enum in_from {
    /* read from the stream (or handed back by the dispatcher), its opt-out
     * checked just now: back to the pool, its entry read again later */
    IN_FROM_STREAM,
    /* released from a hold: its opt-out checked again (a STOP may have come
     * while it was held); back to the held list, checked again next try */
    IN_FROM_HELD,
};

/* intake_writes.c */
void in_ack_later(struct wbatch *w, const char *entry);
void in_dead_letter(struct intake *in, struct wbatch *w, const char *entry, const void *raw,
                    size_t rawlen, const char *job_id, const char *reason);
int in_flush_writes(struct intake *in, struct wbatch *w);
int64_t in_job_status_ex(struct intake *in, struct wbatch *w, const char *entry, const char *id,
                         const char *loc, Flex__V1__State state, const char *reason,
                         int64_t send_at, bool record);
void in_job_status(struct intake *in, struct wbatch *w, const char *entry, const char *id,
                   const char *loc, Flex__V1__State state, const char *reason, int64_t send_at);
int in_settle_writes(struct intake *in);
void in_wbatch_init(struct wbatch *w);
void in_wbatch_free(struct wbatch *w);
void in_wbatch_reset(struct wbatch *w);

/* intake_news.c */
int in_bloom_load(struct intake *in);
const char *in_entry_field(struct redisReply *fields, const char *name, size_t *len);
bool in_is_paused(const struct intake *in, const struct flex_rec *r);
void in_last_id(struct intake *in, const char *key, char *out, size_t outsz);
int in_load_drained(struct intake *in);
int in_load_paused(struct intake *in);
void in_reread_pending(struct intake *in);

/* Calls |fn| for each entry of an XREAD reply, |last| set to its id;
 * returns how many there were. */
size_t in_each_entry(struct redisReply *r, char *last, size_t lastsz,
                     void (*fn)(struct intake *, struct redisReply *), struct intake *in);
void in_on_optout(struct intake *in, struct redisReply *fields);
void in_on_change(struct intake *in, struct redisReply *fields);
void in_on_control(struct intake *in, struct redisReply *fields);

/* intake_jobs.c */
/* The protobuf allocator of a job: the intake's arena, reset per job. */
void *in_pb_alloc(void *arena, size_t size);
void in_pb_free(void *arena, void *p);
void in_give_back_all(struct intake *in, enum in_from from, struct flex_rec **recs, size_t kept,
                      size_t i, size_t n);
void in_rec_put(struct intake *in, struct flex_rec *r);
void in_batch_settle(struct intake *in, const char *entry);
void in_batch_acked(struct intake *in);
struct jbatch *in_batch_track(struct intake *in, const char *entry, unsigned n, const char *bits,
                              size_t blen);
size_t in_take_batch(struct intake *in, struct wbatch *w, const char *entry, const char *raw,
                     size_t len, const struct flex_idmap *flying, struct flex_rec **recs,
                     size_t max, unsigned *njobs);
void in_fly(struct intake *in, struct flex_rec *r);
void in_land(struct intake *in, struct flex_rec *r);
struct flex_idmap *in_flying_entries(const struct intake *in);
void in_reclaim(struct intake *in);
void in_schedule_job(struct intake *in, struct wbatch *w, const char *entry, Flex__V1__Job *job,
                     int64_t at, int64_t base, int64_t exp, const char *reason);
struct flex_rec *in_take_entry(struct intake *in, struct wbatch *w, const char *entry,
                               struct redisReply *fields);

/* intake_checks.c */
int in_admit(struct intake *in, struct wbatch *w, struct flex_rec **recs, size_t n,
             enum in_from from);
int in_check_new(struct intake *in, struct wbatch *w, struct flex_rec **recs, size_t *np);
size_t in_hold_paused(struct intake *in, struct flex_rec **recs, size_t n);
void in_publish_held(struct intake *in);
int in_release_held(struct intake *in, struct wbatch *w);
int in_take_back(struct intake *in, struct wbatch *w);

#endif
