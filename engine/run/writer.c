/*
 * The writer thread: everything the pipeline learns goes back to Redis here,
 * two round trips per batch of up to BATCH records, each write set inside
 * MULTI/EXEC so that it happens whole or not at all.
 *
 *  1. MULTI; one XADD of the outcomes' status events (a StatusBatch,
 *     engine/core/statusbuf.h); one HSET of the batch's history
 *     records into flex:hist:{hour} and one of its msgid -> job maps into
 *     flex:msgid:{carrier}:{hour} (fields of hourly hashes: a key per
 *     message, with its TTL, cost Redis more than everything else, see
 *     docs/benchmarks.md); counters; XACK of the batch's jobs; the batch's
 *     mark; EXEC.  Then, in the same round trip, HMGET of the receipts' maps
 *     (Redis runs a pipeline in order, so a receipt finds the map of a job
 *     accepted in the same batch).
 *  2. MULTI; one XADD of the matched receipts' status events; an HSET per
 *     hour the jobs were accepted in, rewriting each job's history record
 *     with its receipt; counters; the mark; EXEC.
 *
 * A job is acknowledged in the same transaction that stores its outcome.
 * A batch whose reply was lost is written again only after checking its
 * marks (flex:batch:{consumer}:{seq}:o|r), so nothing is counted or
 * announced twice.  A receipt not mapped yet is looked up again every
 * 100 ms for RECEIPT_WAIT_MS; on its last try in every bucket the msgid
 * TTL keeps (a receipt days late).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "carrier.h"
#include "cmd.h"
#include "config.h"
#include "e164.h"
#include "err.h"
#include "gsm7.h"
#include "flex.pb-c.h"
#include "hash.h"
#include "idem.h"
#include "intent.h"
#include "recent.h"
#include "job.h"
#include "log.h"
#include "mem.h"
#include "pipeline.h"
#include "qsbr.h"
#include "reply.h"
#include "schedq.h"
#include "sms.h"
#include "statusbuf.h"
#include "store.h"
#include "str.h"

#define BATCH 512
#define RECEIPT_WAIT_MS 10000 /* a receipt waits this long for its msgid map */
#define RETRY_MAX 4096
#define MSGID_TTL_S 259200 /* msgid -> job: 3 days of late receipts */
#define HOUR_MS 3600000LL  /* the history and msgid buckets */
#define RECENT_SLOTS 65536 /* jobs whose final receipt was written lately */
#define DEEP_HOURS (MSGID_TTL_S / 3600 + 1)
#define PLAN_MAX (MAX_CARRIERS * (DEEP_HOURS + 2)) /* lookups of one batch, at most */
#define MAX_CARRIERS FLEX_CFG_MAX_CARRIERS
#define ARGS_MAX (16 + BATCH * FLEX_SMS_MAX_PARTS * 2 + BATCH + RETRY_MAX)
#define BYTES_MAX ((BATCH + RETRY_MAX) * 512)
/* The sizing of the command builder (engine/core/cmd.h checks every copy
 * against it anyway): the most one argument built in pieces takes, a
 * history record or a msgid map's value made of a record's fixed-size
 * fields (state, carrier, msgid, location, id, reason, numbers), and a
 * batch of them in BYTES_MAX. */
#define ARG_PIECE_MAX 640
_Static_assert(sizeof(((struct flex_rec *)0)->carrier) +
                       sizeof(((struct flex_rec *)0)->part_ids[0]) +
                       sizeof(((struct flex_rec *)0)->location) +
                       sizeof(((struct flex_rec *)0)->id) + sizeof(((struct flex_rec *)0)->reason) +
                       5 * 24 + 40 <=
                   ARG_PIECE_MAX,
               "a record's fields fit one piece");
_Static_assert(BYTES_MAX >= BATCH * (ARG_PIECE_MAX + sizeof(((struct flex_rec *)0)->id)),
               "a batch's history records");
/* A batch's receipt lookups: up to FLEX_CARRIER_KEYS keys of 64 bytes per
 * receipt, within the bounds above. */
_Static_assert(ARGS_MAX >= 4 + (BATCH + RETRY_MAX) * FLEX_CARRIER_KEYS, "lookup args");
_Static_assert(BYTES_MAX >= 256 + (BATCH + RETRY_MAX) * FLEX_CARRIER_KEYS * 65, "lookup bytes");

/* One batch's working arrays, allocated with the writer (they were
 * function-scope statics: hidden state, and one writer per process only). */
struct scratch {
    struct flex_rec *rc[BATCH + RETRY_MAX]; /* the batch's receipts */
    const char *vals[BATCH + RETRY_MAX];    /* ... the job each one names, as read */
    size_t lens[BATCH + RETRY_MAX];
    int64_t acc[BATCH + RETRY_MAX];                  /* ... when its job was accepted */
    long long hours[BATCH + RETRY_MAX];              /* ... the history bucket of its job */
    struct flex_recent_undo undo[BATCH + RETRY_MAX]; /* taken back if the transaction fails */
    struct flex_rec *in[BATCH];                      /* the batch's inbound texts */
    struct flex_reply_ctx ctx[BATCH];
    char from[BATCH][21], to[BATCH][21];
    struct flex_reply_done done[BATCH];
    long slot[BATCH]; /* ... each one's place in the inbound calls' answers */
    char joined[FLEX_PARTS_TEXT_MAX * 3 + 1]; /* a text joined from parts, as UTF-8 */
};

struct writer {
    struct flex_pipeline *p;
    struct scratch *x;
    struct flex_store *st;
    struct flex_cmd a;
    unsigned long long batch;       /* sequence of the batch being written */
    bool in_doubt;                  /* its last try failed: check its marks first */
    bool redo_retry_due;            /* ... and whether it took the waiting receipts */
    struct flex_statusbuf *sb;      /* the transaction's status events */
    int cmds;                       /* replies to read in this round trip */
    struct flex_reply rq;           /* the reply and log scripts (engine/core/reply.h) */
    struct flex_parts_budget parts; /* what the parts of unfinished texts may hold in Redis */
    int64_t parts_refused_logged;   /* when a refusal was last logged (one a minute) */
    struct flex_conv_out *conv;     /* the batch's texts sent, for the patients' logs */
    const struct flex_cfg *cfg;
    /* The job ids whose final receipt this writer stored: a carrier's
     * duplicate receipt is not counted or announced again.  Best effort: a
     * slot taken by a later job lets one through. */
    struct flex_recent receipted;
    /* "carrier key" of messages whose final receipt this process stored (and
     * whose map field went with it): a copy of it later matches nothing in
     * Redis, and is a duplicate here, not a receipt to wait for */
    struct flex_recent finals;
    bool *dup;  /* per receipt of the batch: a duplicate */
    bool *gone; /* per receipt of the batch: its map field in this HDEL */
};

static const struct flex_log_ctx lctx = {.component = "writer"};

/* ---- building commands ------------------------------------------------ */

/* The builder's bounds (ARGS_MAX, BYTES_MAX) are checked by the builder
 * itself (engine/core/cmd.h); a command past them is this code's bug
 * (every argument is built from a record's fixed-size fields), so it stops
 * flexd with the reason rather than send half a batch. */
static void abort_overflow(const struct flex_cmd *a)
{
    flex_log(FLEX_LOG_ERROR, &lctx, 0, "internal: a Redis command over its %s bound",
             a->overflow ? a->overflow : "argument");
    abort();
}

static void args_send(struct writer *w)
{
    if (flex_cmd_append(w->st, &w->a) != 0)
        abort_overflow(&w->a);
    w->cmds++;
}

/* One status event of |r| into the batch's entry; its strings are the
 * record's, alive until the entry is appended. */
static void status_event(struct writer *w, const struct flex_rec *r, Flex__V1__State state,
                         int64_t accepted_at)
{
    Flex__V1__StatusEvent ev = FLEX__V1__STATUS_EVENT__INIT;
    ev.job_id = (char *)r->id;
    ev.state = state;
    ev.reason = (char *)r->reason;
    ev.carrier = (char *)r->carrier;
    ev.carrier_message_id = (char *)r->part_ids[0];
    ev.at_ms = r->at_ms;
    ev.enqueued_at_ms = r->enqueued_ms;
    ev.accepted_at_ms = accepted_at;
    ev.location = (char *)r->location;
    ev.parts = r->nparts;
    ev.error_code = r->status;
    ev.temporary = r->temporary;
    ev.patient = (char *)r->patient;
    if (flex_statusbuf_add_borrowed(w->sb, &ev) != 0) { /* full: this entry now, then anew */
        w->cmds += flex_statusbuf_append(
            w->sb, w->st, flex_cfg_days_before(flex_now_ms(), w->cfg->retention.status_days));
        flex_statusbuf_add_borrowed(w->sb, &ev);
    }
}

/* The next space-separated word of [*p, end) into |out| (cut to |cap|). */
static void map_word(const char **p, const char *end, char *out, size_t cap)
{
    const char *sp = memchr(*p, ' ', (size_t)(end - *p));
    const char *we = sp ? sp : end;
    size_t n = (size_t)(we - *p) < cap - 1 ? (size_t)(we - *p) : cap - 1;
    memcpy(out, *p, n);
    out[n] = '\0';
    *p = sp ? sp + 1 : end;
}

static int64_t map_num(const char **p, const char *end)
{
    char w[24];
    map_word(p, end, w, sizeof(w));
    int64_t v = 0;
    for (const char *c = w; *c >= '0' && *c <= '9' && v < INT64_MAX / 10 - 10; c++)
        v = v * 10 + (*c - '0');
    return v;
}

/* Reads a first part's map value "job accepted_ms location enqueued_ms
 * parts" (older versions wrote the first three, or a bare job id) into
 * |r|; returns the accepted time (0: unknown). */
static int64_t receipt_job(struct flex_rec *r, const char *v, size_t len)
{
    const char *p = v, *end = v + len;
    map_word(&p, end, r->id, sizeof(r->id));
    int64_t acc = map_num(&p, end);
    map_word(&p, end, r->location, sizeof(r->location));
    r->enqueued_ms = map_num(&p, end);
    int64_t parts = map_num(&p, end);
    r->nparts = parts > 0 && parts < 256 ? (unsigned)parts : 0;
    return acc;
}

/* ---- round trip 1: outcomes, then the receipts' lookups -------------- */

/* The history record of a job, "k=v ..." with one-letter keys (30 days of
 * them are most of what Redis keeps per message) and the reason last (it
 * may hold spaces): s state, c carrier, m msgid, p parts, l location, e
 * enqueued, a accepted, r receipt status, t the state's time.  The receipt
 * rewrites the accepted record whole (append_receipts); flexctl status
 * spells the keys out. */
static void hist_accepted(struct flex_cmd *a, const struct flex_rec *r, const char *state,
                          int64_t acc)
{
    flex_cmd_cat(a, "s=");
    flex_cmd_cat(a, state);
    flex_cmd_cat(a, " c=");
    flex_cmd_cat(a, r->carrier);
    flex_cmd_cat(a, " m=");
    flex_cmd_cat(a, r->part_ids[0]);
    flex_cmd_cat(a, " p=");
    flex_cmd_cat_num(a, r->nparts);
    flex_cmd_cat(a, " l=");
    flex_cmd_cat(a, r->location);
    flex_cmd_cat(a, " e=");
    flex_cmd_cat_num(a, r->enqueued_ms);
    flex_cmd_cat(a, " a=");
    flex_cmd_cat_num(a, acc);
}

static void hist_record(struct flex_cmd *a, const struct flex_rec *r, Flex__V1__State st)
{
    if (st == FLEX__V1__STATE__STATE_ACCEPTED) {
        flex_cmd_begin(a);
        hist_accepted(a, r, "accepted", r->at_ms);
        flex_cmd_end(a);
    } else
        flex_cmd_argf(a, "s=%s c=%s l=%s t=%lld reason=%s", flex_job_state_name(st),
                      r->carrier[0] ? r->carrier : "-", r->location, (long long)r->at_ms,
                      r->reason);
}

static Flex__V1__State outcome_state(const struct flex_rec *r)
{
    return r->outcome == FLEX_OUT_ACCEPTED     ? FLEX__V1__STATE__STATE_ACCEPTED
           : r->outcome == FLEX_OUT_EXPIRED    ? FLEX__V1__STATE__STATE_EXPIRED
           : r->outcome == FLEX_OUT_SUPPRESSED ? FLEX__V1__STATE__STATE_SUPPRESSED
                                               : FLEX__V1__STATE__STATE_FAILED;
}

/* One HSET of every part's msgid -> job map of |carrier| in this batch. */
static void append_maps(struct writer *w, struct flex_rec **recs, size_t n, const char *carrier,
                        long long hour)
{
    struct flex_cmd *a = &w->a;
    flex_cmd_reset(a);
    flex_cmd_arg(a, "HSET", 4);
    flex_cmd_argf(a, "%s%s:%lld", FLEX_KEY_MSGID, carrier, hour);
    size_t first = flex_cmd_argc(a);
    for (size_t i = 0; i < n; i++) {
        struct flex_rec *r = recs[i];
        if (r->kind != FLEX_REC_RESULT || r->outcome != FLEX_OUT_ACCEPTED ||
            strcmp(r->carrier, carrier) != 0)
            continue;
        for (unsigned k = 0; k < r->nparts; k++) {
            /* canonical already (engine/core/carrier.h) */
            flex_cmd_copy(a, r->part_ids[k], strlen(r->part_ids[k]));
            flex_cmd_begin(a);
            flex_cmd_cat(a, r->id);
            if (k == 0) { /* "job accepted_ms location enqueued_ms parts": what the
                           * receipt needs to rewrite the job's history record */
                flex_cmd_cat_char(a, ' ');
                flex_cmd_cat_num(a, r->at_ms);
                flex_cmd_cat_char(a, ' ');
                flex_cmd_cat(a, r->location);
                flex_cmd_cat_char(a, ' ');
                flex_cmd_cat_num(a, r->enqueued_ms);
                flex_cmd_cat_char(a, ' ');
                flex_cmd_cat_num(a, r->nparts);
            } else {
                flex_cmd_cat_char(a, '#');
                flex_cmd_cat_num(a, k + 1);
            }
            flex_cmd_end(a);
        }
    }
    if (flex_cmd_argc(a) == first)
        return;
    args_send(w);
    flex_store_appendf(w->st, "EXPIRE %s%s:%lld %d", FLEX_KEY_MSGID, carrier, hour, MSGID_TTL_S);
    w->cmds++;
}

/* Labels and latency of one outcome, once it is stored. */
static void outcome_metrics(struct writer *w, const struct flex_rec *r)
{
    Flex__V1__State st = outcome_state(r);
    struct flex_audit_job aj = {r->id,
                                r->location,
                                r->patient,
                                r->phone,
                                r->template_name,
                                r->carrier,
                                flex_job_state_name(st),
                                r->reason};
    flex_audit_job(w->p->audit, st == FLEX__V1__STATE__STATE_ACCEPTED ? "send" : "status", &aj);
    if (st == FLEX__V1__STATE__STATE_ACCEPTED) {
        flex_labels_add(&w->p->by_carrier, r->carrier, FLEX_MV_ACCEPTED, 1);
        flex_labels_add(&w->p->by_location, r->location, FLEX_MV_ACCEPTED, 1);
        flex_histogram_observe(&w->p->accept_ms, r->at_ms - r->enqueued_ms);
        flex_metric_add(&w->p->m.accepted, 1);
        /* one character outside GSM-7 (the "ë" of "Zoë", an emoji) makes
         * every part UCS-2: 70 characters a part instead of 160 */
        flex_metric_add(flex_gsm7_count(r->text, strlen(r->text)) < 0 ? &w->p->m.parts_ucs2
                                                                      : &w->p->m.parts_gsm7,
                        r->nparts ? r->nparts : 1);
        return;
    }
    unsigned k = st == FLEX__V1__STATE__STATE_EXPIRED      ? FLEX_MV_EXPIRED
                 : st == FLEX__V1__STATE__STATE_SUPPRESSED ? FLEX_MV_SUPPRESSED
                                                           : FLEX_MV_FAILED;
    flex_labels_add(&w->p->by_location, r->location, k, 1);
    if (r->carrier[0])
        flex_labels_add(&w->p->by_carrier, r->carrier, k, 1);
    if (k == FLEX_MV_FAILED)
        flex_metric_add(&w->p->m.failed, 1);
}

/* MULTI, and the HSET of the transaction's history records begun in w->a
 * (hist_send sends it). */
static void tx_begin(struct writer *w, long long hour)
{
    flex_store_appendf(w->st, "MULTI");
    w->cmds++;
    flex_cmd_reset(&w->a);
    flex_cmd_arg(&w->a, "HSET", 4);
    flex_cmd_argf(&w->a, "flex:hist:%lld", hour);
}

/* The history records gathered since tx_begin, if any, with the TTL of
 * their bucket. */
static void hist_send(struct writer *w, long long hour)
{
    if (flex_cmd_argc(&w->a) <= 2)
        return;
    args_send(w);
    flex_store_appendf(w->st, "EXPIRE flex:hist:%lld %lld", hour,
                       (long long)w->cfg->retention.job_history_days * 86400);
    w->cmds++;
}

static void stat_incr(struct writer *w, const char *name, long n)
{
    if (n) {
        flex_store_appendf(w->st, "HINCRBY %s %s %ld", FLEX_KEY_STATS, name, n);
        w->cmds++;
    }
}

/* The batch's mark (|kind| "o" outcomes, "r" receipts: check_marks reads
 * them) and EXEC.  (hiredis's format knows no %c.) */
static void tx_end(struct writer *w, const char *kind)
{
    flex_store_appendf(w->st, "SET flex:batch:%s:%llu:%s 1 EX 3600", w->p->consumer, w->batch,
                       kind);
    flex_store_appendf(w->st, "EXEC");
    w->cmds += 2;
}

/* The texts sent (or refused by every carrier) into their patients' logs
 * (flexctl history, and the context of their replies).  Returns the
 * commands appended. */
static size_t append_conv(struct writer *w, struct flex_rec **recs, size_t n)
{
    static const char appt[] = FLEX_KEY_PARENT "appointment:";
    size_t k = 0;
    if (w->cfg->engine.history_days == 0) /* no message log (docs/config.md) */
        return 0;
    for (size_t i = 0; i < n; i++) {
        struct flex_rec *r = recs[i];
        if (r->kind != FLEX_REC_RESULT || !r->carrier[0] ||
            (r->outcome != FLEX_OUT_ACCEPTED && r->outcome != FLEX_OUT_FAILED))
            continue;
        w->conv[k] = (struct flex_conv_out){
            .phone = r->phone,
            .patient = strcmp(r->patient, "-") == 0 ? "" : r->patient, /* automatic replies */
            .location = r->location,
            .appointment = strncmp(r->parent_key, appt, sizeof(appt) - 1) == 0
                               ? r->parent_key + sizeof(appt) - 1
                               : "",
            .job = r->id,
            .template_name = r->template_name[0] ? r->template_name : "-",
            .text = r->text,
            .at_ms = r->at_ms};
        k++;
    }
    return k ? flex_reply_append_conv(w->st, &w->rq, w->cfg, w->conv, k, flex_now_ms()) : 0;
}

/* The transaction of the batch's outcomes (MULTI ... EXEC, w->cmds
 * replies). */
static void append_outcomes(struct writer *w, struct flex_rec **recs, size_t n, long long hour)
{
    long cnt[FLEX_OUT_SUPPRESSED + 1] = {0}, optouts = 0;
    const char *carriers[MAX_CARRIERS];
    size_t ncar = 0;
    struct flex_cmd *a = &w->a;
    tx_begin(w, hour);
    for (size_t i = 0; i < n; i++) {
        struct flex_rec *r = recs[i];
        if (r->kind != FLEX_REC_RESULT)
            continue;
        Flex__V1__State st = outcome_state(r);
        status_event(w, r, st, 0);
        flex_cmd_arg(a, r->id, strlen(r->id));
        hist_record(a, r, st);
        cnt[r->outcome]++;
        optouts += r->outcome == FLEX_OUT_SUPPRESSED && strcmp(r->reason, "optout") == 0;
        bool known = false;
        for (size_t k = 0; k < ncar; k++)
            known |= strcmp(carriers[k], r->carrier) == 0;
        if (st == FLEX__V1__STATE__STATE_ACCEPTED && !known && ncar < MAX_CARRIERS)
            carriers[ncar++] = r->carrier;
    }
    w->cmds += flex_statusbuf_append(
        w->sb, w->st, flex_cfg_days_before(flex_now_ms(), w->cfg->retention.status_days));
    hist_send(w, hour);
    for (size_t k = 0; k < ncar; k++)
        append_maps(w, recs, n, carriers[k], hour);
    stat_incr(w, "sent", cnt[FLEX_OUT_ACCEPTED]);
    stat_incr(w, "failed", cnt[FLEX_OUT_FAILED]);
    stat_incr(w, "expired", cnt[FLEX_OUT_EXPIRED]);
    stat_incr(w, "suppressed_optout", optouts);
    /* A carrier that says the recipient unsubscribed (Twilio 21610: a STOP
     * it took itself) is believed: the number joins the opt-out set and
     * its log, which every flexd follows, as a patient's STOP does. */
    for (size_t i = 0; i < n; i++) {
        struct flex_rec *r = recs[i];
        if (r->kind != FLEX_REC_RESULT || r->outcome != FLEX_OUT_FAILED || !r->carrier_optout)
            continue;
        flex_store_appendf(w->st, "SADD %s %s", FLEX_KEY_OPTOUT, r->phone);
        flex_store_appendf(w->st, "XADD %s * op + numbers %s source carrier", FLEX_KEY_OPTOUT_LOG,
                           r->phone);
        w->cmds += 2;
        flex_metric_add(&w->p->m.optouts, 1);
        struct flex_audit_job aj = {.job = r->id,
                                    .location = r->location,
                                    .carrier = r->carrier,
                                    .phone = r->phone,
                                    .state = "optout"};
        flex_audit_job(w->p->audit, "optout", &aj);
    }
    stat_incr(w, "suppressed_other", cnt[FLEX_OUT_SUPPRESSED] - optouts);
    /* A JobBatch's jobs: marked settled with their outcomes (idem.h,
     * flex:jb); the intake acknowledges their entry once all are. */
    const char *batch_jobs[BATCH];
    size_t nb = 0;
    for (size_t i = 0; i < n && nb < BATCH; i++)
        if (recs[i]->kind == FLEX_REC_RESULT && flex_entry_batch(recs[i]->entry))
            batch_jobs[nb++] = recs[i]->entry;
    w->cmds += (int)flex_jobbatch_mark(w->st, batch_jobs, nb);
    flex_cmd_reset(a);
    flex_cmd_arg(a, "XACK", 4);
    flex_cmd_arg(a, FLEX_KEY_JOBS, strlen(FLEX_KEY_JOBS));
    flex_cmd_arg(a, FLEX_KEY_GROUP, strlen(FLEX_KEY_GROUP));
    for (size_t i = 0; i < n; i++) /* (urgent jobs were read without a group) */
        if (recs[i]->kind == FLEX_REC_RESULT && !flex_entry_urgent(recs[i]->entry) &&
            !flex_entry_batch(recs[i]->entry)) /* a batch's: the intake's, once all settled */
            flex_cmd_arg(a, recs[i]->entry, strlen(recs[i]->entry));
    if (flex_cmd_argc(a) > 3)
        args_send(w);
    w->cmds += (int)append_conv(w, recs, n);
    tx_end(w, "o");
}

/* HMGET of every receipt's map, per carrier: this hour, the last, and for
 * receipts on their last try every hour the TTL keeps.  Appends the
 * commands and returns how many; |plan| gets (carrier, hour) per command. */
struct lookup {
    const char *carrier;
    long long hour;
};

static size_t append_lookups(struct writer *w, struct flex_rec **rc, size_t m, long long hour,
                             struct lookup *plan, size_t maxplan)
{
    const char *carriers[MAX_CARRIERS];
    bool deep[MAX_CARRIERS] = {false};
    size_t ncar = 0, np = 0;
    int64_t now = flex_now_ms();
    for (size_t i = 0; i < m; i++) {
        size_t k = 0;
        while (k < ncar && strcmp(carriers[k], rc[i]->carrier) != 0)
            k++;
        if (k == ncar && ncar < MAX_CARRIERS)
            carriers[ncar++] = rc[i]->carrier;
        if (k < ncar && now - rc[i]->at_ms >= RECEIPT_WAIT_MS - 300)
            deep[k] = true;
    }
    struct flex_cmd *a = &w->a;
    for (size_t k = 0; k < ncar; k++) {
        long long span = deep[k] ? DEEP_HOURS : 2;
        for (long long h = hour; h > hour - span && np < maxplan; h--) {
            flex_cmd_reset(a);
            flex_cmd_arg(a, "HMGET", 5);
            flex_cmd_argf(a, "%s%s:%lld", FLEX_KEY_MSGID, carriers[k], h);
            for (size_t i = 0; i < m; i++) /* every candidate key of each receipt */
                if (strcmp(rc[i]->carrier, carriers[k]) == 0)
                    for (unsigned c = 0; c < rc[i]->nkeys && c < FLEX_CARRIER_KEYS; c++)
                        flex_cmd_copy(a, rc[i]->part_ids[c], strlen(rc[i]->part_ids[c]));
            if (flex_cmd_append(w->st, a) != 0)
                abort_overflow(a);
            plan[np++] = (struct lookup){carriers[k], h};
        }
    }
    return np;
}

/* ---- round trip 2: the matched receipts ------------------------------- */

/* Reads the lookups' replies into |vals| (NULL: not mapped).  The values
 * point into |reps|, freed by the caller. */
static int read_lookups(struct writer *w, struct flex_rec **rc, size_t m, const struct lookup *plan,
                        size_t np, struct redisReply **reps, const char **vals, size_t *lens,
                        long long *hours)
{
    for (size_t i = 0; i < m; i++)
        vals[i] = NULL;
    for (size_t p = 0; p < np; p++) {
        if (flex_store_reply(w->st, &reps[p]) != 0)
            return -1;
        size_t j = 0; /* position among this carrier's receipts' candidates */
        for (size_t i = 0; i < m; i++) {
            if (strcmp(rc[i]->carrier, plan[p].carrier) != 0)
                continue;
            for (unsigned c = 0; c < rc[i]->nkeys && c < FLEX_CARRIER_KEYS; c++) {
                struct redisReply *e = flex_reply_at(reps[p], j++);
                if (vals[i] || !e || flex_reply_is_nil(e))
                    continue;
                vals[i] = flex_reply_str(e, &lens[i]);
                hours[i] = plan[p].hour; /* where the job's history record is too */
                if (c > 0)               /* the key that matched names the message from now on */
                    memcpy(rc[i]->part_ids[0], rc[i]->part_ids[c], sizeof(rc[i]->part_ids[0]));
            }
        }
    }
    return 0;
}

static bool receipt_matched(const char *val, size_t len)
{
    return val && !memchr(val, '#', len); /* a later part's: the first part's decides */
}

/* The transaction of the receipts that matched a job.  Each rewrites its
 * job's history record whole, in the hour the job was accepted (where its
 * map was found): one field per message, not two. */
static void append_receipts(struct writer *w, struct flex_rec **rc, size_t m, const char **vals,
                            const size_t *lens, const long long *hours, int64_t *acc)
{
    long nd = 0, nf = 0;
    struct flex_cmd *a = &w->a;
    flex_store_appendf(w->st, "MULTI");
    w->cmds++;
    long long done[DEEP_HOURS + 2];
    size_t ndone = 0, nundo = 0;
    struct flex_recent_undo *undo = w->x->undo;
    for (size_t i = 0; i < m; i++) {
        struct flex_rec *r = rc[i];
        if (!receipt_matched(vals[i], lens[i]))
            continue;
        acc[i] = receipt_job(r, vals[i], lens[i]);
        /* marked now: catches a copy later in this batch */
        w->dup[i] = flex_recent_add_undo(&w->receipted, r->id, &undo[nundo]);
        if (w->dup[i])
            continue;
        nundo++;
        bool ok = r->delivered; /* r->reason: the carrier's state name */
        status_event(w, r, ok ? FLEX__V1__STATE__STATE_DELIVERED : FLEX__V1__STATE__STATE_FAILED,
                     acc[i]);
        ok ? nd++ : nf++;
    }
    while (nundo > 0) /* stored for good once the transaction is (receipts_done) */
        flex_recent_undo(&undo[--nundo]);
    w->cmds += flex_statusbuf_append(
        w->sb, w->st, flex_cfg_days_before(flex_now_ms(), w->cfg->retention.status_days));
    for (size_t i = 0; i < m; i++) { /* one HSET per hour the jobs were accepted in */
        if (!receipt_matched(vals[i], lens[i]) || w->dup[i])
            continue;
        bool seen = false;
        for (size_t k = 0; k < ndone && !seen; k++)
            seen = done[k] == hours[i];
        if (seen || ndone == sizeof(done) / sizeof(done[0]))
            continue;
        done[ndone++] = hours[i];
        flex_cmd_reset(a);
        flex_cmd_arg(a, "HSET", 4);
        flex_cmd_argf(a, "flex:hist:%lld", hours[i]);
        for (size_t j = i; j < m; j++) {
            struct flex_rec *r = rc[j];
            if (!receipt_matched(vals[j], lens[j]) || w->dup[j] || hours[j] != hours[i])
                continue;
            bool ok = r->delivered;
            flex_cmd_arg(a, r->id, strlen(r->id));
            flex_cmd_begin(a);
            hist_accepted(a, r, ok ? "delivered" : "failed", acc[j]);
            flex_cmd_cat(a, " r=");
            flex_cmd_cat(a, r->reason);
            flex_cmd_cat(a, " t=");
            flex_cmd_cat_num(a, r->at_ms);
            flex_cmd_end(a);
        }
        hist_send(w, hours[i]);
    }
    /* A final receipt takes its message's map field with it: a copy of it
     * later (the carrier again, to this flexd after a restart or to
     * another) then matches nothing, and the job is not delivered twice,
     * its event and counters neither.  One HDEL per carrier and hour. */
    for (size_t i = 0; i < m; i++)
        w->gone[i] = !receipt_matched(vals[i], lens[i]) || w->dup[i];
    for (size_t i = 0; i < m; i++) {
        if (w->gone[i])
            continue;
        flex_cmd_reset(a);
        flex_cmd_arg(a, "HDEL", 4);
        flex_cmd_argf(a, "%s%s:%lld", FLEX_KEY_MSGID, rc[i]->carrier, hours[i]);
        for (size_t j = i; j < m; j++)
            if (!w->gone[j] && hours[j] == hours[i] &&
                strcmp(rc[j]->carrier, rc[i]->carrier) == 0) {
                flex_cmd_copy(a, rc[j]->part_ids[0], strlen(rc[j]->part_ids[0]));
                w->gone[j] = true;
            }
        args_send(w);
    }
    stat_incr(w, "delivered", nd);
    stat_incr(w, "failed", nf);
    tx_end(w, "r");
}

/* Reads a transaction's |n| replies: OK, QUEUED..., then EXEC's array. */
static int read_tx(struct writer *w, int n)
{
    for (int i = 0; i < n; i++) {
        struct redisReply *r;
        if (flex_store_reply(w->st, &r) != 0)
            return -1;
        bool last = i == n - 1;
        bool bad = last ? flex_reply_is_error(r) || flex_reply_is_nil(r) : flex_reply_is_error(r);
        flex_store_free_reply(r);
        if (bad && last)
            return -1;
    }
    return 0;
}

/* After a lost reply: which of the batch's transactions were applied. */
static int check_marks(struct writer *w, bool *done_o, bool *done_r)
{
    flex_store_appendf(w->st, "EXISTS flex:batch:%s:%llu:o", w->p->consumer, w->batch);
    flex_store_appendf(w->st, "EXISTS flex:batch:%s:%llu:r", w->p->consumer, w->batch);
    struct redisReply *o, *r;
    if (flex_store_reply(w->st, &o) != 0)
        return -1;
    if (flex_store_reply(w->st, &r) != 0) {
        flex_store_free_reply(o);
        return -1;
    }
    *done_o = flex_reply_integer(o) == 1;
    *done_r = flex_reply_integer(r) == 1;
    flex_store_free_reply(o);
    flex_store_free_reply(r);
    return 0;
}

/* Labels, latency and the retry list once the receipts are settled. */
static void receipts_done(struct writer *w, struct flex_rec **rc, size_t m, const char **vals,
                          const size_t *lens, const int64_t *acc, bool written,
                          struct flex_rec **retry, size_t *nretry)
{
    char fk[sizeof(rc[0]->carrier) + 1 + sizeof(rc[0]->part_ids[0])];
    for (size_t i = 0; i < m; i++) {
        struct flex_rec *r = rc[i];
        if (!vals[i]) {
            bool copy = false;
            for (unsigned c = 0; c < r->nkeys && c < FLEX_CARRIER_KEYS && !copy; c++) {
                snprintf(fk, sizeof(fk), "%s %s", r->carrier, r->part_ids[c]);
                copy = flex_recent_has(&w->finals, fk);
            }
            if (copy) {
                flex_metric_add(&w->p->m.receipts_duplicate, 1);
                continue;
            }
            if (flex_now_ms() - r->at_ms < RECEIPT_WAIT_MS && *nretry < RETRY_MAX) {
                retry[(*nretry)++] = r;
                r->kind = FLEX_REC_RECEIPT_WAIT;
            }
            continue;
        }
        if (!written || memchr(vals[i], '#', lens[i]))
            continue;
        if (w->dup[i]) {
            flex_metric_add(&w->p->m.receipts_duplicate, 1);
            continue;
        }
        flex_recent_add(&w->receipted, r->id);
        snprintf(fk, sizeof(fk), "%s %s", r->carrier, r->part_ids[0]);
        flex_recent_add(&w->finals, fk);
        bool ok = r->delivered;
        struct flex_audit_job aj = {.job = r->id,
                                    .location = r->location,
                                    .carrier = r->carrier,
                                    .state = ok ? "delivered" : "failed"};
        flex_audit_job(w->p->audit, "status", &aj);
        flex_metric_add(ok ? &w->p->m.delivered : &w->p->m.failed, 1);
        unsigned k = ok ? FLEX_MV_DELIVERED : FLEX_MV_FAILED;
        flex_labels_add(&w->p->by_carrier, r->carrier, k, 1);
        if (r->location[0])
            flex_labels_add(&w->p->by_location, r->location, k, 1);
        if (acc[i] > 0)
            flex_histogram_observe(&w->p->receipt_ms, r->at_ms - acc[i]);
    }
}

/* The sender of an inbound text in E.164 (a carrier's national or
 * international form); anything else (a short code, letters) as it came. */
static void e164_or_raw(const char *in, char *out, size_t outsz)
{
    char n[FLEX_E164_BUFSZ];
    int len = flex_e164_normalize(in, strlen(in), n, NULL);
    size_t il = strlen(in);
    if (len <= 0 && il >= 11 && il <= 15 && strspn(in, "0123456789") == il) {
        char plus[20]; /* an international number without its '+' (TON 1) */
        plus[0] = '+';
        memcpy(plus + 1, in, il + 1);
        len = flex_e164_normalize(plus, il + 1, n, NULL);
    }
    if (len > 0 && (size_t)len < outsz)
        memcpy(out, n, (size_t)len + 1);
    else
        flex_strlcpy(out, in, outsz);
}

/* The audit line of a text received, and of the opt-out or opt-in it
 * made (once across every flexd: only the script run that changed the
 * set says so). */
static void audit_inbound(struct writer *w, const char *from, const char *loc,
                          const struct flex_reply_ctx *ctx, const struct flex_reply_done *d)
{
    char f[512];
    size_t n = flex_audit_field_str(f, sizeof(f), 0, "intent", flex_intent_name(d->intent));
    n = flex_audit_field_str(f, sizeof(f), n, "loc", loc);
    n = flex_audit_field_str(f, sizeof(f), n, "patient", ctx->patient);
    n = flex_audit_field_phone(f, sizeof(f), n, "phone", from);
    if (n < sizeof(f))
        flex_audit_add(w->p->audit, flex_now_ms(), "inbound", f, n);
    if (d->changed && n < sizeof(f)) {
        n = flex_audit_field_phone(f, sizeof(f), 0, "phone", from);
        n = flex_audit_field_str(f, sizeof(f), n, "source", "sms");
        n = flex_audit_field_str(f, sizeof(f), n, "loc", loc);
        if (n < sizeof(f))
            flex_audit_add(w->p->audit, flex_now_ms(),
                           d->intent == FLEX_INTENT_STOP ? "optout" : "optin", f, n);
    }
}

static void inbound_done(struct writer *w, const struct flex_rec *r, const char *loc,
                         const struct flex_reply_done *d)
{
    if (!d->fresh) {
        flex_metric_add(&w->p->m.inbound_copies, 1);
        return;
    }
    flex_metric_add(&w->p->m.inbound, 1);
    flex_labels_add(&w->p->inbound_by, loc[0] ? loc : "unknown", (unsigned)d->intent, 1);
    if (d->changed)
        flex_metric_add(d->intent == FLEX_INTENT_STOP ? &w->p->m.optouts : &w->p->m.optins, 1);
    if (d->replied == 2)
        flex_metric_add(&w->p->m.autoreply_capped, 1);
    (void)r;
}

/* The UTF-8 of the |n| joined bytes of |r|'s parts into r->text: cut on a
 * character boundary when bytes were dropped (|cut|: by the adapter or the
 * join's cap) or when longer than a record holds; flagged truncated then. */
static void joined_text(struct writer *w, struct flex_rec *r, const uint8_t *b, size_t n, bool cut)
{
    char *t = w->x->joined;
    if (cut)
        n = flex_sms_char_boundary(r->dcs, b, n);
    if (flex_sms_decode(r->dcs, b, n, t, sizeof(w->x->joined)) < 0) {
        /* (3 bytes of UTF-8 per byte always fit) a text is shown, not dropped */
        flex_strlcpy(t, "\xEF\xBF\xBD", sizeof(w->x->joined)); /* U+FFFD */
        cut = true;
    }
    flex_rec_set_text(r, t, cut);
}

/* The parts of longer texts in the batch (engine/core/reply.h): each stored
 * by a script, one round trip for them all.  A part that makes its text
 * whole becomes that text (FLEX_REC_INBOUND, its set's key kept for the
 * script that applies it, which deletes the set); the others become
 * FLEX_REC_PART_STORED, answered to the carrier with the batch.  A batch
 * tried again runs this again: a part stored twice changes nothing, and a
 * record already made whole or stored is not a part any more. */
static int join_parts(struct writer *w, struct flex_rec **recs, size_t n)
{
    struct flex_rec **in = w->x->in;
    size_t m = 0;
    int64_t now = flex_now_ms();
    uint64_t max = (uint64_t)w->cfg->engine.inbound_parts_kb * 1024;
    for (size_t i = 0; i < n; i++) {
        struct flex_rec *r = recs[i];
        if (r->kind != FLEX_REC_INBOUND_PART)
            continue;
        if (flex_parts_budget_take(&w->parts, now, r->part_len, max)) {
            in[m++] = r;
            continue;
        }
        /* Past engine.inbound_parts_kb: answered (the carrier would send it
         * again and again), counted, not stored; its text never completes. */
        r->kind = FLEX_REC_PART_STORED;
        flex_metric_add(&w->p->m.inbound_parts_refused, 1);
        if (now - w->parts_refused_logged >= 60000) {
            w->parts_refused_logged = now;
            flex_log(FLEX_LOG_WARN, &lctx, 0,
                     "inbound parts past engine.inbound_parts_kb (%u KiB in 5 minutes): not "
                     "stored, their texts lost (flex_inbound_parts_refused_total)",
                     w->cfg->engine.inbound_parts_kb);
        }
    }
    for (size_t k = 0; k < m; k++) {
        struct flex_rec *r = in[k];
        char from[21], to[21];
        e164_or_raw(r->from, from, sizeof(from));
        e164_or_raw(r->to, to, sizeof(to));
        flex_parts_key(from, to, r->part_ref, r->part_total, r->dcs, r->parts_key);
        flex_reply_append_part(w->st, &w->rq, r->parts_key, r->part_seq, r->part_total,
                               (const uint8_t *)r->text, r->part_len, r->truncated);
    }
    for (size_t k = 0; k < m; k++) {
        struct redisReply *rep;
        if (flex_store_reply(w->st, &rep) != 0)
            return -1;
        if (flex_reply_is_transient(rep)) { /* NOSCRIPT after a flush...: all again */
            flex_store_free_reply(rep);
            flex_store_drain(w->st, (int)(m - k - 1));
            return -1;
        }
        const char *b;
        size_t len;
        bool cut;
        int rc = flex_reply_parse_part(rep, &b, &len, &cut);
        struct flex_rec *r = in[k];
        if (rc < 0) { /* this part's fault (a key of another type): logged, counted, left */
            flex_log(FLEX_LOG_ERROR, &lctx, 0, "inbound part not stored: %.120s",
                     flex_reply_str(rep, NULL) ? flex_reply_str(rep, NULL) : "bad reply");
            flex_metric_add(&w->p->m.redis_errors, 1);
            r->kind = FLEX_REC_PART_STORED;
        } else if (rc == 0) {
            flex_metric_add(&w->p->m.inbound_parts, 1);
            r->kind = FLEX_REC_PART_STORED;
        } else {
            flex_metric_add(&w->p->m.inbound_parts, 1);
            flex_metric_add(&w->p->m.inbound_joined, 1);
            joined_text(w, r, (const uint8_t *)b, len, cut); /* cut: any part's flag */
            r->kind = FLEX_REC_INBOUND;
        }
        flex_store_free_reply(rep);
    }
    return 0;
}

/* Reads the reply of a call for |c| texts: |el[k]| their elements
 * (borrowed from |*r|, which the caller frees).  Returns 0, or -1 when the
 * call or one of its texts met a refusal of the server's state (the batch
 * is tried again on a new connection, which loads the scripts again). A
 * call failing whole otherwise (the script's own error) is every text's
 * error. */
static int read_chunk(struct writer *w, size_t c, struct redisReply **r, struct redisReply **el)
{
    if (flex_store_reply(w->st, r) != 0)
        return -1;
    if (flex_reply_is_transient(*r))
        return -1;
    for (size_t k = 0; k < c; k++) {
        el[k] = flex_reply_is_error(*r) ? *r : flex_reply_at(*r, k);
        if (flex_reply_is_transient(el[k]))
            return -1;
    }
    /* the inbound script's counters and expiries, written after the texts:
     * the texts stand, the counters are lost */
    struct redisReply *tail = flex_reply_at(*r, c);
    if (flex_reply_is_error(tail)) {
        flex_log(FLEX_LOG_WARN, &lctx, 0, "inbound counters not written: %.120s",
                 flex_reply_str(tail, NULL));
        flex_metric_add(&w->p->m.redis_errors, 1);
    }
    return 0;
}

/* Patients' texts: the contexts (their senders' logs), then what each
 * means applied (engine/core/reply.h), up to FLEX_REPLY_CHUNK texts a
 * script call, two round trips for the batch.  A batch tried again runs
 * this again whole: the script knows a text it has applied. */
static int write_inbound(struct writer *w, struct flex_rec **recs, size_t n)
{
    struct flex_rec **in = w->x->in;
    struct flex_reply_ctx *ctx = w->x->ctx;
    char(*from)[21] = w->x->from, (*to)[21] = w->x->to;
    struct flex_reply_done *done = w->x->done;
    const char *stops[BATCH];
    size_t m = 0, nstops = 0;
    int64_t now = flex_now_ms();
    flex_reply_plain_reset(&w->rq);
    if (join_parts(w, recs, n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (recs[i]->kind == FLEX_REC_INBOUND)
            in[m++] = recs[i];
    /* each sender, and the location whose number it texted (NULL: none) */
    const char *froms[BATCH], *locs[BATCH];
    for (size_t k = 0; k < m; k++) {
        e164_or_raw(in[k]->from, from[k], sizeof(from[0]));
        e164_or_raw(in[k]->to, to[k], sizeof(to[0]));
        const struct flex_cfg_location *l = flex_cfg_location_by_phone(w->cfg, to[k]);
        froms[k] = from[k];
        locs[k] = l ? l->id : NULL;
    }
    bool asked[BATCH / FLEX_REPLY_CHUNK + 1]; /* each call appended (else: no contexts) */
    size_t calls = 0;
    for (size_t k0 = 0; k0 < m; k0 += FLEX_REPLY_CHUNK) {
        size_t c = m - k0 < FLEX_REPLY_CHUNK ? m - k0 : FLEX_REPLY_CHUNK;
        asked[k0 / FLEX_REPLY_CHUNK] =
            flex_reply_append_contexts(w->st, &w->rq, w->cfg, froms + k0, locs + k0, c, now) == 0;
        calls += asked[k0 / FLEX_REPLY_CHUNK];
    }
    for (size_t k0 = 0; k0 < m; k0 += FLEX_REPLY_CHUNK) {
        size_t c = m - k0 < FLEX_REPLY_CHUNK ? m - k0 : FLEX_REPLY_CHUNK;
        struct redisReply *r = NULL, *el[FLEX_REPLY_CHUNK] = {0};
        if (asked[k0 / FLEX_REPLY_CHUNK]) {
            calls--;
            if (read_chunk(w, c, &r, el) != 0) {
                flex_store_free_reply(r);
                flex_store_drain(w->st, (int)calls);
                return -1;
            }
        }
        for (size_t k = 0; k < c; k++) {
            /* this sender's fault (a key of another type): no context */
            if (flex_reply_is_error(el[k]))
                flex_log(FLEX_LOG_WARN, &lctx, 0, "reply context: %.120s",
                         flex_reply_str(el[k], NULL));
            flex_reply_parse_context(w->cfg, flex_reply_is_error(el[k]) ? NULL : el[k],
                                     locs[k0 + k], now, &ctx[k0 + k]);
        }
        flex_store_free_reply(r);
    }
    /* each text's place in the calls' answers: call * FLEX_REPLY_CHUNK +
     * its place in the call; -1: in none (cannot happen) */
    long *slot = w->x->slot;
    size_t ncalls = 0, per[BATCH / FLEX_REPLY_CHUNK + 1] = {0};
    flex_reply_inbound_begin(&w->rq);
    for (size_t k = 0; k < m; k++) {
        struct flex_inbound ib = {.from = from[k],
                                  .to = to[k],
                                  .text = in[k]->text,
                                  .carrier = in[k]->carrier,
                                  .at_ms = in[k]->at_ms,
                                  .truncated = in[k]->truncated,
                                  .parts_key = in[k]->parts_key};
        int rc = flex_reply_append_inbound(&w->rq, w->cfg, &ib, &ctx[k], &done[k]);
        if (rc != 0 && per[ncalls] == FLEX_REPLY_CHUNK) { /* the call is full: the next one */
            flex_reply_inbound_end(w->st, &w->rq);
            ncalls++;
            flex_reply_inbound_begin(&w->rq);
            rc = flex_reply_append_inbound(&w->rq, w->cfg, &ib, &ctx[k], &done[k]);
        }
        if (rc != 0) {
            ib.text = ""; /* cannot happen for texts a record holds; the opt-out still counts */
            ib.truncated = true;
            ib.intent = done[k].intent;
            rc = flex_reply_append_inbound(&w->rq, w->cfg, &ib, &ctx[k], &done[k]);
        }
        slot[k] = rc != 0         ? -1
                  : done[k].plain ? -2 /* applied without the script, after the calls */
                                  : (long)(ncalls * FLEX_REPLY_CHUNK + per[ncalls]++);
    }
    if (flex_reply_inbound_end(w->st, &w->rq))
        ncalls++;
    /* Each call's texts taken as it is read: a refusal of the server's
     * state in a later call (the batch tried again) leaves the texts of the
     * calls before it counted and audited, as Redis applied them. */
    struct redisReply *rep = NULL, *el[FLEX_REPLY_CHUNK];
    size_t have = 0; /* calls read */
    for (size_t k = 0; k < m; k++) {
        long at = slot[k];
        if (at == -2)
            continue;
        while (at >= 0 && (size_t)at / FLEX_REPLY_CHUNK >= have) {
            flex_store_free_reply(rep);
            rep = NULL;
            if (read_chunk(w, per[have], &rep, el) != 0) {
                flex_store_free_reply(rep);
                flex_store_drain(w->st, (int)(ncalls - have - 1));
                return -1;
            }
            have++;
        }
        struct redisReply *r = at >= 0 ? el[at % FLEX_REPLY_CHUNK] : NULL;
        if (flex_reply_parse_done(r, &done[k]) == 0) {
            inbound_done(w, in[k], done[k].location, &done[k]);
            if (done[k].fresh || done[k].changed)
                audit_inbound(w, from[k], done[k].location, &ctx[k], &done[k]);
        } else {
            flex_log(FLEX_LOG_ERROR, &lctx, 0, "inbound text not applied: %s",
                     r && flex_reply_str(r, NULL) ? flex_reply_str(r, NULL) : "bad reply");
            flex_metric_add(&w->p->m.redis_errors, 1);
            if (done[k].intent == FLEX_INTENT_STOP) /* whatever failed, the opt-out holds */
                stops[nstops++] = from[k];
        }
    }
    flex_store_free_reply(rep);
    if (flex_store_drain(w->st, (int)(ncalls - have)) < 0) /* (none: every call has a text) */
        return -1;
    /* (a failed apply: the texts of its transactions done are taken, as
     * the script calls' above; the batch is then tried again) */
    uint64_t aborts = w->rq.plain_aborts;
    int prc = flex_reply_plain_apply(w->st, &w->rq);
    flex_metric_add(&w->p->m.inbound_retries, w->rq.plain_aborts - aborts);
    size_t applied = flex_reply_plain_applied(&w->rq);
    for (size_t k = 0; k < m; k++) {
        const char *why;
        if (slot[k] != -2 || done[k].plain > applied)
            continue;
        if (flex_reply_plain_result(&w->rq, done[k].plain, &done[k], &why) == 0) {
            inbound_done(w, in[k], done[k].location, &done[k]);
            if (done[k].fresh)
                audit_inbound(w, from[k], done[k].location, &ctx[k], &done[k]);
        } else {
            flex_log(FLEX_LOG_ERROR, &lctx, 0, "inbound text not applied: %s", why);
            flex_metric_add(&w->p->m.redis_errors, 1);
        }
    }
    if (prc != 0)
        return -1;
    if (flex_reply_plain_counters(&w->rq)) {
        flex_log(FLEX_LOG_WARN, &lctx, 0, "inbound counters not written: %.120s",
                 flex_reply_plain_counters(&w->rq));
        flex_metric_add(&w->p->m.redis_errors, 1);
    }
    for (size_t k = 0; k < nstops; k++) {
        flex_store_appendf(w->st, "SADD %s %s", FLEX_KEY_OPTOUT, stops[k]);
        flex_store_appendf(w->st, "XADD %s * op + numbers %s", FLEX_KEY_OPTOUT_LOG, stops[k]);
    }
    return nstops && flex_store_drain(w->st, (int)nstops * 2) != 0 ? -1 : 0;
}

/* Writes one batch (see the top of the file).  Returns 0, or -1 when
 * Redis failed (the caller reconnects and calls again with the same
 * batch: the marks tell what was already applied). */
static int write_batch(struct writer *w, struct flex_rec **recs, size_t n, struct flex_rec **retry,
                       size_t *nretry, bool retry_due)
{
    bool done_o = false, done_r = false;
    if (w->in_doubt && check_marks(w, &done_o, &done_r) != 0)
        return -1;
    long long hour = flex_now_ms() / HOUR_MS;
    struct flex_rec **rc = w->x->rc;
    const char **vals = w->x->vals;
    size_t *lens = w->x->lens;
    int64_t *acc = w->x->acc;
    long long *hours = w->x->hours;
    size_t m = 0;
    if (retry_due) {
        for (size_t i = 0; i < *nretry; i++) {
            retry[i]->kind = FLEX_REC_RECEIPT;
            rc[m++] = retry[i];
        }
        *nretry = 0;
    }
    for (size_t i = 0; i < n; i++)
        if (recs[i]->kind == FLEX_REC_RECEIPT)
            rc[m++] = recs[i];
    w->cmds = 0;
    if (!done_o)
        append_outcomes(w, recs, n, hour);
    int tx = w->cmds;
    /* room for every carrier's deepest look back (a late receipt's last
     * try), all in one batch */
    struct lookup plan[PLAN_MAX];
    struct redisReply *reps[PLAN_MAX] = {0};
    size_t np = m ? append_lookups(w, rc, m, hour, plan, PLAN_MAX) : 0;
    w->in_doubt = true;
    int rc1 = tx ? read_tx(w, tx) : 0;
    if (rc1 == 0)
        rc1 = read_lookups(w, rc, m, plan, np, reps, vals, lens, hours);
    if (rc1 == 0 && !done_o)
        for (size_t i = 0; i < n; i++)
            if (recs[i]->kind == FLEX_REC_RESULT)
                outcome_metrics(w, recs[i]);
    bool any = false;
    for (size_t i = 0; i < m && rc1 == 0; i++) { /* vals are this batch's only then */
        acc[i] = 0;
        any |= vals[i] && !memchr(vals[i], '#', lens[i]);
    }
    if (rc1 == 0 && any && !done_r) {
        w->cmds = 0;
        append_receipts(w, rc, m, vals, lens, hours, acc);
        rc1 = read_tx(w, w->cmds);
    }
    if (rc1 == 0)
        receipts_done(w, rc, m, vals, lens, acc, !done_r, retry, nretry);
    if (rc1 == 0)
        rc1 = write_inbound(w, recs, n);
    for (size_t p = 0; p < np; p++)
        flex_store_free_reply(reps[p]);
    if (rc1 != 0)
        return -1;
    w->in_doubt = false;
    w->batch++;
    return 0;
}

/* The receipts and texts of a batch just stored: their carriers may now be
 * told (engine/core/carrier.h, ack), by the dispatcher, or for a webhook
 * by the HTTP listener, which held the carrier's request open until now.  A receipt put to
 * wait for its message's record counts as taken (holding the carrier's
 * answer for its retries would fill the SMSC's window).  With the ring full
 * (the dispatcher stuck), an ack is dropped and counted: the carrier sends
 * that report again. */
static void queue_acks(struct writer *w, struct flex_rec **recs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (recs[i]->kind == FLEX_REC_RESULT)
            continue;
        if (recs[i]->hook) { /* a webhook: its carrier gets its 200 now */
            w->p->hook_done(w->p->hook_ctx, recs[i]->hook, 200);
            recs[i]->hook = 0;
        }
        if (!recs[i]->ack)
            continue;
        void *item = (void *)(uintptr_t)recs[i]->ack;
        if (flex_ring_push_batch(&w->p->acks, &item, 1) != 1)
            /* relaxed: a metrics counter. */
            atomic_fetch_add_explicit(&w->p->m.acks_dropped, 1, memory_order_relaxed);
        recs[i]->ack = 0;
    }
}

static void release_event(struct writer *w, struct flex_rec *r)
{
    if (r->heap) {
        flex_free(r);
        return;
    }
    void *item = r;
    flex_ring_push_all(&w->p->free_dispatch, &item, 1, NULL);
}

static void give_back(struct writer *w, struct flex_rec **recs, size_t n)
{
    int jobs = 0;
    for (size_t i = 0; i < n; i++) {
        void *item = recs[i];
        if (recs[i]->kind == FLEX_REC_RECEIPT_WAIT)
            continue;
        if (recs[i]->kind == FLEX_REC_RESULT) {
            jobs++;
            flex_ring_push_all(&w->p->free_recs, &item, 1, NULL);
        } else {
            release_event(w, recs[i]);
        }
    }
    /* relaxed: a gauge read by the drain loop, and a count the dispatcher
     * reads on its own (its backpressure). */
    atomic_fetch_sub_explicit(&w->p->inflight, jobs, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->p->results_stored, (uint64_t)jobs, memory_order_relaxed);
}

/* Retried receipts that were written or given up go back too. */
static void give_back_retried(struct writer *w, struct flex_rec **before, size_t nbefore)
{
    for (size_t i = 0; i < nbefore; i++) {
        if (before[i]->kind == FLEX_REC_RECEIPT_WAIT)
            continue;
        release_event(w, before[i]);
    }
}

void *flex_writer_main(void *arg)
{
    struct writer w = {.p = arg};
    w.rq.plain = true; /* most texts without the script (engine/core/reply.c) */
    flex_cmd_init(&w.a, ARGS_MAX, BYTES_MAX);
    w.sb = flex_statusbuf_new();
    w.x = flex_calloc(1, sizeof(*w.x));
    flex_recent_init(&w.receipted, RECENT_SLOTS);
    flex_recent_init(&w.finals, RECENT_SLOTS);
    w.dup = flex_calloc(BATCH + RETRY_MAX, sizeof(*w.dup));
    w.gone = flex_calloc(BATCH + RETRY_MAX, sizeof(*w.gone));
    w.conv = flex_calloc(BATCH, sizeof(*w.conv));
    struct flex_qsbr_reader qr;
    flex_qsbr_register(&flex_cfg_qsbr, &qr);
    struct flex_rec *recs[BATCH];
    struct flex_rec **retry = flex_malloc(RETRY_MAX * sizeof(*retry));
    struct flex_rec **prev = flex_malloc(RETRY_MAX * sizeof(*prev));
    size_t n = 0, nretry = 0;
    int64_t last_retry = 0;
    /* A lost connection, or Redis refusing the writes (maxmemory, a
     * read-only replica, a failed disk): the batch is tried again on a new
     * connection after a pause doubling from 50 ms to 2 s, so a refusal
     * that lasts does not become a busy loop. */
    struct flex_backoff bo = {.min_ms = 50, .max_ms = 2000};
    unsigned fails = 0; /* failed round trips in a row */
    bool audit_failing = false;
    for (;;) {
        flex_qsbr_quiescent(&flex_cfg_qsbr, &qr);
        w.cfg = flex_cfg_acquire();
        if (n == 0) {
            n = flex_ring_pop_batch(&w.p->results, (void **)recs, BATCH);
            n += flex_ring_pop_batch(&w.p->hooks, (void **)recs + n, BATCH - n);
        }
        bool retry_due = nretry && flex_now_ms() - last_retry > 100;
        if (w.in_doubt) /* a batch tried again takes the same receipts */
            retry_due = w.redo_retry_due;
        if (n == 0 && !retry_due) {
            /* relaxed: polled stop flag. */
            if (atomic_load_explicit(&w.p->stop_all, memory_order_relaxed))
                break;
            usleep(500);
            continue;
        }
        if (!w.st) {
            char why[256] = "cannot load the reply scripts";
            if (flex_store_connect(&w.st, &flex_cfg_acquire()->redis, 2000, why, sizeof(why)) !=
                    0 ||
                flex_reply_load(w.st, &w.rq) != 0) {
                flex_log(FLEX_LOG_ERROR, &lctx, 0, "%s", why);
                flex_metric_add(&w.p->m.redis_errors, 1); /* every try counts */
                fails++;
                flex_store_del(w.st);
                w.st = NULL;
                usleep(flex_backoff_next(&bo) * 1000);
                if (atomic_load_explicit(&w.p->stop_all, memory_order_relaxed))
                    break;
                continue;
            }
        }
        size_t nprev = retry_due ? nretry : 0, nretry0 = nretry;
        memcpy(prev, retry, nprev * sizeof(*prev));
        if (retry_due)
            last_retry = flex_now_ms();
        if (write_batch(&w, recs, n, retry, &nretry, retry_due) != 0) {
            /* Receipts of the batch this failed try put to wait go with the
             * batch when it is tried again, not (also) on the wait list:
             * restoring the list below would otherwise drop them, and the
             * exit path would free a heap one twice. */
            for (size_t i = 0; i < n; i++)
                if (recs[i]->kind == FLEX_REC_RECEIPT_WAIT)
                    recs[i]->kind = FLEX_REC_RECEIPT;
            if (!retry_due)
                nretry = nretry0;
            unsigned ms = flex_backoff_next(&bo);
            fails++;
            flex_metric_add(&w.p->m.redis_errors, 1);
            if (fails <= 3 || fails % 30 == 0)
                flex_log(FLEX_LOG_WARN, &lctx, 0,
                         "redis write failed (%u in a row): %s; retrying the batch in %u ms", fails,
                         flex_store_error(w.st), ms);
            if (retry_due) { /* keep the waiting receipts */
                for (size_t i = 0; i < nprev; i++)
                    prev[i]->kind = FLEX_REC_RECEIPT_WAIT;
                memcpy(retry, prev, nprev * sizeof(*prev));
                nretry = nprev;
            }
            w.redo_retry_due = retry_due;
            flex_store_del(w.st);
            w.st = NULL;
            /* relaxed: polled stop flag.  Stopping leaves the batch
             * unacknowledged: its jobs are read again by the next flexd. */
            if (atomic_load_explicit(&w.p->stop_all, memory_order_relaxed))
                break;
            usleep(ms * 1000);
            continue;
        }
        if (fails) {
            flex_log(FLEX_LOG_INFO, &lctx, 0, "redis writes resumed (%u failed tries before)",
                     fails);
            fails = 0;
        }
        flex_backoff_reset(&bo);
        queue_acks(&w, recs, n);
        give_back_retried(&w, prev, nprev);
        give_back(&w, recs, n);
        int arc = flex_audit_flush(w.p->audit); /* a failed flush keeps its lines: retried */
        if (arc != 0 && !audit_failing)
            flex_log(FLEX_LOG_ERROR, &lctx, 0, "audit log: write failed (%s); lines kept, retried",
                     flex_strerror(arc));
        audit_failing = arc != 0;
        n = 0;
    }
    for (size_t i = 0; i < nretry; i++) /* receipts still waiting at exit */
        if (retry[i]->heap)
            flex_free(retry[i]);
    for (size_t i = 0; i < n; i++) /* a batch Redis refused until the stop */
        if (recs[i]->heap)
            flex_free(recs[i]);
    flex_free(retry);
    flex_free(prev);
    flex_cmd_free(&w.a);
    flex_statusbuf_del(w.sb);
    flex_free(w.x);
    flex_recent_free(&w.receipted);
    flex_recent_free(&w.finals);
    flex_free(w.dup);
    flex_free(w.gone);
    flex_free(w.conv);
    flex_reply_free(&w.rq);
    flex_store_del(w.st);
    flex_qsbr_unregister(&flex_cfg_qsbr, &qr);
    return NULL;
}

void flex_audit_job(struct flex_audit *a, const char *ev, const struct flex_audit_job *j)
{
    if (!a)
        return;
    char f[1024];
    size_t n = 0;
    const char *names[] = {"job", "loc", "patient", "template", "carrier", "state", "reason"};
    const char *vals[] = {j->job,     j->location, j->patient, j->template_name,
                          j->carrier, j->state,    j->reason};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && n < sizeof(f); i++)
        if (vals[i] && vals[i][0])
            n = flex_audit_field_str(f, sizeof(f), n, names[i], vals[i]);
    if (j->phone && n < sizeof(f))
        n = flex_audit_field_phone(f, sizeof(f), n, "phone", j->phone);
    int rc = n < sizeof(f) ? flex_audit_add(a, flex_now_ms(), ev, f, n) : FLEX_E_TOOLONG;
    if (rc != 0)
        flex_log(FLEX_LOG_ERROR, &lctx, 0, "audit line for job %s not written: %s",
                 j->job ? j->job : "-", flex_strerror(rc));
}
