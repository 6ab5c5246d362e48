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
#include "intake_int.h"

/* Entries of each news stream read per round (a round with a full read has
 * more to read: its news is not yet current) */
#define OPT_READ 1000
#define CTL_READ 100
#define CHG_READ 1000

/* The records taken so far: their checks, then the dispatcher. */
static int admit_taken(struct intake *in, struct wbatch *w, struct flex_rec **recs, size_t n)
{
    if (n == 0)
        return 0;
    if (in_settle_writes(in) != 0) {
        for (size_t i = 0; i < n; i++)
            in_rec_put(in, recs[i]);
        return -1;
    }
    if (in_check_new(in, w, recs, &n) != 0)
        return -1;
    n = in_hold_paused(in, recs, n);
    return n ? in_admit(in, w, recs, n, IN_FROM_STREAM) : 0;
}

/* The JobBatch of an entry's fields (its "jobs", when it has no "job"), or
 * NULL: an entry of one job. */
static const char *entry_batch(struct redisReply *fields, size_t *len)
{
    const char *batch = fields ? in_entry_field(fields, "jobs", len) : NULL;
    return batch && !in_entry_field(fields, "job", NULL) ? batch : NULL;
}

/* The flex:jb marks (idem.h) of the JobBatch entries of |entries| taken
 * again (read from a pending list: after a crash, a claim, a lost
 * connection) that have no tracker here: their trackers begin from them,
 * so the jobs settled before are not taken again.  Returns 0, or -1 when
 * Redis failed. */
static int batch_marks(struct intake *in, struct redisReply *entries)
{
    struct ask {
        char entry[48];
        unsigned n;
    };
    size_t ne = flex_reply_count(entries), asked = 0;
    if (in_settle_writes(in) != 0) /* their replies first */
        return -1;
    struct ask *ask = flex_malloc((ne ? ne : 1) * sizeof(*ask));
    for (size_t i = 0; i < ne; i++) {
        struct redisReply *e = flex_reply_at(entries, i);
        size_t len, blen;
        const char *id = flex_reply_str(flex_reply_at(e, 0), &len);
        const char *batch = entry_batch(flex_reply_at(e, 1), &blen);
        char key[FLEX_JOBBATCH_KEY_MAX];
        uint64_t cookie;
        if (!id || !batch || len == 0 || len >= sizeof(ask->entry) - 4)
            continue;
        memcpy(ask[asked].entry, id, len);
        ask[asked].entry[len] = '\0';
        long n = flex_jobbatch_split((const uint8_t *)batch, blen, NULL, 0);
        if (flex_idmap_get(in->batches, ask[asked].entry, &cookie) || n <= 0 ||
            n > FLEX_JOBBATCH_MAX || flex_jobbatch_key(ask[asked].entry, key) == 0)
            continue; /* known here, or dead-lettered as it is read */
        flex_store_appendf(in->st, "GET %s", key);
        ask[asked++].n = (unsigned)n;
    }
    int rc = 0;
    for (size_t i = 0; i < asked && rc == 0; i++) {
        struct redisReply *r;
        if (flex_store_reply(in->st, &r) != 0) {
            rc = -1;
            break;
        }
        size_t bl = 0;
        const char *bits = flex_reply_str(r, &bl);
        if (flex_reply_is_error(r)) /* never take a job again on doubt: the round fails */
            rc = -1;
        else
            in_batch_track(in, ask[i].entry, ask[i].n, bits, bits ? bl : 0);
        flex_store_free_reply(r);
    }
    flex_free(ask);
    return rc;
}

/* |from_pel|: the entries are our own pending ones read again; those of
 * jobs still in the dispatcher or the writer are left to them (checked
 * before any record comes back, so a job written meanwhile is not taken
 * for one never sent).  |retake|: read from a pending list (ours again, or
 * a stopped consumer's), so a JobBatch entry may have jobs settled. */
static int process_entries(struct intake *in, struct wbatch *w, struct redisReply *entries,
                           bool from_pel, bool retake, const char *prefix)
{
    struct flex_rec *recs[BATCH * 2];
    size_t n = 0, ne = flex_reply_count(entries);
    char entry[48];
    if (retake && !prefix[0] && batch_marks(in, entries) != 0)
        return -1;
    struct flex_idmap *out = from_pel && in->nflying ? in_flying_entries(in) : NULL;
    unsigned most = 1; /* jobs in one entry */
    int rc = 0;
    flex_metric_add(&in->p->m.jobs_read, (long)ne);
    for (size_t i = 0; i < ne && rc == 0; i++) {
        size_t len;
        struct redisReply *e = flex_reply_at(entries, i);
        const char *id = flex_reply_str(flex_reply_at(e, 0), &len);
        struct redisReply *fields = flex_reply_at(e, 1);
        size_t pl = strlen(prefix); /* under 16: entry ids are under 32 */
        if (!id || !fields || len == 0 || len + pl >= sizeof(entry) - 4)
            continue; /* claimed entries already deleted from the stream */
        memcpy(entry, prefix, pl);
        memcpy(entry + pl, id, len);
        entry[pl + len] = '\0';
        size_t blen;
        const char *batch = prefix[0] ? NULL : entry_batch(fields, &blen);
        if (batch) {
            if (n + FLEX_JOBBATCH_MAX > BATCH * 2) { /* room for a whole batch */
                rc = admit_taken(in, w, recs, n);
                n = 0;
            }
            unsigned jobs = 1;
            if (rc == 0)
                n += in_take_batch(in, w, entry, batch, blen, out, recs + n, BATCH * 2 - n, &jobs);
            if (jobs > most)
                most = jobs;
            continue;
        }
        if (out && flex_idmap_has(out, entry))
            continue; /* in flight */
        if (n == BATCH * 2) {
            rc = admit_taken(in, w, recs, n);
            n = 0;
        }
        in_reclaim(in);
        if (rc == 0 && in->nfree == 0 && !prefix[0]) { /* an earlier batch took them all */
            in->read_short = true;                     /* pending: read again */
            continue;
        }
        struct flex_rec *rec = rc == 0 ? in_take_entry(in, w, entry, fields) : NULL;
        if (rec)
            recs[n++] = rec;
    }
    flex_idmap_free(out);
    /* the next read's size: as many entries as this one's biggest would
     * fill, forgetting bigger ones by halves */
    if (ne > 0 && !prefix[0])
        in->entry_jobs = most > in->entry_jobs / 2 ? most : in->entry_jobs / 2;
    if (rc != 0) {
        for (size_t i = 0; i < n; i++)
            in_rec_put(in, recs[i]);
        return rc;
    }
    return admit_taken(in, w, recs, n);
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
    return process_entries(in, w, entries, false, false, in->urg_prefix);
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
    struct redisReply *grp;
    if (flex_store_reply(in->st, &grp) != 0) {
        flex_store_del(in->st);
        in->st = NULL;
        return -1;
    }
    /* BUSYGROUP when it exists: fine, and then an older flexd may have run */
    const char *gerr = flex_reply_is_error(grp) ? flex_reply_str(grp, NULL) : NULL;
    bool existed = gerr && strncmp(gerr, "BUSYGROUP", 9) == 0;
    flex_store_free_reply(grp);
    if (flex_idem_legacy(in->st, existed, cfg->retention.idempotency_days, flex_now_ms(),
                         &in->idem_legacy_ms) != 0 ||
        flex_idem_shape(in->st) != 0 ||
        flex_store_script_load(in->st, flex_idem_sweep_lua, in->idem_sweep_sha) != 0) {
        flex_log(FLEX_LOG_ERROR, &lctx, 0, "cannot set up the idempotency records: %s",
                 flex_store_error(in->st));
        flex_store_del(in->st);
        in->st = NULL;
        return -1;
    }
    if (!in->bloom && in_bloom_load(in) != 0) { /* (takes the opt-out log's position) */
        flex_store_del(in->st);
        in->st = NULL;
        return -1;
    }
    if (!in->ctl_id[0]) {
        in_last_id(in, FLEX_KEY_CONTROL, in->ctl_id, sizeof(in->ctl_id));
        in_last_id(in, FLEX_KEY_CHANGES, in->chg_id, sizeof(in->chg_id));
        /* The urgent lane from 5 minutes back (an optout_confirm's life):
         * a reply written while this flexd was starting is not missed; one
         * another flexd sent is a duplicate to us (its key names it). */
        snprintf(in->urg_id, sizeof(in->urg_id), "%lld-0", (long long)(flex_now_ms() - 300000));
    }
    if (in_load_paused(in) != 0 || in_load_drained(in) != 0) {
        flex_store_del(in->st);
        in->st = NULL;
        return -1;
    }
    /* After a reconnect, and at start too: entries pending under our name
     * then are a previous run's (a stable engine.consumer, or a container
     * restarted with the same host name and pid), and nobody else claims
     * them: claim() leaves our own alone. */
    in_reread_pending(in);
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
#define URGENT_KEEP_MS (2 * 3600 * 1000LL) /* flex:jobs:urgent: twice a reply's longest life */
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
    /* The automatic replies (a phone, a patient id): read for 5 minutes
     * (an optout_confirm's life), valid an hour at most. */
    flex_store_appendf(in->st, "XTRIM %s MINID %lld-0", FLEX_KEY_URGENT,
                       (long long)(now - URGENT_KEEP_MS));
    n++;
    for (size_t i = 0; i < cfg->nlocations; i++, n++) /* each location's front desk */
        flex_store_appendf(in->st, "XTRIM %s:%s MINID %lld-0", FLEX_KEY_FRONTDESK,
                           cfg->locations[i].id,
                           (long long)(now - (int64_t)cfg->retention.staff_days * 86400000LL));
    return flex_store_drain(in->st, n) < 0 ? -1 : 0;
}

/* One step of the idempotency sweep (idem.h): the records older than
 * [retention] idempotency_days go.  A step visits at most 250 records
 * (Redis spends about a microsecond on each: 2,000 a step held it for 2 ms,
 * a visible stall at 20,000 msg/s) and 64 buckets; four steps a second
 * visit 86 million records a day, far more than any DSO makes.  A step
 * that removed most of what it visited is followed by another at once (a
 * backlog, after a long stop), up to 8 in a row. */
static int sweep_idem(struct intake *in)
{
    long long cut =
        (long long)flex_now_ms() - (long long)in->cfg->retention.idempotency_days * 86400000LL;
    for (int step = 0; step < 8; step++) {
        char cs[24];
        int cl = snprintf(cs, sizeof(cs), "%lld", cut);
        const char *argv[] = {"EVALSHA", in->idem_sweep_sha, "1", FLEX_KEY_IDEM_SWEEP, cs, "250",
                              "64"};
        size_t lens[] = {7, 40, 1, sizeof(FLEX_KEY_IDEM_SWEEP) - 1, (size_t)cl, 3, 2};
        flex_store_append(in->st, 7, argv, lens);
        struct redisReply *r;
        if (flex_store_reply(in->st, &r) != 0)
            return -1;
        if (flex_reply_is_error(r)) {
            bool transient = flex_reply_is_transient(r);
            flex_log(FLEX_LOG_WARN, &lctx, 0, "idempotency sweep refused: %s",
                     flex_reply_str(r, NULL));
            flex_store_free_reply(r);
            return transient ? -1 : 0;
        }
        long long seen = flex_reply_integer(flex_reply_at(r, 0));
        long long gone = flex_reply_integer(flex_reply_at(r, 1));
        flex_store_free_reply(r);
        if (gone < 100 || gone * 2 < seen)
            break;
    }
    return 0;
}

static int sample_queue(struct intake *in)
{
    if (in_settle_writes(in) != 0)
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
     * unread (the entry after the group's last delivered one), else none:
     * every entry up to the last delivered one is settled. */
    int64_t oldest = pmin ? strtoll(minid, NULL, 10) : 0;
    if (!pmin && minid[0]) {
        flex_store_appendf(in->st, "XRANGE %s (%s + COUNT 1", FLEX_KEY_JOBS, minid);
        struct redisReply *first;
        if (flex_store_reply(in->st, &first) != 0)
            return -1;
        size_t idlen;
        const char *id = flex_reply_str(flex_reply_at(flex_reply_at(first, 0), 0), &idlen);
        oldest = id ? strtoll(id, NULL, 10) : 0;
        unsigned long long ms, seq;
        if (id && idlen < sizeof(minid))
            snprintf(minid, sizeof(minid), "%.*s", (int)idlen, id);
        else if (sscanf(minid, "%llu-%llu", &ms, &seq) == 2) /* past the last delivered */
            snprintf(minid, sizeof(minid), "%llu-%llu", ms, seq + 1);
        flex_store_free_reply(first);
    }
    /* relaxed: gauges for /metrics. */
    atomic_store_explicit(&in->p->queue_oldest_ms, oldest, memory_order_relaxed);
    atomic_store_explicit(&in->p->queue_sampled_ms, flex_now_ms(), memory_order_relaxed);
    /* Exact, not "~": a settled job's entry holds a phone number and a
     * text (PHI), and "~" never cuts a stream smaller than one node (100
     * entries): a quiet practice's would stay for good.  Once a second the
     * exact cut costs one node's rewrite more than "~". */
    if (minid[0] && strcmp(minid, "0-0") != 0) {
        flex_store_appendf(in->st, "XTRIM %s MINID %s", FLEX_KEY_JOBS, minid);
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
    if (in_settle_writes(in) != 0)
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
        in_rec_put(in, in->held[i]);
    if (in->nheld) {
        in->nheld = 0;
        in_publish_held(in);
    }
    return in->pel_cursor;
}

/* The reads of the news streams asked for (from where each was left). */
static void news_reads(struct intake *in, bool opt, bool ctl, bool chg)
{
    if (opt)
        flex_store_appendf(in->st, "XREAD COUNT %d STREAMS %s %s", OPT_READ, FLEX_KEY_OPTOUT_LOG,
                           in->optlog_id);
    if (ctl)
        flex_store_appendf(in->st, "XREAD COUNT %d STREAMS %s %s", CTL_READ, FLEX_KEY_CONTROL,
                           in->ctl_id);
    if (chg)
        flex_store_appendf(in->st, "XREAD COUNT %d STREAMS %s %s", CHG_READ, FLEX_KEY_CHANGES,
                           in->chg_id);
}

/* One news stream read again from |last| when |*full|: its entries
 * applied, |*full| whether it came back full again.  Returns -1 when the
 * reply failed or was an error. */
static int news_again(struct intake *in, bool *full, int count, char *last, size_t lastsz,
                      void (*fn)(struct intake *, struct redisReply *))
{
    if (!*full)
        return 0;
    struct redisReply *r;
    if (flex_store_reply(in->st, &r) != 0)
        return -1;
    int rc = flex_reply_is_error(r) ? -1 : 0;
    if (rc == 0)
        *full = in_each_entry(r, last, lastsz, fn, in) >= (size_t)count;
    flex_store_free_reply(r);
    return rc;
}

/* The news streams a round's read left more of (it came back full) read
 * again at once, NEWS_CATCH_UP times at most, so that a burst (a mass
 * opt-out import, thousands of confirmations a second) does not leave the
 * dispatcher on news older than a second.  True when every stream was
 * read to its end. */
#define NEWS_CATCH_UP 20
static bool catch_up_news(struct intake *in, bool opt_full, bool ctl_full, bool chg_full)
{
    for (int k = 0; k < NEWS_CATCH_UP && (opt_full || ctl_full || chg_full); k++) {
        news_reads(in, opt_full, ctl_full, chg_full);
        /* every reply read, whatever the first said (the pipeline stays in step) */
        int rc =
            news_again(in, &opt_full, OPT_READ, in->optlog_id, sizeof(in->optlog_id), in_on_optout);
        rc |= news_again(in, &ctl_full, CTL_READ, in->ctl_id, sizeof(in->ctl_id), in_on_control);
        rc |= news_again(in, &chg_full, CHG_READ, in->chg_id, sizeof(in->chg_id), in_on_change);
        if (rc != 0)
            return false;
    }
    return !opt_full && !ctl_full && !chg_full;
}

static int one_round(struct intake *in, struct wbatch *w, bool stopping)
{
    in_reclaim(in); /* before sizing the read: records come back between rounds */
    int count = in->nfree > 16 && !stopping ? (int)(in->nfree - 16) : 0;
    /* as many entries as the last read's biggest could fill (JobBatch
     * entries hold several jobs; a job finding no record is read again) */
    count /= in->entry_jobs ? (int)in->entry_jobs : 1;
    if (count > BATCH)
        count = BATCH;
    if (in->read_short) { /* jobs left pending for want of records */
        in->read_short = false;
        in_reread_pending(in);
    }
    const char *from = read_from(in);
    uint64_t round_ns = flex_mono_ns(); /* what the news below is at least as new as */
    /* (a resume read below may start a reread: this read is what counts) */
    bool from_pel = count > 0 && in->reread;
    if (in_settle_writes(in) != 0) /* released jobs' suppressions came first */
        return -1;
    if (count > 0)
        flex_store_appendf(in->st, "XREADGROUP GROUP %s %s COUNT %d BLOCK 100 STREAMS %s %s",
                           FLEX_KEY_GROUP, in->p->consumer, count, FLEX_KEY_JOBS, from);
    news_reads(in, true, true, true);
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
    /* The read may have waited (BLOCK 100) across a reload: what it read is
     * checked against the snapshot in force now, so that a job enqueued
     * after a reload (a dead letter replayed once its location was added)
     * never meets the old one.  Both stay valid until our next quiescent
     * point (engine/core/config.h). */
    in->cfg = flex_cfg_acquire();
    if (in->cfg->generation != in->cfg_gen) {
        /* a location's [location] paused lifted by a reload: its jobs held
         * in the stream come back as a resume command brings them */
        if (in->cfg_gen && in->nspilled > 0) {
            flex_log(FLEX_LOG_INFO, &lctx, 0,
                     "configuration reloaded: reading %zu held jobs again from the stream",
                     in->nspilled);
            in_reread_pending(in);
        }
        in->cfg_gen = in->cfg->generation;
    }
    size_t nopt = in_each_entry(opt, in->optlog_id, sizeof(in->optlog_id), in_on_optout, in);
    size_t nctl = in_each_entry(ctl, in->ctl_id, sizeof(in->ctl_id), in_on_control, in);
    size_t nchg = in_each_entry(chg, in->chg_id, sizeof(in->chg_id), in_on_change, in);
    /* Every opt-out, pause and change written before the round was sent is
     * now with the dispatcher, unless a read was refused or came back full
     * and catching up did not reach the end: then the stamp stays, and
     * after a second the dispatcher stops sending.  release: after the news
     * pushed above (pipeline.h, news_ns). */
    if (!flex_reply_is_error(opt) && !flex_reply_is_error(ctl) && !flex_reply_is_error(chg) &&
        catch_up_news(in, nopt >= OPT_READ, nctl >= CTL_READ, nchg >= CHG_READ))
        atomic_store_explicit(&in->p->news_ns, round_ns, memory_order_release);
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
    /* the urgent first: its read was sized to the records free before this
     * round's jobs, which a JobBatch may take whole */
    if (urg)
        rc = take_urgent(in, w, urg);
    if (rc == 0 && entries)
        rc = process_entries(in, w, entries, from_pel, from_pel, "");
    flex_store_free_reply(jobs);
    flex_store_free_reply(opt);
    flex_store_free_reply(ctl);
    flex_store_free_reply(chg);
    flex_store_free_reply(urg);
    if (count == 0 && !stopping)
        usleep(1000); /* backpressure: every record is in flight */
    return rc;
}

/* "XCLAIM jobs group us MIN-IDLE" in the intake's command, ids to follow;
 * |min_idle| (ms, as text) borrowed until the command is appended. */
static struct flex_cmd *xclaim_start(struct intake *in, const char *min_idle)
{
    struct flex_cmd *cmd = &in->cmd;
    flex_cmd_reset(cmd);
    flex_cmd_str(cmd, "XCLAIM");
    flex_cmd_str(cmd, FLEX_KEY_JOBS);
    flex_cmd_str(cmd, FLEX_KEY_GROUP);
    flex_cmd_str(cmd, in->p->consumer);
    flex_cmd_str(cmd, min_idle);
    return cmd;
}

/* Entries pending on another consumer for engine.claim_idle (a flexd that died,
 * or this host's flexd before a restart: consumer names carry the pid).
 * Our own pending entries are in our pipeline or held for a paused
 * location, so they are never claimed back. */
static int claim(struct intake *in, struct wbatch *w)
{
    long long idle = (long long)in->cfg->engine.claim_idle_ms;
    if (in_settle_writes(in) != 0) /* a suppression's writes came first */
        return -1;
    flex_store_appendf(in->st, "XPENDING %s %s IDLE %lld - + %d", FLEX_KEY_JOBS, FLEX_KEY_GROUP,
                       idle, BATCH);
    struct redisReply *r;
    if (flex_store_reply(in->st, &r) != 0)
        return -1;
    char ms[24];
    snprintf(ms, sizeof(ms), "%lld", idle);
    struct flex_cmd *cmd = xclaim_start(in, ms);
    size_t n = 0; /* entries to claim */
    for (size_t i = 0; i < flex_reply_count(r) && n < in->nfree; i++) {
        struct redisReply *e = flex_reply_at(r, i);
        size_t idlen, clen;
        const char *id = flex_reply_str(flex_reply_at(e, 0), &idlen);
        const char *owner = flex_reply_str(flex_reply_at(e, 1), &clen);
        if (!id || !owner ||
            (clen == strlen(in->p->consumer) && memcmp(owner, in->p->consumer, clen) == 0))
            continue;
        flex_cmd_arg(cmd, id, idlen); /* the reply outlives the command */
        n++;
    }
    int rc = 0;
    if (n > 0 && flex_cmd_append(in->st, cmd) == 0) {
        struct redisReply *c;
        if (flex_store_reply(in->st, &c) != 0) {
            rc = -1;
        } else {
            flex_log(FLEX_LOG_INFO, &lctx, 0, "claimed %zu jobs of a stopped consumer",
                     flex_reply_count(c));
            if (!flex_reply_is_error(c))
                rc = process_entries(in, w, c, false, true, "");
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
        return;                                /* not in the group's pending list */
    const char *sep = flex_entry_batch(entry); /* a batch job's: its entry's id */
    size_t len = sep ? (size_t)(sep - entry) : strlen(entry);
    if (t->n > 0 && t->lens[t->n - 1] == len && memcmp(t->argv[t->n - 1], entry, len) == 0)
        return;            /* the same entry's job again */
    t->argv[t->n] = entry; /* a record's or a held one's: valid for the round */
    t->lens[t->n++] = len;
}

static int touch_send(struct intake *in, struct touch *t, size_t from, size_t to, const char *ms)
{
    struct flex_cmd *cmd = xclaim_start(in, ms);
    for (size_t i = from; i < to; i++)
        flex_cmd_arg(cmd, t->argv[i], t->lens[i]);
    flex_cmd_str(cmd, "JUSTID"); /* no delivery counted, no entries sent back */
    if (flex_cmd_append(in->st, cmd) != 0)
        return -1;
    return flex_store_drain(in->st, 1) < 0 ? -1 : 0;
}

static int touch_own(struct intake *in)
{
    if (in_settle_writes(in) != 0)
        return -1;
    size_t max = in->nflying + in->nheld;
    struct touch t = {flex_malloc((max + 1) * sizeof(char *)),
                      flex_malloc((max + 1) * sizeof(size_t)), 0};
    for (size_t i = 0; i < FLEX_POOL_SIZE; i++)
        if (in->flying[i])
            touch_add(&t, in->p->pool[i].entry, 0);
    for (size_t i = 0; i < in->nheld; i++)
        touch_add(&t, in->held[i]->entry, 0);
    char ms[24];
    snprintf(ms, sizeof(ms), "%llu", (unsigned long long)in->cfg->engine.claim_idle_ms / 2);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < t.n; i += TOUCH_CHUNK)
        rc = touch_send(in, &t, i, i + TOUCH_CHUNK < t.n ? i + TOUCH_CHUNK : t.n, ms);
    flex_free(t.argv);
    flex_free(t.lens);
    /* A held job keeps its JobBatch entry pending, for as long as the pause
     * lasts: its entry's mark of the jobs settled must last as long. */
    int marks = 0;
    char key[FLEX_JOBBATCH_KEY_MAX], last[FLEX_JOBBATCH_KEY_MAX] = "";
    for (size_t i = 0; rc == 0 && i < in->nheld; i++) {
        const char *e = in->held[i]->entry;
        if (!flex_entry_batch(e) || flex_jobbatch_key(e, key) == 0 || strcmp(key, last) == 0)
            continue;
        memcpy(last, key, sizeof(key));
        flex_store_appendf(in->st, "EXPIRE %s %d", key, FLEX_JOBBATCH_TTL_S);
        marks++;
    }
    if (rc == 0 && marks > 0 && flex_store_drain(in->st, marks) < 0)
        rc = -1;
    return rc;
}

/* Sleeps |ms| outside the config's read side (a reload need not wait). */
static void wait_offline(struct intake *in, unsigned ms)
{
    flex_qsbr_offline(&in->qr);
    usleep(ms * 1000);
    flex_qsbr_online(&flex_cfg_qsbr, &in->qr);
}

static void free_batch(void *arg, const char *key, uint64_t cookie)
{
    (void)arg, (void)key;
    flex_free((void *)(uintptr_t)cookie);
}

void *flex_intake_main(void *arg)
{
    struct intake in = {.p = arg};
    in.free_list = flex_malloc(FLEX_POOL_SIZE * sizeof(struct flex_rec *));
    in.held = flex_malloc(HELD_MAX * sizeof(struct flex_rec *));
    in.flying = flex_calloc(FLEX_POOL_SIZE, 1);
    in.batches = flex_idmap_new(UINT64_MAX, 2);
    in.entry_jobs = FLEX_JOBBATCH_MAX; /* until a read says how big entries are */
    for (size_t i = 0; i < FLEX_POOL_SIZE; i++)
        in.free_list[in.nfree++] = &in.p->pool[i];
    flex_qsbr_register(&flex_cfg_qsbr, &in.qr);
    struct wbatch *w = flex_calloc(1, sizeof(*w));
    in_wbatch_init(w);
    /* XCLAIM of up to BATCH entries to claim, or TOUCH_CHUNK to touch */
    flex_cmd_init(&in.cmd, (BATCH > TOUCH_CHUNK ? BATCH : TOUCH_CHUNK) + 6, 64);
    in.scratch = flex_calloc(1, sizeof(*in.scratch));
    in.sb = flex_statusbuf_new();
    in.pbarena._chunk_size = 16384;
    in.pba = (ProtobufCAllocator){in_pb_alloc, in_pb_free, &in.pbarena};
    /* FNV-1a of the consumer name and the pid: this run's urgent entries
     * (a restart under a stable name is another run: what it sent before
     * is a duplicate to it). */
    uint32_t tag = 2166136261u;
    for (const char *c = in.p->consumer; *c; c++)
        tag = (tag ^ (uint8_t)*c) * 16777619u;
    tag = (tag ^ (uint32_t)getpid()) * 16777619u;
    snprintf(in.urg_prefix, sizeof(in.urg_prefix), "%s%08x:", FLEX_URGENT_PREFIX, tag);
    /* Redis retried after a pause doubling from 50 ms to 2 s, so that a
     * refusal that lasts (maxmemory, a read-only replica) is no busy loop */
    struct flex_backoff bo = {.min_ms = 50, .max_ms = 2000};
    unsigned fails = 0; /* failed rounds in a row */
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
            flex_metric_add(&in.p->m.redis_errors, 1); /* every try counts */
            fails++;
            wait_offline(&in, flex_backoff_next(&bo));
            continue;
        }
        atomic_store_explicit(&in.p->redis_ok, true, memory_order_relaxed);
        int rc = in_take_back(&in, w);
        if (rc == 0 && !stopping)
            rc = in_release_held(&in, w);
        if (rc == 0)
            rc = one_round(&in, w, stopping);
        if (rc == 0 && stopping) {
            rc = in_flush_writes(&in, w);
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
            rc = in_flush_writes(&in, w);
        if (rc == 0 && flex_now_ms() - in.last_promote_ms > PROMOTE_EVERY_MS) {
            in.last_promote_ms = flex_now_ms();
            rc = promote(&in);
        }
        if (rc == 0 && flex_now_ms() - in.last_sample_ms > 1000) {
            in.last_sample_ms = flex_now_ms();
            rc = sample_queue(&in);
        }
        if (rc == 0 && flex_now_ms() - in.last_sweep_ms > IDEM_SWEEP_EVERY_MS) {
            in.last_sweep_ms = flex_now_ms();
            rc = in_settle_writes(&in) != 0 ? -1 : sweep_idem(&in);
        }
        if (rc == 0 && flex_now_ms() - in.last_trim_ms > RETENTION_EVERY_MS) {
            in.last_trim_ms = flex_now_ms();
            rc = trim_streams(&in);
        }
        if (rc != 0) { /* a lost connection or a refusal: anew after the backoff */
            unsigned ms = flex_backoff_next(&bo);
            fails++;
            if (fails <= 3 || fails % 30 == 0)
                flex_log(FLEX_LOG_WARN, &lctx, 0,
                         "redis connection lost: %s (%u in a row); reconnecting in %u ms",
                         flex_store_error(in.st), fails, ms);
            flex_metric_add(&in.p->m.redis_errors, 1);
            in_wbatch_reset(w);
            flex_statusbuf_clear(in.sb); /* their entries are read again */
            flex_store_del(in.st);
            in.st = NULL;
            wait_offline(&in, ms);
        } else if (fails) {
            flex_log(FLEX_LOG_INFO, &lctx, 0, "redis back (%u failed tries before)", fails);
            fails = 0;
            flex_backoff_reset(&bo);
        }
    }
    flex_qsbr_unregister(&flex_cfg_qsbr, &in.qr);
    flex_store_del(in.st);
    flex_bloom_del(in.bloom);
    in_wbatch_free(w);
    flex_free(w);
    flex_cmd_free(&in.cmd);
    flex_free(in.scratch);
    flex_statusbuf_del(in.sb);
    flex_arena_free(&in.pbarena);
    flex_free(in.held);
    flex_free(in.flying);
    flex_free(in.free_list);
    flex_idmap_each(in.batches, free_batch, NULL);
    flex_idmap_free(in.batches);
    flex_free(in.backs);
    return NULL;
}
