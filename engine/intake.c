/*
 * The intake thread: reads jobs from Redis (consumer group), checks them,
 * renders their text and hands them to the dispatch thread.
 *
 * One Redis round trip per batch reads, in this order, the next jobs
 * (XREADGROUP, blocking up to 100 ms), the opt-out log and the control
 * stream.  The order matters: an opt-out written before a job was enqueued
 * is in the log read after that job, so it reaches the bloom filter before
 * the job is checked (flexctl writes the set and the log before it
 * returns).
 */
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
#include "idmap.h"
#include "sms.h"
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
#define PROMOTE_BATCH 2000
#define SEND_AT_SLACK_MS 1000 /* a job due this soon goes now */
#define FLEX_PAUSED_MAX 256

struct intake {
    struct flex_pipeline *p;
    struct flex_store *st;
    struct flex_qsbr_reader qr;
    struct flex_bloom *bloom;
    char optlog_id[48], ctl_id[48], chg_id[48], urg_id[48];
    char urg_prefix[16]; /* "u:" and this process's tag: the entries of urgent jobs */
    struct flex_rec **free_list;
    size_t nfree;
    struct flex_rec **held;
    size_t nheld;
    size_t nspilled;                  /* held jobs beyond HELD_MAX: pending, not in memory */
    struct flex_idmap *flying;        /* entries of the jobs in the dispatcher or writer */
    char paused[FLEX_PAUSED_MAX][65]; /* the paused set ("*": every location) */
    int npaused;
    int64_t last_claim_ms, last_promote_ms, last_sample_ms, last_touch_ms, last_trim_ms;
    struct flex_schedq sq;
    struct flex_rec *scratch;  /* renders templates to check them */
    bool releasing;            /* checking held records again (give_back) */
    struct flex_statusbuf *sb; /* status events until the round's writes go */
    bool reread;               /* after a reconnect: read our own pending entries again */
    bool reconnect;            /* a callback's read failed: end the round as failed */
    char pel_cursor[48];       /* ... from after this id */
    struct flex_arena pbarena; /* each job's decoded protobuf, reset per job */
    ProtobufCAllocator pba;
    const struct flex_cfg *cfg;
};

static const struct flex_log_ctx lctx = {NULL, "intake", NULL};

int64_t flex_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t flex_ring_push_all(struct flex_ring *r, void *const *items, size_t n, _Atomic bool *stop)
{
    size_t done = 0;
    while (done < n) {
        size_t k = flex_ring_push_batch(r, items + done, n - done);
        done += k;
        if (k == 0) {
            /* relaxed: a stop flag, polled; nothing is published through it. */
            if (stop && atomic_load_explicit(stop, memory_order_relaxed))
                break;
            usleep(200);
        }
    }
    return done;
}

/* ---- writes the intake makes itself (pipelined, flushed per batch) ---- */

#define ACKS_MAX (BATCH * 4)

struct wbatch {
    long dead, suppressed, expired, dups, scheduled, gated;
    const char *acks[ACKS_MAX + 3];
    size_t acklens[ACKS_MAX + 3];
    char ackids[ACKS_MAX][48]; /* copies: the callers' buffers do not live
                                * until the batch is flushed */
    int nacks;
};

/* Empty again (its arrays are 60 KB: only the counts are reset). */
static void wbatch_reset(struct wbatch *w)
{
    w->dead = w->suppressed = w->expired = w->dups = w->scheduled = w->gated = 0;
    w->nacks = 0;
}

static void ack_later(struct wbatch *w, const char *entry)
{
    if (flex_entry_urgent(entry))
        return; /* urgent jobs are read without a group: nothing to acknowledge */
    if (w->nacks == ACKS_MAX)
        return; /* stays pending; claimed and settled again later */
    char *copy = w->ackids[w->nacks];
    flex_strlcpy(copy, entry, sizeof(w->ackids[0]));
    w->acks[3 + w->nacks] = copy;
    w->acklens[3 + w->nacks] = strlen(copy);
    w->nacks++;
}

static void dead_letter(struct intake *in, struct wbatch *w, const char *entry, const void *raw,
                        size_t rawlen, const char *job_id, const char *reason)
{
    Flex__V1__DeadLetter dl = FLEX__V1__DEAD_LETTER__INIT;
    dl.raw.data = (uint8_t *)raw;
    dl.raw.len = rawlen;
    dl.reason = (char *)reason;
    char src[80];
    snprintf(src, sizeof(src), "%s %s", FLEX_KEY_JOBS, entry);
    dl.source = src;
    dl.at_ms = flex_now_ms();
    /* Every part bounded by an explicit cut: an id or a payload of any
     * size from the stream must not decide the record's size.  The reason
     * is Flex's own text (bounded by its callers). */
    char idcut[FLEX_JOB_DERIVED_ID_MAX + 1];
    flex_strlcpy(idcut, job_id ? job_id : "", sizeof(idcut));
    dl.job_id = idcut;
    job_id = idcut;
    if (dl.raw.len > DEADLETTER_RAW_MAX) /* keep the reason, cut the payload */
        dl.raw.len = DEADLETTER_RAW_MAX;
    size_t n = flex__v1__dead_letter__get_packed_size(&dl);
    uint8_t *buf = flex_malloc(n);
    flex__v1__dead_letter__pack(&dl, buf);
    const char *argv[] = {"XADD", FLEX_KEY_DEADLETTER, "*", "dl", (const char *)buf, "reason",
                          reason};
    size_t lens[] = {4, strlen(FLEX_KEY_DEADLETTER), 1, 2, n, 6, strlen(reason)};
    flex_store_append(in->st, 7, argv, lens);
    flex_free(buf);
    w->dead++;
    /* `flexctl status ID` answers for it too; its id may be anything the
     * producer wrote, so only an id fit for a key is recorded */
    if (job_id && job_id[0] && strlen(job_id) <= FLEX_JOB_DERIVED_ID_MAX &&
        !strpbrk(job_id, " \t\r\n")) {
        flex_store_appendf(in->st, "HSET %s%s state dead_letter reason %s dead_letter_at %lld",
                           FLEX_KEY_JOB, job_id, reason, (long long)dl.at_ms);
        flex_store_appendf(in->st, "EXPIRE %s%s %lld", FLEX_KEY_JOB, job_id,
                           (long long)in->cfg->retention.job_history_days * 86400);
    }
    /* no PHI: the id and why (a reason never quotes a phone or a body) */
    flex_log(FLEX_LOG_WARN, &lctx, 0, "job %s dead-lettered: %s (entry %s)",
             job_id && job_id[0] ? job_id : "(no id)", reason, entry);
    struct flex_audit_job aj = {.job = job_id, .state = "dead_lettered", .reason = reason};
    flex_audit_job(in->p->audit, "status", &aj);
    ack_later(w, entry);
}

static const char *state_name(Flex__V1__State state)
{
    switch (state) {
    case FLEX__V1__STATE__STATE_SUPPRESSED: return "suppressed";
    case FLEX__V1__STATE__STATE_EXPIRED: return "expired";
    case FLEX__V1__STATE__STATE_SCHEDULED: return "scheduled";
    default: return "failed";
    }
}

/* Writes a state the intake decided (suppressed, expired, scheduled: due
 * at |send_at|) and acknowledges |entry| (NULL: none). */
static void job_status(struct intake *in, struct wbatch *w, const char *entry, const char *id,
                       const char *loc, Flex__V1__State state, const char *reason, int64_t send_at)
{
    Flex__V1__StatusEvent ev = FLEX__V1__STATUS_EVENT__INIT;
    ev.job_id = (char *)id;
    ev.state = state;
    ev.reason = (char *)reason;
    ev.at_ms = flex_now_ms();
    ev.location = (char *)loc;
    ev.send_at_ms = send_at;
    const char *sname = state_name(state);
    if (state == FLEX__V1__STATE__STATE_SUPPRESSED)
        flex_count_suppressed(in->p, reason);
    flex_labels_add(&in->p->loc_intake, loc,
                    state == FLEX__V1__STATE__STATE_SUPPRESSED ? FLEX_MV_SUPPRESSED
                    : state == FLEX__V1__STATE__STATE_EXPIRED  ? FLEX_MV_EXPIRED
                                                               : FLEX_MV_SCHEDULED,
                    1);
    if (flex_statusbuf_add(in->sb, &ev) != 0) { /* full: this entry now, then a new one */
        flex_statusbuf_append(in->sb, in->st,
                              flex_cfg_days_before(ev.at_ms, in->cfg->retention.status_days));
        flex_statusbuf_add(in->sb, &ev);
    }
    flex_store_appendf(in->st, "HSET %s%s state %s reason %s %s_at %lld location %s send_at %lld",
                       FLEX_KEY_JOB, id, sname, reason, sname, (long long)ev.at_ms, loc,
                       (long long)send_at);
    flex_store_appendf(in->st, "EXPIRE %s%s %lld", FLEX_KEY_JOB, id,
                       (long long)in->cfg->retention.job_history_days * 86400);
    if (entry)
        ack_later(w, entry);
    struct flex_audit_job aj = {.job = id, .location = loc, .state = sname, .reason = reason};
    flex_audit_job(in->p->audit, "status", &aj);
}

static void count(_Atomic uint64_t *c, long n)
{
    /* relaxed: a metrics counter, read by the HTTP thread only. */
    if (n > 0)
        atomic_fetch_add_explicit(c, (uint64_t)n, memory_order_relaxed);
}

/* Reads the replies of the writes queued so far (dead letters, statuses,
 * deferrals): a check that reads its replies right after its commands
 * must come after them, or it takes their replies for its own. */
static int settle_writes(struct intake *in)
{
    /* The store counts what was appended.  A refused write (an error reply)
     * fails the round like a lost connection: the entries are read again
     * (and their writes made again) after the backoff, rather than left
     * unacknowledged or without their status. */
    return flex_store_settle(in->st) != 0 ? -1 : 0;
}

static int flush_writes(struct intake *in, struct wbatch *w)
{
    count(&in->p->m.dead_letter, w->dead);
    count(&in->p->m.suppressed, w->suppressed);
    count(&in->p->m.expired, w->expired);
    count(&in->p->m.duplicates, w->dups);
    /* The status events before the acknowledgements, in the same pipeline. */
    flex_statusbuf_append(in->sb, in->st,
                          flex_cfg_days_before(flex_now_ms(), in->cfg->retention.status_days));
    if (w->dead)
        flex_store_appendf(in->st, "HINCRBY %s dead_letter %ld", FLEX_KEY_STATS, w->dead);
    if (w->suppressed)
        flex_store_appendf(in->st, "HINCRBY %s suppressed_optout %ld", FLEX_KEY_STATS,
                           w->suppressed);
    if (w->expired)
        flex_store_appendf(in->st, "HINCRBY %s expired %ld", FLEX_KEY_STATS, w->expired);
    if (w->dups)
        flex_store_appendf(in->st, "HINCRBY %s duplicates_suppressed %ld", FLEX_KEY_STATS, w->dups);
    if (w->scheduled)
        flex_store_appendf(in->st, "HINCRBY %s scheduled %ld", FLEX_KEY_STATS, w->scheduled);
    if (w->gated)
        flex_store_appendf(in->st, "HINCRBY %s suppressed_other %ld", FLEX_KEY_STATS, w->gated);
    if (w->nacks) {
        w->acks[0] = "XACK";
        w->acks[1] = FLEX_KEY_JOBS;
        w->acks[2] = FLEX_KEY_GROUP;
        w->acklens[0] = 4;
        w->acklens[1] = strlen(FLEX_KEY_JOBS);
        w->acklens[2] = strlen(FLEX_KEY_GROUP);
        flex_store_append(in->st, 3 + w->nacks, w->acks, w->acklens);
    }
    int rc = settle_writes(in);
    wbatch_reset(w);
    return rc;
}

/* ---- opt-outs and control -------------------------------------------- */

static void bloom_load(struct intake *in)
{
    static const struct flex_hash_key key = {0x6f70746f75740001ULL, 0x666c657862310002ULL};
    flex_store_appendf(in->st, "SCARD %s", FLEX_KEY_OPTOUT);
    struct redisReply *r;
    long long n = 0;
    if (flex_store_reply(in->st, &r) == 0) {
        n = flex_reply_integer(r);
        flex_store_free_reply(r);
    }
    flex_bloom_new(&in->bloom, (uint64_t)(n < 1000000 ? 1000000 : n * 2), 0.001, &key);
    char cursor[32] = "0";
    do {
        flex_store_appendf(in->st, "SSCAN %s %s COUNT 10000", FLEX_KEY_OPTOUT, cursor);
        if (flex_store_reply(in->st, &r) != 0)
            return;
        size_t clen;
        const char *c = flex_reply_str(flex_reply_at(r, 0), &clen);
        snprintf(cursor, sizeof(cursor), "%.*s", (int)clen, c ? c : "0");
        struct redisReply *members = flex_reply_at(r, 1);
        for (size_t i = 0; members && i < flex_reply_count(members); i++) {
            size_t len;
            const char *m = flex_reply_str(flex_reply_at(members, i), &len);
            flex_bloom_add(in->bloom, m, len);
        }
        flex_store_free_reply(r);
    } while (strcmp(cursor, "0") != 0);
}

/* Where to start reading a stream: its last entry now ("$" is not allowed
 * in a pipelined XREAD that must not block). */
static void last_id(struct intake *in, const char *key, char *out, size_t outsz)
{
    flex_store_appendf(in->st, "XREVRANGE %s + - COUNT 1", key);
    struct redisReply *r;
    snprintf(out, outsz, "0-0");
    if (flex_store_reply(in->st, &r) != 0)
        return;
    struct redisReply *e = flex_reply_at(r, 0);
    if (e) {
        size_t len;
        const char *id = flex_reply_str(flex_reply_at(e, 0), &len);
        snprintf(out, outsz, "%.*s", (int)len, id);
    }
    flex_store_free_reply(r);
}

/* Passes what can change while a job waits to the dispatcher, which checks
 * its jobs against it just before they go (engine/live.h). */
static void news(struct intake *in, enum flex_news_kind kind, const char *text, size_t len,
                 int64_t version)
{
    void *item = flex_news_new(kind, flex_now_ms(), text, len, version);
    if (flex_ring_push_all(&in->p->news, &item, 1, &in->p->stop_all) == 0)
        flex_news_del(item); /* stopping */
}

/* The members of the set |key| (the writes queued so far settled first),
 * or NULL when Redis failed or refused. */
static struct redisReply *read_set(struct intake *in, const char *key)
{
    if (settle_writes(in) != 0)
        return NULL;
    flex_store_appendf(in->st, "SMEMBERS %s", key);
    struct redisReply *r;
    if (flex_store_reply(in->st, &r) != 0)
        return NULL;
    if (flex_reply_is_error(r)) {
        flex_store_free_reply(r);
        return NULL;
    }
    return r;
}

/* The paused set, read again.  An error keeps the set in force (a pause
 * is never lifted by a failed read); more ids than FLEX_PAUSED_MAX pause
 * everything rather than letting some of them send.  Returns 0, or -1
 * when Redis failed. */
static int load_paused(struct intake *in)
{
    struct redisReply *r = read_set(in, FLEX_KEY_PAUSED);
    if (!r)
        return -1;
    char all[FLEX_PAUSED_MAX * 66];
    size_t o = 0;
    in->npaused = 0;
    if (flex_reply_count(r) > FLEX_PAUSED_MAX) {
        flex_log(FLEX_LOG_ERROR, &lctx, 0, "more than %d paused locations: pausing every one",
                 FLEX_PAUSED_MAX);
        snprintf(in->paused[in->npaused++], 65, "*");
        all[o++] = '*';
        all[o++] = ',';
    }
    for (size_t i = 0; i < flex_reply_count(r) && in->npaused < FLEX_PAUSED_MAX; i++) {
        size_t len;
        const char *s = flex_reply_str(flex_reply_at(r, i), &len);
        if (!s || len == 0 || len > 64)
            continue;
        snprintf(in->paused[in->npaused++], 65, "%.*s", (int)len, s);
        memcpy(all + o, s, len); /* at most 65 bytes per id: |all| holds them */
        o += len;
        all[o++] = ',';
    }
    flex_store_free_reply(r);
    news(in, FLEX_NEWS_PAUSED, all, o ? o - 1 : 0, 0);
    return 0;
}

/* Paused by the set in Redis (flexctl location pause, "*" for --all) or by
 * the config ([location] paused).  Automatic replies are never held. */
static bool is_paused(const struct intake *in, const struct flex_rec *r)
{
    if (r->auto_reply)
        return false;
    const struct flex_cfg_location *l = flex_cfg_location_find(in->cfg, r->location);
    if (l && l->paused)
        return true;
    for (int i = 0; i < in->npaused; i++)
        if (strcmp(in->paused[i], r->location) == 0 || strcmp(in->paused[i], "*") == 0)
            return true;
    return false;
}

/* Field |name| of a stream entry's field list, or NULL. */
static const char *entry_field(struct redisReply *fields, const char *name, size_t *len)
{
    for (size_t k = 0; k + 1 < flex_reply_count(fields); k += 2) {
        const char *f = flex_reply_str(flex_reply_at(fields, k), NULL);
        if (f && strcmp(f, name) == 0)
            return flex_reply_str(flex_reply_at(fields, k + 1), len);
    }
    return NULL;
}

/* Calls |fn| for every entry of the first stream of an XREAD reply and
 * remembers the last id in |last|. */
static void each_entry(struct redisReply *r, char *last, size_t lastsz,
                       void (*fn)(struct intake *, struct redisReply *), struct intake *in)
{
    struct redisReply *stream = flex_reply_at(r, 0);
    struct redisReply *entries = stream ? flex_reply_at(stream, 1) : NULL;
    for (size_t i = 0; entries && i < flex_reply_count(entries); i++) {
        struct redisReply *e = flex_reply_at(entries, i);
        size_t len;
        const char *id = flex_reply_str(flex_reply_at(e, 0), &len);
        snprintf(last, lastsz, "%.*s", (int)len, id);
        fn(in, flex_reply_at(e, 1));
    }
}

static void on_optout(struct intake *in, struct redisReply *fields)
{
    size_t oplen, nlen;
    const char *op = entry_field(fields, "op", &oplen);
    const char *nums = entry_field(fields, "numbers", &nlen);
    if (!op || !nums)
        return;
    news(in, op[0] == '+' ? FLEX_NEWS_OPTOUT : FLEX_NEWS_OPTIN, nums, nlen, 0);
    if (op[0] != '+')
        return; /* removals: the exact set answers; bits stay until rebuild */
    for (size_t i = 0; i < nlen;) {
        size_t j = i;
        while (j < nlen && nums[j] != ',')
            j++;
        if (j > i)
            flex_bloom_add(in->bloom, nums + i, j - i);
        i = j + 1;
    }
}

/* An appointment or recall rescheduled or cancelled (written by the
 * replace script, engine/schedq.c): its reminders already read must not go. */
static void on_change(struct intake *in, struct redisReply *fields)
{
    size_t klen, vlen;
    const char *k = entry_field(fields, "k", &klen);
    const char *v = entry_field(fields, "v", &vlen);
    if (k && v)
        news(in, FLEX_NEWS_PARENT, k, klen, strtoll(v, NULL, 10));
}

/* Reads our own pending entries again from the start, passing over those
 * of jobs in flight (process_entries): at start, after a reconnect, or to
 * take back the held jobs that did not keep their records. */
static void reread_pending(struct intake *in)
{
    in->reread = true;
    in->nspilled = 0; /* those still paused are counted again as they come */
    snprintf(in->pel_cursor, sizeof(in->pel_cursor), "0");
}

/* The drained set (flexctl carrier drain), read again and given to the
 * dispatcher.  Returns 0, or -1 when Redis failed. */
static int load_drained(struct intake *in)
{
    struct redisReply *r = read_set(in, FLEX_KEY_DRAINED);
    if (!r)
        return -1;
    char all[64 * 66]; /* carriers: at most 64 with a name of 1-64 bytes */
    size_t o = 0;
    for (size_t i = 0; i < flex_reply_count(r) && i < 64; i++) {
        size_t len;
        const char *s = flex_reply_str(flex_reply_at(r, i), &len);
        if (!s || len == 0 || len > 64)
            continue;
        memcpy(all + o, s, len);
        o += len;
        all[o++] = ',';
    }
    flex_store_free_reply(r);
    news(in, FLEX_NEWS_DRAINED, all, o ? o - 1 : 0, 0);
    return 0;
}

static void on_control(struct intake *in, struct redisReply *fields)
{
    size_t clen, alen;
    const char *cmd = entry_field(fields, "cmd", &clen);
    const char *arg = entry_field(fields, "arg", &alen);
    if (!cmd)
        return;
#define IS(word) (clen == sizeof(word) - 1 && memcmp(cmd, word, clen) == 0)
    if (!IS("reload") && !IS("pause") && !IS("resume") && !IS("drain") &&
        !IS("undrain")) { /* exactly, not a prefix */
        flex_log(FLEX_LOG_WARN, &lctx, 0, "unknown control command '%.*s' ignored",
                 (int)(clen < 32 ? clen : 32), cmd);
        return;
    }
    if (IS("reload")) {
        /* relaxed: a request flag polled by the main thread. */
        atomic_store_explicit(&in->p->reload_requested, true, memory_order_relaxed);
    } else if (IS("drain") || IS("undrain")) {
        if (load_drained(in) != 0) /* the set is the truth, as for pauses */
            in->reconnect = true;
        flex_log(FLEX_LOG_INFO, &lctx, 0, "carrier %.*s %sed", (int)alen, arg ? arg : "", cmd);
    } else if (arg) {             /* pause or resume */
        if (load_paused(in) != 0) /* the set is the truth; the stream only says when */
            in->reconnect = true; /* (connecting reads it again) */
        flex_log(FLEX_LOG_INFO, &lctx, 0, "location %.*s %sd", (int)alen, arg, cmd);
        if (IS("resume") && in->nspilled > 0) {
            flex_log(FLEX_LOG_INFO, &lctx, 0, "reading %zu held jobs again from the stream",
                     in->nspilled);
            reread_pending(in);
        }
    }
#undef IS
}

/* ---- jobs ------------------------------------------------------------- */

/* Takes back the records the writer is done with. */
static void reclaim(struct intake *in)
{
    void *items[256];
    size_t n;
    uint64_t one;
    while ((n = flex_ring_pop_batch(&in->p->free_recs, items, 256)) > 0)
        for (size_t i = 0; i < n; i++) {
            struct flex_rec *r = items[i];
            flex_idmap_take(in->flying, r->entry, &one); /* written (or handed back) */
            in->free_list[in->nfree++] = r;
        }
}

static struct flex_rec *rec_get(struct intake *in)
{
    reclaim(in);
    return in->nfree ? in->free_list[--in->nfree] : NULL;
}

static void rec_put(struct intake *in, struct flex_rec *r)
{
    in->free_list[in->nfree++] = r;
}

static void *pb_alloc(void *arena, size_t size)
{
    return flex_arena_alloc(arena, size);
}

static void pb_free(void *arena, void *p)
{
    (void)arena, (void)p; /* the arena is reset per job */
}

/* A record whose checks Redis failed: it goes back to the pool (its entry
 * stays pending, to be read again), or back to the held list when it was
 * being released, so that it is checked again on the next try. */
static void give_back(struct intake *in, struct flex_rec *r)
{
    if (in->releasing && in->nheld < HELD_MAX)
        in->held[in->nheld++] = r;
    else
        rec_put(in, r);
}

/* Gives back the records a check kept (|recs[0..kept)|) and those it had
 * not reached (|recs[i..n)|) when Redis failed in the middle. */
static void give_back_all(struct intake *in, struct flex_rec **recs, size_t kept, size_t i,
                          size_t n)
{
    for (size_t k = 0; k < kept; k++)
        give_back(in, recs[k]);
    for (size_t k = i; k < n; k++)
        give_back(in, recs[k]);
}

/* The text as the patient will read it. */
static int render(const struct flex_cfg *cfg, const Flex__V1__Job *job, struct flex_rec *rec,
                  char *why, size_t whysz)
{
    const struct flex_cfg_location *loc = flex_cfg_location_find(cfg, job->location);
    if (job->body && *job->body) {
        snprintf(rec->text, sizeof(rec->text), "%s", job->body);
        return 0;
    }
    const struct flex_cfg_template *t = flex_cfg_template_find(cfg, job->template_);
    struct flex_tmpl_vars v = {0};
    v.v[FLEX_TMPL_LOCATION_NAME] = loc->name;
    v.v[FLEX_TMPL_LOCATION_PHONE] = loc->phone;
    for (size_t i = 0; i < job->n_vars; i++) {
        int k = flex_tmpl_var_lookup(job->vars[i]->key, strlen(job->vars[i]->key));
        if (k >= 0 && k != FLEX_TMPL_LOCATION_NAME && k != FLEX_TMPL_LOCATION_PHONE)
            v.v[k] = job->vars[i]->value;
    }
    for (int k = 0; k < FLEX_TMPL_NVARS; k++)
        v.len[k] = v.v[k] ? strlen(v.v[k]) : 0;
    enum flex_tmpl_var missing;
    if (!t || flex_tmpl_render(t->tmpl, &v, rec->text, sizeof(rec->text), &missing) < 0) {
        snprintf(why, whysz, "cannot render template '%.60s'", job->template_);
        return -1;
    }
    return 0;
}

/* Puts |job| (already validated) into the scheduled queue, due at |at|,
 * with its clock fields filled in so that a promoted copy expires when
 * this one would have. */
static void schedule_job(struct intake *in, struct wbatch *w, const char *entry, Flex__V1__Job *job,
                         int64_t at, int64_t base, int64_t exp, const char *reason)
{
    job->enqueued_at_ms = base;
    job->expires_at_ms = exp;
    job->send_at_ms = at;
    size_t n = flex__v1__job__get_packed_size(job);
    uint8_t *buf = flex_malloc(n ? n : 1);
    flex__v1__job__pack(job, buf);
    flex_schedq_append_add(in->st, &in->sq, job->id, at, buf, n);
    flex_free(buf); /* hiredis copied it */
    w->scheduled++;
    job_status(in, w, entry, job->id, job->location, FLEX__V1__STATE__STATE_SCHEDULED, reason, at);
}

/* The job a step of an appointment or recall becomes; |ents| and |ptrs|
 * hold its vars (first_name, provider, date, time). */
static void step_job(const Flex__V1__Job *parent, const struct flex_timing_plan *plan,
                     const struct flex_timing_step *st, int64_t base, Flex__V1__Job *j,
                     Flex__V1__Job__VarsEntry *ents, Flex__V1__Job__VarsEntry **ptrs)
{
    flex__v1__job__init(j);
    j->type = FLEX__V1__JOB_TYPE__JOB_TYPE_MESSAGE;
    j->id = (char *)st->id;
    j->location = parent->location;
    j->patient = parent->patient;
    j->phone = parent->phone;
    j->template_ = (char *)st->kind;
    j->kind = (char *)st->kind;
    j->parent_id = parent->id;
    j->parent_version = plan->version;
    j->enqueued_at_ms = base;
    j->send_at_ms = st->send_at_ms;
    j->expires_at_ms = st->expires_at_ms;
    const char *k[] = {"first_name", "provider", "date", "time"};
    const char *v[] = {parent->first_name, parent->provider, st->date, st->time};
    for (int i = 0; i < 4; i++) {
        if (!v[i] || !*v[i])
            continue;
        flex__v1__job__vars_entry__init(&ents[j->n_vars]);
        ents[j->n_vars].key = (char *)k[i];
        ents[j->n_vars].value = (char *)v[i];
        ptrs[j->n_vars] = &ents[j->n_vars];
        j->n_vars++;
    }
    j->vars = ptrs;
}

/* An appointment or recall: its reminders replace whatever the same id
 * planned before (a reschedule), or are all removed (a cancellation). */
static void expand_entry(struct intake *in, struct wbatch *w, const char *entry, const char *raw,
                         size_t len, const Flex__V1__Job *job, int64_t now)
{
    struct flex_timing_plan plan;
    flex_timing_expand(in->cfg, job, now, &plan);
    bool appt = job->type == FLEX__V1__JOB_TYPE__JOB_TYPE_APPOINTMENT;
    bool cancelled = job->status == FLEX__V1__APPOINTMENT_STATUS__APPOINTMENT_STATUS_CANCELLED;
    int64_t base = job->enqueued_at_ms ? job->enqueued_at_ms : now;
    struct flex_schedq_member m[FLEX_TIMING_MAX_STEPS];
    uint8_t *bufs[FLEX_TIMING_MAX_STEPS] = {0};
    char why[160];
    for (unsigned i = 0; i < plan.nsteps; i++) {
        Flex__V1__Job j;
        Flex__V1__Job__VarsEntry ents[4], *ptrs[4];
        step_job(job, &plan, &plan.steps[i], base, &j, ents, ptrs);
        if (render(in->cfg, &j, in->scratch, why, sizeof(why)) != 0) {
            for (unsigned k = 0; k < i; k++)
                flex_free(bufs[k]);
            dead_letter(in, w, entry, raw, len, job->id, why);
            return;
        }
        m[i].len = flex__v1__job__get_packed_size(&j);
        bufs[i] = flex_malloc(m[i].len ? m[i].len : 1);
        flex__v1__job__pack(&j, bufs[i]);
        m[i].payload = bufs[i];
        m[i].id = plan.steps[i].id;
        m[i].at_ms = plan.steps[i].send_at_ms;
    }
    char pkey[160];
    snprintf(pkey, sizeof(pkey), "%s%s:%s", FLEX_KEY_PARENT, appt ? "appointment" : "recall",
             job->id);
    flex_schedq_append_replace(in->st, &in->sq, pkey, cancelled ? 0 : plan.version,
                               plan.keep_until_ms, m, plan.nsteps);
    for (unsigned i = 0; i < plan.nsteps; i++) {
        job_status(in, w, NULL, m[i].id, job->location, FLEX__V1__STATE__STATE_SCHEDULED,
                   plan.steps[i].kind, m[i].at_ms);
        flex_free(bufs[i]);
    }
    w->scheduled += plan.nsteps;
    snprintf(why, sizeof(why), "expanded:%u skipped:%u", plan.nsteps, plan.skipped);
    int64_t first = 0; /* the appointment's own send time: its first text's */
    for (unsigned i = 0; i < plan.nsteps; i++)
        if (!first || m[i].at_ms < first)
            first = m[i].at_ms;
    job_status(in, w, entry, job->id, job->location,
               cancelled ? FLEX__V1__STATE__STATE_SUPPRESSED : FLEX__V1__STATE__STATE_SCHEDULED,
               cancelled ? "cancelled" : why, cancelled ? 0 : first);
}

static void fill_rec(struct flex_rec *rec, const Flex__V1__Job *job, const char *entry,
                     int64_t base, int64_t exp)
{
    rec->kind = FLEX_REC_JOB;
    flex_strlcpy(rec->id, job->id, sizeof(rec->id));
    flex_strlcpy(rec->entry, entry, sizeof(rec->entry));
    flex_strlcpy(rec->location, job->location, sizeof(rec->location));
    flex_strlcpy(rec->patient, job->patient, sizeof(rec->patient));
    flex_strlcpy(rec->phone, job->phone, sizeof(rec->phone));
    flex_strlcpy(rec->template_name, job->template_ ? job->template_ : "",
                 sizeof(rec->template_name));
    flex_strlcpy(rec->job_kind, job->kind ? job->kind : "", sizeof(rec->job_kind));
    memset(rec->parent_key, 0, sizeof(rec->parent_key)); /* a reused record: nothing left over */
    rec->carrier_optout = false;
    rec->parent_version = job->parent_version;
    rec->nparts = 0;
    rec->part_ids[0][0] = '\0';
    rec->status = 0;
    rec->temporary = false;
    if (job->parent_id && *job->parent_id)
        snprintf(rec->parent_key, sizeof(rec->parent_key), "%s%s:%s", FLEX_KEY_PARENT,
                 strncmp(rec->job_kind, "recall", 6) == 0 ? "recall" : "appointment",
                 job->parent_id);
    rec->enqueued_ms = base;
    rec->expires_ms = exp;
    rec->route_pos = 0;
    rec->outcome = 0;
    rec->carrier[0] = '\0';
    rec->reason[0] = '\0';
    rec->back = 0;
    rec->auto_reply = job->reply_to && job->reply_to[0];
    /* optout_confirm is the one text a number that just opted out gets */
    rec->to_optout = rec->auto_reply && strcmp(rec->template_name, "optout_confirm") == 0;
}

/* A message job: now, later (send_at, quiet hours) or never (expired). */
static struct flex_rec *take_message(struct intake *in, struct wbatch *w, const char *entry,
                                     const char *raw, size_t len, Flex__V1__Job *job, int64_t now)
{
    int64_t base = job->enqueued_at_ms ? job->enqueued_at_ms : now;
    int64_t exp = job->expires_at_ms ? job->expires_at_ms
                                     : base + (int64_t)in->cfg->engine.message_validity_ms;
    const struct flex_cfg_location *loc = flex_cfg_location_find(in->cfg, job->location);
    int64_t quiet = 0;
    const char *late = NULL;
    if (now > exp) {
        late = "expired before it could be sent";
    } else if (job->send_at_ms > now + SEND_AT_SLACK_MS) {
        if (job->send_at_ms >= exp)
            late = "expires before its send time";
        else
            schedule_job(in, w, entry, job, job->send_at_ms, base, exp, "send_at");
    } else if (!(job->reply_to && job->reply_to[0]) &&
               (quiet = flex_timing_quiet_until(in->cfg, loc, now)) != 0) {
        if (quiet >= exp)
            late = "quiet hours last past its expiry";
        else
            schedule_job(in, w, entry, job, quiet, base, exp, "quiet_hours");
    } else {
        struct flex_rec *rec = rec_get(in); /* reads are sized to the free records */
        char why[128];
        if (rec && render(in->cfg, job, rec, why, sizeof(why)) != 0) {
            dead_letter(in, w, entry, raw, len, job->id, why);
            rec_put(in, rec);
            return NULL;
        }
        if (rec)
            fill_rec(rec, job, entry, base, exp);
        return rec;
    }
    if (late) {
        job_status(in, w, entry, job->id, job->location, FLEX__V1__STATE__STATE_EXPIRED, late, 0);
        w->expired++;
    }
    return NULL;
}

/* Checks one job entry; returns a record ready to go, or NULL when the
 * entry was dealt with here (dead-lettered, scheduled, expanded, expired). */
static struct flex_rec *take_entry(struct intake *in, struct wbatch *w, const char *entry,
                                   struct redisReply *fields)
{
    size_t len;
    const char *raw = entry_field(fields, "job", &len);
    if (!raw) {
        dead_letter(in, w, entry, "", 0, NULL, "stream entry without a job field");
        return NULL;
    }
    /* Decoded into an arena reset after each job: no malloc per job. */
    Flex__V1__Job *job = flex__v1__job__unpack(&in->pba, len, (const uint8_t *)raw);
    if (!job) {
        flex_arena_reset(&in->pbarena);
        dead_letter(in, w, entry, raw, len, NULL, "undecodable protobuf");
        return NULL;
    }
    struct flex_rec *rec = NULL;
    char phone[FLEX_E164_BUFSZ];
    char *orig_phone = job->phone; /* validate points it at |phone|: restore before free */
    struct flex_job_error err;
    int64_t now = flex_now_ms();
    if (flex_job_validate(in->cfg, job, phone, &err) != 0)
        dead_letter(in, w, entry, raw, len, job->id, err.reason);
    else if (job->type != FLEX__V1__JOB_TYPE__JOB_TYPE_MESSAGE)
        expand_entry(in, w, entry, raw, len, job, now);
    else
        rec = take_message(in, w, entry, raw, len, job, now);
    job->phone = orig_phone;
    flex_arena_reset(&in->pbarena); /* the job (its frees are no-ops) */
    return rec;
}

/* One id is sent at most once: SET seen:{id} = entry NX GET.  An absent key
 * or our own entry (a redelivery after a crash) goes on; another entry
 * with the same id is a duplicate enqueue. */
static void dedup_ask(struct intake *in, struct flex_rec **recs, size_t n)
{
    char ttl[16]; /* [retention] idempotency_days */
    int tl =
        snprintf(ttl, sizeof(ttl), "%lld", (long long)in->cfg->retention.idempotency_days * 86400);
    for (size_t i = 0; i < n; i++) {
        char key[sizeof(FLEX_KEY_SEEN) + sizeof(recs[0]->id)];
        size_t kl = sizeof(FLEX_KEY_SEEN) - 1;
        memcpy(key, FLEX_KEY_SEEN, kl);
        kl += flex_strlcpy(key + kl, recs[i]->id, sizeof(key) - kl);
        const char *argv[] = {"SET", key, recs[i]->entry, "NX", "GET", "EX", ttl};
        size_t lens[] = {3, kl, strlen(recs[i]->entry), 2, 3, 2, (size_t)tl};
        flex_store_append(in->st, 7, argv, lens);
    }
}

static int dedup_read(struct intake *in, struct flex_rec **recs, size_t n, bool *dup)
{
    for (size_t i = 0; i < n; i++) {
        struct redisReply *r;
        if (flex_store_reply(in->st, &r) != 0)
            return -1;
        if (flex_reply_is_error(r)) { /* refused (maxmemory...): send nothing unrecorded */
            flex_store_free_reply(r);
            return -1;
        }
        size_t len;
        const char *prev = flex_reply_str(r, &len);
        dup[i] = !flex_reply_is_nil(r) &&
                 !(prev && len == strlen(recs[i]->entry) && memcmp(prev, recs[i]->entry, len) == 0);
        flex_store_free_reply(r);
    }
    return 0;
}

/* The bloom filter over the batch, and an exact lookup for every "maybe". */
static void optout_ask(struct intake *in, struct flex_rec **recs, size_t n, bool *maybe)
{
    const void *keys[BATCH * 2] = {0}; /* (GCC 12 sees a read of unset ones) */
    size_t lens[BATCH * 2] = {0};
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        keys[i] = recs[i]->phone;
        lens[i] = strlen(recs[i]->phone);
    }
    flex_bloom_maybe_batch(in->bloom, keys, lens, n, maybe);
    for (size_t i = 0; i < n; i++)
        maybe[i] = maybe[i] && !recs[i]->to_optout;
    for (size_t i = 0; i < n; i++)
        if (maybe[i])
            flex_store_appendf(in->st, "SISMEMBER %s %s", FLEX_KEY_OPTOUT, recs[i]->phone);
}

static int optout_read(struct intake *in, size_t n, const bool *maybe, bool *out)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = false;
        if (!maybe[i])
            continue;
        struct redisReply *r;
        if (flex_store_reply(in->st, &r) != 0)
            return -1;
        /* An error reply counts as opted out: never text on doubt. */
        out[i] = flex_reply_is_error(r) || flex_reply_integer(r) == 1;
        flex_store_free_reply(r);
    }
    return 0;
}

static void suppress_optout(struct intake *in, struct wbatch *w, struct flex_rec *r)
{
    job_status(in, w, r->entry, r->id, r->location, FLEX__V1__STATE__STATE_SUPPRESSED, "optout", 0);
    w->suppressed++;
    rec_put(in, r);
}

/* What every job read from the stream passes, in one round trip: its id
 * not seen before, and not opted out.  Returns how many go on (in |recs|),
 * or -1 with every record given back when Redis failed. */
static size_t check_new(struct intake *in, struct wbatch *w, struct flex_rec **recs, size_t n)
{
    bool maybe[BATCH * 2], dup[BATCH * 2], out[BATCH * 2];
    dedup_ask(in, recs, n);
    optout_ask(in, recs, n, maybe);
    if (dedup_read(in, recs, n, dup) != 0 || optout_read(in, n, maybe, out) != 0) {
        give_back_all(in, recs, 0, 0, n);
        return (size_t)-1;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (dup[i]) {
            w->dups++;
            ack_later(w, recs[i]->entry);
            rec_put(in, recs[i]);
        } else if (out[i]) {
            suppress_optout(in, w, recs[i]);
        } else if (!flex_cfg_allowed(in->cfg, recs[i]->phone)) {
            /* engine.allow_only: a pilot's test numbers only */
            job_status(in, w, recs[i]->entry, recs[i]->id, recs[i]->location,
                       FLEX__V1__STATE__STATE_SUPPRESSED, "sandbox", 0);
            w->gated++;
            rec_put(in, recs[i]);
        } else {
            recs[kept++] = recs[i];
        }
    }
    return kept;
}

/* Expanded reminders and recalls pass the gate: their appointment is
 * still as it was (not rescheduled or cancelled since) and the patient's
 * frequency cap has room. */
static size_t gate(struct intake *in, struct wbatch *w, struct flex_rec **recs, size_t n)
{
    const struct flex_cfg *cfg = in->cfg;
    int64_t now = flex_now_ms();
    size_t asked = 0;
    bool any = false;
    for (size_t i = 0; i < n && !any; i++)
        any = recs[i]->job_kind[0] != '\0';
    /* the opt-out checks may have queued suppressions: their replies come first */
    if (any && settle_writes(in) != 0) {
        give_back_all(in, recs, 0, 0, n);
        return (size_t)-1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!recs[i]->job_kind[0])
            continue;
        int64_t day, week;
        flex_timing_cap_buckets(flex_cfg_location_find(cfg, recs[i]->location), now, &day, &week);
        flex_schedq_append_gate(in->st, &in->sq,
                                recs[i]->parent_key[0] ? recs[i]->parent_key : NULL,
                                recs[i]->parent_version, recs[i]->patient, day, week,
                                cfg->engine.cap_per_day, cfg->engine.cap_per_week, recs[i]->id);
        asked++;
    }
    if (asked == 0)
        return n;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (!recs[i]->job_kind[0]) {
            recs[kept++] = recs[i];
            continue;
        }
        struct redisReply *r;
        if (flex_store_reply(in->st, &r) != 0) {
            give_back_all(in, recs, kept, i, n);
            return (size_t)-1;
        }
        size_t len;
        const char *v = flex_reply_str(r, &len);
        char verdict[24];
        /* An error (a script missing after a failover) holds nothing back:
         * the version and the cap are courtesies, the opt-out is not. */
        snprintf(verdict, sizeof(verdict), "%.*s", (int)(flex_reply_is_error(r) || !v ? 2 : len),
                 flex_reply_is_error(r) || !v ? "ok" : v);
        flex_store_free_reply(r);
        if (strcmp(verdict, "ok") == 0) {
            recs[kept++] = recs[i];
            continue;
        }
        job_status(in, w, recs[i]->entry, recs[i]->id, recs[i]->location,
                   FLEX__V1__STATE__STATE_SUPPRESSED,
                   strcmp(verdict, "capped") == 0 ? "frequency_cap" : verdict, 0);
        w->gated++;
        rec_put(in, recs[i]);
    }
    return kept;
}

/* Opt-outs again, for jobs released after a hold: a STOP may have come. */
static size_t drop_optouts(struct intake *in, struct wbatch *w, struct flex_rec **recs, size_t n)
{
    bool maybe[BATCH * 2], out[BATCH * 2];
    if (n == 0)
        return 0;
    if (settle_writes(in) != 0) {
        give_back_all(in, recs, 0, 0, n);
        return (size_t)-1;
    }
    optout_ask(in, recs, n, maybe);
    if (optout_read(in, n, maybe, out) != 0) {
        give_back_all(in, recs, 0, 0, n);
        return (size_t)-1;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (out[i])
            suppress_optout(in, w, recs[i]);
        else
            recs[kept++] = recs[i];
    }
    return kept;
}

/* flex_jobs_held, and flex_location_held{location} for the held records in
 * memory (those beyond HELD_MAX wait in the stream, location unknown). */
static void publish_held(struct intake *in)
{
    /* relaxed: gauges for metrics; not used to order data. */
    atomic_store_explicit(&in->p->held, (uint64_t)(in->nheld + in->nspilled), memory_order_relaxed);
    struct flex_labels *t = &in->p->held_by;
    uint64_t per[FLEX_METRICS_LABELS] = {0};
    const char *last = NULL;
    unsigned slot = 0;
    for (size_t i = 0; i < in->nheld; i++) { /* runs of one location are the usual case */
        if (!last || strcmp(last, in->held[i]->location) != 0)
            slot = flex_labels_slot(t, last = in->held[i]->location);
        per[slot]++;
    }
    uint32_t n = atomic_load_explicit(&t->n, memory_order_relaxed); /* this thread writes it */
    for (uint32_t s = 0; s < n; s++)
        atomic_store_explicit(&t->v[s][0], per[s], memory_order_relaxed);
}

/* Jobs of paused locations are held here, unacknowledged (durable in the
 * stream's pending list); the others stay in |recs|.  Returns how many. */
static size_t hold_paused(struct intake *in, struct flex_rec **recs, size_t n)
{
    size_t go = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_paused(in, recs[i])) {
            recs[go++] = recs[i];
        } else if (in->nheld < HELD_MAX) {
            in->held[in->nheld++] = recs[i];
        } else { /* left pending, unacknowledged: read again on a resume */
            in->nspilled++;
            rec_put(in, recs[i]);
        }
    }
    if (in->nheld || in->nspilled || go < n)
        publish_held(in);
    return go;
}

/* The checks that must hold when a job leaves for the carrier, also after
 * it was held: not opted out (a STOP may have come meanwhile), its
 * appointment unchanged, the cap.  Then to the dispatcher. */
static int admit(struct intake *in, struct wbatch *w, struct flex_rec **recs, size_t n,
                 bool optouts_checked)
{
    if (!optouts_checked)
        n = drop_optouts(in, w, recs, n);
    if (n != (size_t)-1)
        n = gate(in, w, recs, n);
    if (n == (size_t)-1)
        return -1;
    int64_t now = flex_now_ms();
    for (size_t i = 0; i < n; i++) { /* before the push: it may come back at once */
        flex_idmap_put(in->flying, recs[i]->entry, 1, 0);
        recs[i]->checked_ms = now;
    }
    /* relaxed: a gauge for metrics and the drain; not used to order data. */
    atomic_fetch_add_explicit(&in->p->inflight, (int)n, memory_order_relaxed);
    flex_ring_push_all(&in->p->jobs, (void *const *)recs, n, &in->p->stop_all);
    return 0;
}

/* Jobs of locations no longer paused go on, checked again. */
static int release_held(struct intake *in, struct wbatch *w)
{
    size_t keep = 0, go = 0;
    struct flex_rec *out[BATCH];
    for (size_t i = 0; i < in->nheld; i++) {
        if (!is_paused(in, in->held[i]) && go < BATCH)
            out[go++] = in->held[i];
        else
            in->held[keep++] = in->held[i];
    }
    in->nheld = keep;
    if (go)
        publish_held(in);
    if (go == 0)
        return 0;
    in->releasing = true;
    int rc = admit(in, w, out, go, false);
    in->releasing = false;
    return rc;
}

/* A job whose location's quiet hours began while it waited in the
 * dispatcher: scheduled for their end like one read then, as its rendered
 * text (the vars are not in the record).  Its idempotency key is dropped,
 * so the copy promoted later is not taken for a duplicate enqueue. */
static int defer_quiet(struct intake *in, struct wbatch *w, struct flex_rec *r)
{
    const struct flex_cfg_location *loc = flex_cfg_location_find(in->cfg, r->location);
    int64_t q = loc ? flex_timing_quiet_until(in->cfg, loc, flex_now_ms()) : 0;
    if (q == 0) /* over meanwhile (the dispatcher looks once a second) */
        return admit(in, w, &r, 1, true);
    if (q >= r->expires_ms) {
        job_status(in, w, r->entry, r->id, r->location, FLEX__V1__STATE__STATE_EXPIRED,
                   "quiet hours last past its expiry", 0);
        w->expired++;
    } else {
        Flex__V1__Job j = FLEX__V1__JOB__INIT;
        char parent[sizeof(r->parent_key)];
        const char *colon =
            r->parent_key[0] ? strchr(r->parent_key + sizeof(FLEX_KEY_PARENT) - 1, ':') : NULL;
        flex_strlcpy(parent, colon ? colon + 1 : "", sizeof(parent));
        j.type = FLEX__V1__JOB_TYPE__JOB_TYPE_MESSAGE;
        j.id = r->id;
        j.location = r->location;
        j.patient = r->patient;
        j.phone = r->phone;
        j.body = r->text;
        j.kind = r->job_kind;
        j.parent_id = parent;
        j.parent_version = r->parent_version;
        flex_store_appendf(in->st, "DEL %s%s", FLEX_KEY_SEEN, r->id);
        schedule_job(in, w, r->entry, &j, q, r->enqueued_ms, r->expires_ms, "quiet_hours");
    }
    rec_put(in, r);
    return 0;
}

/* Jobs the dispatcher handed back: their location was paused while they
 * waited (held here like any job of a paused location) or its quiet hours
 * began (scheduled for their end). */
static int take_back(struct intake *in, struct wbatch *w)
{
    void *items[256];
    size_t n;
    uint64_t one;
    int rc = 0;
    while (rc == 0 && (n = flex_ring_pop_batch(&in->p->back, items, 256)) > 0) {
        /* relaxed: a gauge for metrics and the drain; not used to order data. */
        atomic_fetch_sub_explicit(&in->p->inflight, (int)n, memory_order_relaxed);
        for (size_t i = 0; i < n; i++) {
            struct flex_rec *r = items[i];
            flex_idmap_take(in->flying, r->entry, &one);
            if (rc != 0) /* Redis failed: pending, read again after the reconnect */
                rec_put(in, r);
            else if (r->back == FLEX_BACK_QUIET)
                rc = defer_quiet(in, w, r);
            else if (in->nheld < HELD_MAX)
                in->held[in->nheld++] = r;
            else { /* pending, read again on a resume */
                in->nspilled++;
                rec_put(in, r);
            }
        }
    }
    publish_held(in);
    return rc;
}

/* |from_pel|: the entries are our own pending ones read again; those of
 * jobs still in the dispatcher or the writer are left to them (checked
 * before any record comes back, so a job written meanwhile is not taken
 * for one never sent). */
static int process_entries(struct intake *in, struct wbatch *w, struct redisReply *entries,
                           bool from_pel, const char *prefix)
{
    struct flex_rec *recs[BATCH * 2];
    size_t n = 0, ne = flex_reply_count(entries);
    bool flying[BATCH * 2] = {false};
    char entry[BATCH * 2][48];
    if (ne > BATCH * 2)
        ne = BATCH * 2;
    for (size_t i = 0; i < ne; i++) {
        size_t len;
        const char *id = flex_reply_str(flex_reply_at(flex_reply_at(entries, i), 0), &len);
        if (len >= sizeof(entry[0]))
            len = sizeof(entry[0]) - 1;
        size_t pl = strlen(prefix); /* under 16: entry ids are under 32 */
        if (len + pl >= sizeof(entry[0]))
            len = sizeof(entry[0]) - 1 - pl;
        memcpy(entry[i], prefix, pl);
        memcpy(entry[i] + pl, id ? id : "", id ? len : 0);
        entry[i][pl + (id ? len : 0)] = '\0';
        flying[i] = from_pel && flex_idmap_has(in->flying, entry[i]);
    }
    count(&in->p->m.jobs_read, (long)ne);
    for (size_t i = 0; i < ne && n < BATCH * 2; i++) {
        struct redisReply *fields = flex_reply_at(flex_reply_at(entries, i), 1);
        if (!entry[i][0] || !fields || flying[i])
            continue; /* claimed entries already deleted from the stream; in flight */
        struct flex_rec *rec = take_entry(in, w, entry[i], fields);
        if (rec)
            recs[n++] = rec;
    }
    if (n == 0)
        return 0;
    if (settle_writes(in) != 0) {
        for (size_t i = 0; i < n; i++)
            rec_put(in, recs[i]);
        return -1;
    }
    n = check_new(in, w, recs, n);
    if (n == (size_t)-1)
        return -1;
    n = hold_paused(in, recs, n);
    return n ? admit(in, w, recs, n, true) : 0;
}

/* The urgent lane (FLEX_KEY_URGENT): every flexd reads every entry, in the
 * same round trip as its jobs, and the idempotency key lets one of them
 * send it (its value names the process: another one's is a duplicate).
 * Best effort by design: an entry a flexd took and then died with is not
 * sent by another (a confirmation, not a reminder). */
static int take_urgent(struct intake *in, struct wbatch *w, struct redisReply *urg)
{
    struct redisReply *stream = flex_reply_at(urg, 0);
    struct redisReply *entries = stream ? flex_reply_at(stream, 1) : NULL;
    size_t ne = flex_reply_count(entries), len;
    if (ne == 0)
        return 0;
    const char *last = flex_reply_str(flex_reply_at(flex_reply_at(entries, ne - 1), 0), &len);
    if (last && len < sizeof(in->urg_id))
        snprintf(in->urg_id, sizeof(in->urg_id), "%.*s", (int)len, last);
    return process_entries(in, w, entries, false, in->urg_prefix);
}

/* ---- the loop --------------------------------------------------------- */

static int connect_store(struct intake *in)
{
    char why[256];
    const struct flex_cfg *cfg = flex_cfg_acquire();
    flex_store_del(in->st);
    in->st = NULL;
    if (flex_store_connect(&in->st, &cfg->redis, 2000, why, sizeof(why)) != 0) {
        flex_log(FLEX_LOG_ERROR, &lctx, 0, "%s", why);
        return -1;
    }
    /* From the stream's start: entries enqueued before any flexd ran. */
    flex_store_appendf(in->st, "XGROUP CREATE %s %s 0 MKSTREAM", FLEX_KEY_JOBS, FLEX_KEY_GROUP);
    flex_store_drain(in->st, 1); /* BUSYGROUP when it exists: fine */
    if (!in->bloom)
        bloom_load(in);
    if (!in->optlog_id[0]) {
        last_id(in, FLEX_KEY_OPTOUT_LOG, in->optlog_id, sizeof(in->optlog_id));
        last_id(in, FLEX_KEY_CONTROL, in->ctl_id, sizeof(in->ctl_id));
        last_id(in, FLEX_KEY_CHANGES, in->chg_id, sizeof(in->chg_id));
        /* The urgent lane from 5 minutes back (an optout_confirm's life):
         * a reply written while this flexd was starting is not missed; one
         * another flexd sent is a duplicate to us (its key names it). */
        snprintf(in->urg_id, sizeof(in->urg_id), "%lld-0", (long long)(flex_now_ms() - 300000));
    }
    if (load_paused(in) != 0 || load_drained(in) != 0) {
        flex_store_del(in->st);
        in->st = NULL;
        return -1;
    }
    /* After a reconnect, and at start too: entries pending under our name
     * then are a previous run's (a stable engine.consumer, or a container
     * restarted with the same host name and pid), and nobody else claims
     * them: claim() leaves our own alone. */
    reread_pending(in);
    if (flex_schedq_load(in->st, &in->sq) != 0) {
        flex_log(FLEX_LOG_ERROR, &lctx, 0, "cannot load the scheduling scripts: %s",
                 flex_store_error(in->st));
        flex_store_del(in->st);
        in->st = NULL;
        return -1;
    }
    return 0;
}

/* Integer field |name| of a flat field/value reply (XINFO). */
static long long info_int(struct redisReply *r, const char *name)
{
    for (size_t k = 0; k + 1 < flex_reply_count(r); k += 2) {
        const char *f = flex_reply_str(flex_reply_at(r, k), NULL);
        if (f && strcmp(f, name) == 0)
            return flex_reply_integer(flex_reply_at(r, k + 1));
    }
    return -1;
}

/* Every second: the queue's depth for /metrics, and the stream trimmed of
 * the entries every flexd is done with (all below the oldest pending
 * entry, or below the last one handed out when none is pending), so that
 * flex:jobs does not grow forever. */
/* [retention]: the streams that hold PHI and that nobody trims as they are
 * read, cut to their age (MINID), by
 * every flexd every RETENTION_EVERY_MS (the same cut twice is a no-op).
 * Exact, not approximate: a small stream is one node, which "~" never
 * cuts; once a minute the exact cut costs what it removes. */
static int trim_streams(struct intake *in)
{
    const struct flex_cfg *cfg = in->cfg;
    int64_t now = flex_now_ms();
    struct {
        const char *key;
        uint32_t days;
    } cut[] = {{FLEX_KEY_INBOUND, cfg->retention.inbound_days},
               {FLEX_KEY_DEADLETTER, cfg->retention.deadletter_days},
               {FLEX_KEY_OPTOUT_LOG, cfg->retention.optout_log_days},
               {FLEX_KEY_CONFIRMATIONS, cfg->retention.staff_days},
               {FLEX_KEY_ESCALATIONS, cfg->retention.staff_days},
               {FLEX_KEY_FRONTDESK, cfg->retention.staff_days}};
    int n = 0;
    for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++, n++)
        flex_store_appendf(in->st, "XTRIM %s MINID %lld-0", cut[i].key,
                           (long long)(now - (int64_t)cut[i].days * 86400000LL));
    for (size_t i = 0; i < cfg->nlocations; i++, n++) /* each location's front desk */
        flex_store_appendf(in->st, "XTRIM %s:%s MINID %lld-0", FLEX_KEY_FRONTDESK,
                           cfg->locations[i].id,
                           (long long)(now - (int64_t)cfg->retention.staff_days * 86400000LL));
    return flex_store_drain(in->st, n) < 0 ? -1 : 0;
}

static int sample_queue(struct intake *in)
{
    if (settle_writes(in) != 0)
        return -1;
    flex_store_appendf(in->st, "XINFO GROUPS %s", FLEX_KEY_JOBS);
    flex_store_appendf(in->st, "XPENDING %s %s", FLEX_KEY_JOBS, FLEX_KEY_GROUP);
    flex_store_appendf(in->st, "ZCARD %s", FLEX_KEY_SCHED);
    struct redisReply *groups = NULL, *pend = NULL, *zc = NULL;
    if (flex_store_reply(in->st, &groups) != 0 || flex_store_reply(in->st, &pend) != 0 ||
        flex_store_reply(in->st, &zc) != 0) {
        flex_store_free_reply(groups);
        flex_store_free_reply(pend);
        return -1;
    }
    char minid[48] = "";
    for (size_t i = 0; i < flex_reply_count(groups); i++) {
        struct redisReply *g = flex_reply_at(groups, i);
        const char *name = NULL, *last = NULL;
        size_t lastlen = 0;
        for (size_t k = 0; k + 1 < flex_reply_count(g); k += 2) {
            const char *f = flex_reply_str(flex_reply_at(g, k), NULL);
            if (f && strcmp(f, "name") == 0)
                name = flex_reply_str(flex_reply_at(g, k + 1), NULL);
            else if (f && strcmp(f, "last-delivered-id") == 0)
                last = flex_reply_str(flex_reply_at(g, k + 1), &lastlen);
        }
        if (!name || strcmp(name, FLEX_KEY_GROUP) != 0)
            continue;
        /* relaxed: gauges for /metrics. */
        atomic_store_explicit(&in->p->queue_lag, info_int(g, "lag"), memory_order_relaxed);
        atomic_store_explicit(&in->p->queue_pending, info_int(g, "pending"), memory_order_relaxed);
        if (last)
            snprintf(minid, sizeof(minid), "%.*s", (int)lastlen, last);
    }
    size_t plen;
    const char *pmin = flex_reply_integer(flex_reply_at(pend, 0)) > 0
                           ? flex_reply_str(flex_reply_at(pend, 1), &plen)
                           : NULL;
    if (pmin)
        snprintf(minid, sizeof(minid), "%.*s", (int)plen, pmin);
    atomic_store_explicit(&in->p->queue_scheduled, flex_reply_integer(zc), memory_order_relaxed);
    flex_store_free_reply(groups);
    flex_store_free_reply(pend);
    flex_store_free_reply(zc);
    /* The oldest job not settled: the first pending one, else the first
     * unread (the entry after the group's last delivered one). */
    int64_t oldest = pmin ? strtoll(minid, NULL, 10) : 0;
    if (!pmin) {
        flex_store_appendf(in->st, "XRANGE %s (%s + COUNT 1", FLEX_KEY_JOBS,
                           minid[0] ? minid : "0-0");
        struct redisReply *first;
        if (flex_store_reply(in->st, &first) != 0)
            return -1;
        const char *id = flex_reply_str(flex_reply_at(flex_reply_at(first, 0), 0), NULL);
        oldest = id ? strtoll(id, NULL, 10) : 0;
        flex_store_free_reply(first);
    }
    /* relaxed: gauges for /metrics. */
    atomic_store_explicit(&in->p->queue_oldest_ms, oldest, memory_order_relaxed);
    atomic_store_explicit(&in->p->queue_sampled_ms, flex_now_ms(), memory_order_relaxed);
    if (minid[0] && strcmp(minid, "0-0") != 0) {
        flex_store_appendf(in->st, "XTRIM %s MINID ~ %s", FLEX_KEY_JOBS, minid);
        if (flex_store_drain(in->st, 1) < 0)
            return -1;
    }
    return 0;
}

/* Due jobs of the scheduled queue go onto the stream; a full batch means
 * a backlog (after an outage), so take more at once, up to a bound that
 * keeps Redis responsive. */
static int promote(struct intake *in)
{
    if (settle_writes(in) != 0)
        return -1;
    for (int i = 0; i < 10; i++) {
        long n = flex_schedq_promote(in->st, &in->sq, flex_now_ms(), PROMOTE_BATCH);
        if (n < 0)
            return -1;
        if (n < PROMOTE_BATCH)
            break;
    }
    return 0;
}

/* After a lost connection some entries of ours may be pending with no
 * record working on them (their checks failed midway, or their
 * acknowledgement was lost).  Once everything in flight is written, the
 * held records are let go and all our pending entries are read again from
 * the start; a job already sent is not pending (its XACK went with its
 * outcome), so only what was in doubt runs again.  Returns the id to read
 * from: ">" (new entries), a cursor, or NULL (wait). */
static const char *read_from(struct intake *in)
{
    if (!in->reread)
        return ">";
    for (size_t i = 0; i < in->nheld; i++)
        rec_put(in, in->held[i]);
    if (in->nheld) {
        in->nheld = 0;
        publish_held(in);
    }
    return in->pel_cursor;
}

static int one_round(struct intake *in, struct wbatch *w, bool stopping)
{
    reclaim(in); /* before sizing the read: records come back between rounds */
    int count = in->nfree > 16 && !stopping ? (int)(in->nfree - 16) : 0;
    if (count > BATCH)
        count = BATCH;
    const char *from = read_from(in);
    /* (a resume read below may start a reread: this read is what counts) */
    bool from_pel = count > 0 && in->reread;
    if (settle_writes(in) != 0) /* released jobs' suppressions came first */
        return -1;
    if (count > 0)
        flex_store_appendf(in->st, "XREADGROUP GROUP %s %s COUNT %d BLOCK 100 STREAMS %s %s",
                           FLEX_KEY_GROUP, in->p->consumer, count, FLEX_KEY_JOBS, from);
    flex_store_appendf(in->st, "XREAD COUNT 1000 STREAMS %s %s", FLEX_KEY_OPTOUT_LOG,
                       in->optlog_id);
    flex_store_appendf(in->st, "XREAD COUNT 100 STREAMS %s %s", FLEX_KEY_CONTROL, in->ctl_id);
    flex_store_appendf(in->st, "XREAD COUNT 1000 STREAMS %s %s", FLEX_KEY_CHANGES, in->chg_id);
    bool read_urg = !stopping && in->nfree > (size_t)count + 8;
    if (read_urg)
        flex_store_appendf(in->st, "XREAD COUNT 8 STREAMS %s %s", FLEX_KEY_URGENT, in->urg_id);
    struct redisReply *jobs = NULL, *opt = NULL, *ctl = NULL, *chg = NULL, *urg = NULL;
    if ((count > 0 && flex_store_reply(in->st, &jobs) != 0) ||
        flex_store_reply(in->st, &opt) != 0 || flex_store_reply(in->st, &ctl) != 0 ||
        flex_store_reply(in->st, &chg) != 0 || (read_urg && flex_store_reply(in->st, &urg) != 0) ||
        (jobs && flex_reply_is_error(jobs))) {
        flex_store_free_reply(urg);
        /* (an error reading jobs: e.g. the group is gone: try again anew) */
        flex_store_free_reply(jobs);
        flex_store_free_reply(opt);
        flex_store_free_reply(ctl);
        flex_store_free_reply(chg);
        return -1;
    }
    each_entry(opt, in->optlog_id, sizeof(in->optlog_id), on_optout, in);
    each_entry(ctl, in->ctl_id, sizeof(in->ctl_id), on_control, in);
    each_entry(chg, in->chg_id, sizeof(in->chg_id), on_change, in);
    if (in->reconnect) {
        in->reconnect = false;
        flex_store_free_reply(urg);
        flex_store_free_reply(jobs);
        flex_store_free_reply(opt);
        flex_store_free_reply(ctl);
        flex_store_free_reply(chg);
        return -1;
    }
    int rc = 0;
    struct redisReply *stream = jobs ? flex_reply_at(jobs, 0) : NULL;
    struct redisReply *entries = stream ? flex_reply_at(stream, 1) : NULL;
    if (from_pel) { /* reading our pending entries: next cursor */
        size_t ne = flex_reply_count(entries), len;
        const char *last =
            ne ? flex_reply_str(flex_reply_at(flex_reply_at(entries, ne - 1), 0), &len) : NULL;
        if (last)
            snprintf(in->pel_cursor, sizeof(in->pel_cursor), "%.*s", (int)len, last);
        else
            in->reread = false; /* all read again */
    }
    if (entries)
        rc = process_entries(in, w, entries, from_pel, "");
    if (rc == 0 && urg)
        rc = take_urgent(in, w, urg);
    flex_store_free_reply(jobs);
    flex_store_free_reply(opt);
    flex_store_free_reply(ctl);
    flex_store_free_reply(chg);
    flex_store_free_reply(urg);
    if (count == 0 && !stopping)
        usleep(1000); /* backpressure: every record is in flight */
    return rc;
}

/* Entries pending on another consumer for engine.claim_idle (a flexd that died,
 * or this host's flexd before a restart: consumer names carry the pid).
 * Our own pending entries are in our pipeline or held for a paused
 * location, so they are never claimed back. */
static int claim(struct intake *in, struct wbatch *w)
{
    long long idle = (long long)in->cfg->engine.claim_idle_ms;
    if (settle_writes(in) != 0) /* a suppression's writes came first */
        return -1;
    flex_store_appendf(in->st, "XPENDING %s %s IDLE %lld - + %d", FLEX_KEY_JOBS, FLEX_KEY_GROUP,
                       idle, BATCH);
    struct redisReply *r;
    if (flex_store_reply(in->st, &r) != 0)
        return -1;
    const char *argv[BATCH + 5];
    size_t lens[BATCH + 5];
    char ms[16];
    int n = 5;
    snprintf(ms, sizeof(ms), "%lld", idle);
    argv[0] = "XCLAIM", argv[1] = FLEX_KEY_JOBS, argv[2] = FLEX_KEY_GROUP;
    argv[3] = in->p->consumer, argv[4] = ms;
    for (size_t i = 0; i < flex_reply_count(r); i++) {
        struct redisReply *e = flex_reply_at(r, i);
        size_t idlen, clen;
        const char *id = flex_reply_str(flex_reply_at(e, 0), &idlen);
        const char *owner = flex_reply_str(flex_reply_at(e, 1), &clen);
        if (!id || !owner ||
            (clen == strlen(in->p->consumer) && memcmp(owner, in->p->consumer, clen) == 0))
            continue;
        argv[n] = id;
        lens[n++] = idlen;
    }
    int rc = 0;
    if (n > 5 && (size_t)(n - 5) <= in->nfree) {
        for (int i = 0; i < 5; i++)
            lens[i] = strlen(argv[i]);
        flex_store_append(in->st, n, argv, lens);
        struct redisReply *c;
        if (flex_store_reply(in->st, &c) != 0) {
            rc = -1;
        } else {
            flex_log(FLEX_LOG_INFO, &lctx, 0, "claimed %zu jobs of a stopped consumer",
                     flex_reply_count(c));
            if (!flex_reply_is_error(c))
                rc = process_entries(in, w, c, false, "");
            flex_store_free_reply(c);
        }
    }
    flex_store_free_reply(r);
    return rc;
}

/* Our pending entries whose jobs are still with us (waiting in the
 * dispatcher for a rate limit or a carrier, or held for a pause) are
 * claimed again by us every engine.claim_idle / 3, which resets their idle
 * time: without it another flexd takes a job that waited here longer than
 * engine.claim_idle for a dead consumer's and sends it a second time.  The
 * ids come from memory (the in-flight set and the held list), in chunks;
 * min-idle half of claim_idle, so an entry another flexd claimed meanwhile
 * (its idle time reset) is not taken back.  Entries not in memory (in
 * doubt after a reconnect, spilled holds) are left to age as before. */
struct touch {
    const char **argv;
    size_t *lens;
    size_t n;
};

#define TOUCH_CHUNK 1000

static void touch_add(void *arg, const char *entry, uint64_t cookie)
{
    struct touch *t = arg;
    (void)cookie;
    if (flex_entry_urgent(entry))
        return;            /* not in the group's pending list */
    t->argv[t->n] = entry; /* the id map's key: valid until the map changes */
    t->lens[t->n++] = strlen(entry);
}

static int touch_send(struct intake *in, struct touch *t, size_t from, size_t to, const char *ms)
{
    const char *argv[TOUCH_CHUNK + 6] = {"XCLAIM", FLEX_KEY_JOBS, FLEX_KEY_GROUP, in->p->consumer,
                                         ms};
    size_t lens[TOUCH_CHUNK + 6];
    size_t n = 5;
    for (int i = 0; i < 5; i++)
        lens[i] = strlen(argv[i]);
    for (size_t i = from; i < to; i++, n++)
        argv[n] = t->argv[i], lens[n] = t->lens[i];
    argv[n] = "JUSTID"; /* no delivery counted, no entries sent back */
    lens[n++] = 6;
    flex_store_append(in->st, (int)n, argv, lens);
    return flex_store_drain(in->st, 1) < 0 ? -1 : 0;
}

static int touch_own(struct intake *in)
{
    if (settle_writes(in) != 0)
        return -1;
    size_t max = flex_idmap_count(in->flying) + in->nheld;
    struct touch t = {flex_malloc((max + 1) * sizeof(char *)),
                      flex_malloc((max + 1) * sizeof(size_t)), 0};
    flex_idmap_each(in->flying, touch_add, &t);
    for (size_t i = 0; i < in->nheld; i++)
        touch_add(&t, in->held[i]->entry, 0);
    char ms[24];
    snprintf(ms, sizeof(ms), "%llu", (unsigned long long)in->cfg->engine.claim_idle_ms / 2);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < t.n; i += TOUCH_CHUNK)
        rc = touch_send(in, &t, i, i + TOUCH_CHUNK < t.n ? i + TOUCH_CHUNK : t.n, ms);
    flex_free(t.argv);
    flex_free(t.lens);
    return rc;
}

void *flex_intake_main(void *arg)
{
    struct intake in = {.p = arg};
    in.free_list = flex_malloc(FLEX_POOL_SIZE * sizeof(struct flex_rec *));
    in.held = flex_malloc(HELD_MAX * sizeof(struct flex_rec *));
    in.flying = flex_idmap_new(UINT64_MAX, 1);
    for (size_t i = 0; i < FLEX_POOL_SIZE; i++)
        in.free_list[in.nfree++] = &in.p->pool[i];
    flex_qsbr_register(&flex_cfg_qsbr, &in.qr);
    struct wbatch *w = flex_calloc(1, sizeof(*w));
    in.scratch = flex_calloc(1, sizeof(*in.scratch));
    in.sb = flex_statusbuf_new();
    in.pbarena._chunk_size = 16384;
    in.pba = (ProtobufCAllocator){pb_alloc, pb_free, &in.pbarena};
    /* FNV-1a of the consumer name and the pid: this run's urgent entries
     * (a restart under a stable name is another run: what it sent before
     * is a duplicate to it). */
    uint32_t tag = 2166136261u;
    for (const char *c = in.p->consumer; *c; c++)
        tag = (tag ^ (uint8_t)*c) * 16777619u;
    tag = (tag ^ (uint32_t)getpid()) * 16777619u;
    snprintf(in.urg_prefix, sizeof(in.urg_prefix), "%s%08x:", FLEX_URGENT_PREFIX, tag);
    unsigned backoff = 50, fails = 0; /* failed rounds in a row */
    /* relaxed: stop flags are polled; the rings carry the data.  After
     * SIGTERM (stop_intake) no job is read any more, but the news still is
     * until the drain ends (stop_all): the jobs still waiting in the
     * dispatcher must see an opt-out or a pause that comes meanwhile, and
     * jobs it hands back are held here. */
    while (!atomic_load_explicit(&in.p->stop_all, memory_order_relaxed)) {
        bool stopping = atomic_load_explicit(&in.p->stop_intake, memory_order_relaxed);
        flex_qsbr_quiescent(&flex_cfg_qsbr, &in.qr);
        in.cfg = flex_cfg_acquire();
        if (!in.st && connect_store(&in) != 0) {
            atomic_store_explicit(&in.p->redis_ok, false, memory_order_relaxed);
            count(&in.p->m.redis_errors, 1); /* every try counts */
            fails++;
            flex_qsbr_offline(&in.qr);
            usleep(backoff * 1000);
            flex_qsbr_online(&flex_cfg_qsbr, &in.qr);
            backoff = backoff < 2000 ? backoff * 2 : 2000;
            continue;
        }
        atomic_store_explicit(&in.p->redis_ok, true, memory_order_relaxed);
        int rc = take_back(&in, w);
        if (rc == 0 && !stopping)
            rc = release_held(&in, w);
        if (rc == 0)
            rc = one_round(&in, w, stopping);
        if (rc == 0 && stopping) {
            rc = flush_writes(&in, w);
            usleep(20000);
            if (rc == 0)
                continue;
        }
        if (rc == 0 && flex_now_ms() - in.last_claim_ms > CLAIM_EVERY_MS) {
            in.last_claim_ms = flex_now_ms();
            rc = claim(&in, w);
        }
        if (rc == 0 &&
            flex_now_ms() - in.last_touch_ms > (int64_t)in.cfg->engine.claim_idle_ms / 3) {
            in.last_touch_ms = flex_now_ms();
            rc = touch_own(&in);
        }
        if (rc == 0)
            rc = flush_writes(&in, w);
        if (rc == 0 && flex_now_ms() - in.last_promote_ms > PROMOTE_EVERY_MS) {
            in.last_promote_ms = flex_now_ms();
            rc = promote(&in);
        }
        if (rc == 0 && flex_now_ms() - in.last_sample_ms > 1000) {
            in.last_sample_ms = flex_now_ms();
            rc = sample_queue(&in);
        }
        if (rc == 0 && flex_now_ms() - in.last_trim_ms > RETENTION_EVERY_MS) {
            in.last_trim_ms = flex_now_ms();
            rc = trim_streams(&in);
        }
        if (rc != 0) {
            /* A lost connection or a refusal (maxmemory, a read-only
             * replica): anew after a pause doubling up to 2 s, so that a
             * refusal that lasts is not a busy loop. */
            fails++;
            if (fails <= 3 || fails % 30 == 0)
                flex_log(FLEX_LOG_WARN, &lctx, 0,
                         "redis connection lost: %s (%u in a row); reconnecting in %u ms",
                         flex_store_error(in.st), fails, backoff);
            count(&in.p->m.redis_errors, 1);
            wbatch_reset(w);
            flex_statusbuf_clear(in.sb); /* their entries are read again */
            flex_store_del(in.st);
            in.st = NULL;
            flex_qsbr_offline(&in.qr);
            usleep(backoff * 1000);
            flex_qsbr_online(&flex_cfg_qsbr, &in.qr);
            backoff = backoff < 2000 ? backoff * 2 : 2000;
        } else if (fails) {
            flex_log(FLEX_LOG_INFO, &lctx, 0, "redis back (%u failed tries before)", fails);
            fails = 0;
            backoff = 50;
        }
    }
    flex_qsbr_unregister(&flex_cfg_qsbr, &in.qr);
    flex_store_del(in.st);
    flex_bloom_del(in.bloom);
    flex_free(w);
    flex_free(in.scratch);
    flex_statusbuf_del(in.sb);
    flex_arena_free(&in.pbarena);
    flex_free(in.held);
    flex_idmap_free(in.flying);
    flex_free(in.free_list);
    return NULL;
}
