/*
 * The writer thread: everything the pipeline learns goes back to Redis here,
 * in pipelined batches, and a job is acknowledged (XACK) in the same
 * pipeline right after its outcome is written, so an acknowledged job
 * always has its outcome stored (Redis runs a pipeline in order).
 *
 * Per accepted job: XADD status, HSET the job's history, EXPIRE it, and one
 * SET msgid -> job per SMS part (with a TTL of days, so a receipt is matched
 * by whichever flexd receives it, after any restart).  Receipts are matched
 * with one pipelined GET per receipt, then written like the rest.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "flex.pb-c.h"
#include "log.h"
#include "mem.h"
#include "pipeline.h"
#include "qsbr.h"
#include "smpp_msg.h"
#include "smpp_pdu.h"
#include "store.h"

#define BATCH 512
#define RECEIPT_WAIT_MS 10000 /* a receipt waits this long for its msgid map */
#define RETRY_MAX 4096
#define JOB_TTL_S 2592000  /* job history: 30 days */
#define MSGID_TTL_S 259200 /* msgid -> job: 3 days of late receipts */

struct writer {
    struct flex_pipeline *p;
    struct flex_store *st;
    int cmds;
    long sent, failed, delivered, expired, inbound;
    const char *acks[BATCH + 3];
    size_t acklens[BATCH + 3];
    int nacks;
};

static const struct flex_log_ctx lctx = {NULL, "writer", NULL};

static const char *state_name(Flex__V1__State s)
{
    switch (s) {
    case FLEX__V1__STATE__STATE_ACCEPTED: return "accepted";
    case FLEX__V1__STATE__STATE_DELIVERED: return "delivered";
    case FLEX__V1__STATE__STATE_FAILED: return "failed";
    case FLEX__V1__STATE__STATE_EXPIRED: return "expired";
    default: return "unknown";
    }
}

static void status_event(struct writer *w, const struct flex_rec *r, const char *job_id,
                         Flex__V1__State state, const char *reason)
{
    Flex__V1__StatusEvent ev = FLEX__V1__STATUS_EVENT__INIT;
    ev.job_id = (char *)job_id;
    ev.state = state;
    ev.reason = (char *)reason;
    ev.carrier = (char *)r->carrier;
    ev.carrier_message_id = (char *)r->part_ids[0];
    ev.at_ms = r->at_ms;
    ev.enqueued_at_ms = r->enqueued_ms;
    ev.location = (char *)r->location;
    ev.parts = r->nparts;
    ev.error_code = r->status;
    ev.temporary = r->temporary;
    ev.patient = (char *)r->patient;
    uint8_t buf[2048];
    size_t n = flex__v1__status_event__pack(&ev, buf);
    const char *sname = state_name(state);
    const char *argv[] = {"XADD", FLEX_KEY_STATUS,   "MAXLEN", "~",    "10000000", "*",
                          "ev",   (const char *)buf, "id",     job_id, "state",    sname};
    size_t lens[] = {
        4, strlen(FLEX_KEY_STATUS), 6, 1, 8, 1, 2, n, 2, strlen(job_id), 5, strlen(sname)};
    flex_store_append(w->st, 12, argv, lens);
    w->cmds++;
}

static void write_result(struct writer *w, struct flex_rec *r)
{
    Flex__V1__State st = r->outcome == FLEX_OUT_ACCEPTED  ? FLEX__V1__STATE__STATE_ACCEPTED
                         : r->outcome == FLEX_OUT_EXPIRED ? FLEX__V1__STATE__STATE_EXPIRED
                                                          : FLEX__V1__STATE__STATE_FAILED;
    status_event(w, r, r->id, st, r->reason);
    if (st == FLEX__V1__STATE__STATE_ACCEPTED) {
        flex_store_appendf(w->st,
                           "HSET %s%s state accepted carrier %s msgid %s parts %u location %s "
                           "enqueued_at %lld accepted_at %lld",
                           FLEX_KEY_JOB, r->id, r->carrier, r->part_ids[0], r->nparts, r->location,
                           (long long)r->enqueued_ms, (long long)r->at_ms);
        /* Every part maps to the job; parts after the first are marked, so
         * that a message counts as delivered once, by its first part. */
        for (unsigned k = 0; k < r->nparts; k++) {
            char key[65];
            flex_smpp_id_key(r->part_ids[k], key);
            if (k == 0) { /* "job accepted_ms location": the receipt's latency and labels */
                char v[sizeof(r->id) + sizeof(r->location) + 24];
                snprintf(v, sizeof(v), "%s %lld %s", r->id, (long long)r->at_ms, r->location);
                flex_store_appendf(w->st, "SET %s%s:%s %s EX %d", FLEX_KEY_MSGID, r->carrier, key,
                                   v, MSGID_TTL_S);
            } else
                flex_store_appendf(w->st, "SET %s%s:%s %s#%u EX %d", FLEX_KEY_MSGID, r->carrier,
                                   key, r->id, k + 1, MSGID_TTL_S);
        }
        w->cmds += 1 + (int)r->nparts;
        w->sent++;
        flex_labels_add(&w->p->by_carrier, r->carrier, FLEX_MV_ACCEPTED, 1);
        flex_labels_add(&w->p->by_location, r->location, FLEX_MV_ACCEPTED, 1);
        flex_histogram_observe(&w->p->accept_ms, r->at_ms - r->enqueued_ms);
    } else {
        flex_store_appendf(w->st, "HSET %s%s state %s carrier %s reason %s location %s %s_at %lld",
                           FLEX_KEY_JOB, r->id, state_name(st), r->carrier[0] ? r->carrier : "-",
                           r->reason, r->location, state_name(st), (long long)r->at_ms);
        w->cmds++;
        unsigned k = st == FLEX__V1__STATE__STATE_EXPIRED ? FLEX_MV_EXPIRED : FLEX_MV_FAILED;
        if (st == FLEX__V1__STATE__STATE_EXPIRED)
            w->expired++;
        else
            w->failed++;
        flex_labels_add(&w->p->by_location, r->location, k, 1);
        if (r->carrier[0])
            flex_labels_add(&w->p->by_carrier, r->carrier, k, 1);
    }
    flex_store_appendf(w->st, "EXPIRE %s%s %d", FLEX_KEY_JOB, r->id, JOB_TTL_S);
    w->cmds++;
    w->acks[3 + w->nacks] = r->entry;
    w->acklens[3 + w->nacks] = strlen(r->entry);
    w->nacks++;
}

/* Reads a first part's map value "job accepted_ms location" (or a bare
 * job id, as older versions wrote) into |r| and observes the latency. */
static void receipt_job(struct writer *w, struct flex_rec *r, const char *v, size_t len)
{
    const char *sp = memchr(v, ' ', len);
    size_t idlen = sp ? (size_t)(sp - v) : len;
    if (idlen >= sizeof(r->id))
        idlen = sizeof(r->id) - 1;
    memcpy(r->id, v, idlen);
    r->id[idlen] = '\0';
    r->location[0] = '\0';
    if (!sp)
        return;
    char rest[96];
    snprintf(rest, sizeof(rest), "%.*s", (int)(len - idlen - 1), sp + 1);
    long long acc = 0;
    char loc[65] = "";
    if (sscanf(rest, "%lld %64s", &acc, loc) >= 1 && acc > 0)
        flex_histogram_observe(&w->p->receipt_ms, r->at_ms - acc);
    snprintf(r->location, sizeof(r->location), "%s", loc);
}

/* Receipts: look their jobs up (one pipelined GET each), then write.  A
 * receipt whose msgid is not mapped yet (its acceptance may be in the same
 * or a later batch) is kept in |retry| and looked up again, for up to
 * RECEIPT_WAIT_MS. */
static int write_receipts(struct writer *w, struct flex_rec **recs, size_t n,
                          struct flex_rec **retry, size_t *nretry)
{
    size_t asked = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i]->kind != FLEX_REC_RECEIPT)
            continue;
        char key[65];
        flex_smpp_id_key(recs[i]->part_ids[0], key);
        flex_store_appendf(w->st, "GET %s%s:%s", FLEX_KEY_MSGID, recs[i]->carrier, key);
        asked++;
    }
    for (size_t i = 0; i < n && asked; i++) {
        struct flex_rec *r = recs[i];
        if (r->kind != FLEX_REC_RECEIPT)
            continue;
        struct redisReply *rep;
        if (flex_store_reply(w->st, &rep) != 0)
            return -1;
        size_t len;
        const char *job = flex_reply_str(rep, &len);
        if (!job && flex_now_ms() - r->at_ms < RECEIPT_WAIT_MS && *nretry < RETRY_MAX) {
            retry[(*nretry)++] = r;
            r->kind = FLEX_REC_RECEIPT_WAIT;
        } else if (job && len < sizeof(r->id) && memchr(job, '#', len)) {
            /* A later part's receipt: the first part's decides. */
        } else if (job && len < sizeof(r->id) + 80) {
            receipt_job(w, r, job, len);
            bool ok = r->receipt_state == FLEX_SMPP_STATE_DELIVERED;
            snprintf(r->reason, sizeof(r->reason), "%s", flex_smpp_stat_name(r->receipt_state));
            status_event(w, r, r->id,
                         ok ? FLEX__V1__STATE__STATE_DELIVERED : FLEX__V1__STATE__STATE_FAILED,
                         r->reason);
            flex_store_appendf(w->st, "HSET %s%s state %s receipt %s %s_at %lld", FLEX_KEY_JOB,
                               r->id, ok ? "delivered" : "failed", r->reason,
                               ok ? "delivered" : "failed", (long long)r->at_ms);
            w->cmds++;
            if (ok)
                w->delivered++;
            else
                w->failed++; /* undeliverable, expired, rejected by the network */
            unsigned k = ok ? FLEX_MV_DELIVERED : FLEX_MV_FAILED;
            flex_labels_add(&w->p->by_carrier, r->carrier, k, 1);
            if (r->location[0])
                flex_labels_add(&w->p->by_location, r->location, k, 1);
        }
        flex_store_free_reply(rep);
    }
    return 0;
}

static void write_inbound(struct writer *w, const struct flex_rec *r)
{
    Flex__V1__InboundMessage m = FLEX__V1__INBOUND_MESSAGE__INIT;
    m.from = (char *)r->from;
    m.to = (char *)r->to;
    m.text = (char *)r->text;
    m.carrier = (char *)r->carrier;
    m.intent = FLEX__V1__INTENT__INTENT_UNSPECIFIED; /* classified in a later issue */
    m.received_at_ms = r->at_ms;
    size_t n = flex__v1__inbound_message__get_packed_size(&m);
    uint8_t *buf = flex_malloc(n);
    flex__v1__inbound_message__pack(&m, buf);
    const char *argv[] = {"XADD", FLEX_KEY_INBOUND, "*", "msg", (const char *)buf};
    size_t lens[] = {4, strlen(FLEX_KEY_INBOUND), 1, 3, n};
    flex_store_append(w->st, 5, argv, lens);
    flex_free(buf);
    w->cmds++;
    w->inbound++;
}

static void metric(_Atomic uint64_t *c, long n)
{
    /* relaxed: a metrics counter, read by the HTTP thread only. */
    if (n > 0)
        atomic_fetch_add_explicit(c, (uint64_t)n, memory_order_relaxed);
}

static void counters(struct writer *w)
{
    metric(&w->p->m.accepted, w->sent);
    metric(&w->p->m.failed, w->failed);
    metric(&w->p->m.delivered, w->delivered);
    metric(&w->p->m.inbound, w->inbound);
    static const struct {
        const char *name;
        size_t off;
    } c[] = {
        {"sent", offsetof(struct writer, sent)},
        {"failed", offsetof(struct writer, failed)},
        {"delivered", offsetof(struct writer, delivered)},
        {"expired", offsetof(struct writer, expired)},
        {"inbound", offsetof(struct writer, inbound)},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        long v = *(long *)((char *)w + c[i].off);
        if (v) {
            flex_store_appendf(w->st, "HINCRBY %s %s %ld", FLEX_KEY_STATS, c[i].name, v);
            w->cmds++;
        }
    }
}

/* Writes one batch in two round trips: outcomes (and their acks) first, so
 * that a receipt in the same batch finds its msgid mapped; then receipts.
 * Returns 0, or -1 when Redis failed (the caller reconnects and writes the
 * batch again: every write is idempotent). */
static int write_batch(struct writer *w, struct flex_rec **recs, size_t n, struct flex_rec **retry,
                       size_t *nretry, bool retry_due)
{
    w->cmds = 0;
    w->nacks = 0;
    w->sent = w->failed = w->delivered = w->expired = w->inbound = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i]->kind == FLEX_REC_RESULT)
            write_result(w, recs[i]);
        else if (recs[i]->kind == FLEX_REC_INBOUND)
            write_inbound(w, recs[i]);
    }
    /* The counters travel with the acks: a crash between the two round
     * trips must not lose what was acknowledged. */
    counters(w);
    w->sent = w->failed = w->delivered = w->expired = w->inbound = 0;
    if (w->nacks) {
        w->acks[0] = "XACK", w->acks[1] = FLEX_KEY_JOBS, w->acks[2] = FLEX_KEY_GROUP;
        w->acklens[0] = 4, w->acklens[1] = strlen(FLEX_KEY_JOBS);
        w->acklens[2] = strlen(FLEX_KEY_GROUP);
        flex_store_append(w->st, 3 + w->nacks, w->acks, w->acklens);
        w->cmds++;
    }
    if (w->cmds && flex_store_drain(w->st, w->cmds) < 0)
        return -1;
    w->cmds = 0;
    /* Receipts: this batch's, and those waiting for their msgid when their
     * retry is due (every 100 ms, not every batch: a backlog of waiting
     * receipts must not cost a GET each per batch). */
    struct flex_rec *all[BATCH + RETRY_MAX];
    size_t m = 0;
    if (retry_due) {
        for (size_t i = 0; i < *nretry; i++) {
            retry[i]->kind = FLEX_REC_RECEIPT;
            all[m++] = retry[i];
        }
        *nretry = 0;
    }
    for (size_t i = 0; i < n; i++)
        if (recs[i]->kind == FLEX_REC_RECEIPT)
            all[m++] = recs[i];
    if (m && write_receipts(w, all, m, retry, nretry) != 0)
        return -1;
    counters(w);
    return w->cmds && flex_store_drain(w->st, w->cmds) < 0 ? -1 : 0;
}

/* Records back to their pools; receipts kept for a retry stay. */
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
            flex_ring_push_all(&w->p->free_dispatch, &item, 1, NULL);
        }
    }
    /* relaxed: a gauge read by the drain loop. */
    atomic_fetch_sub_explicit(&w->p->inflight, jobs, memory_order_relaxed);
}

/* Retried receipts that were written or given up go back too. */
static void give_back_retried(struct writer *w, struct flex_rec **before, size_t nbefore)
{
    for (size_t i = 0; i < nbefore; i++) {
        if (before[i]->kind == FLEX_REC_RECEIPT_WAIT)
            continue;
        void *item = before[i];
        flex_ring_push_all(&w->p->free_dispatch, &item, 1, NULL);
    }
}

void *flex_writer_main(void *arg)
{
    struct writer w = {.p = arg};
    struct flex_qsbr_reader qr;
    flex_qsbr_register(&flex_cfg_qsbr, &qr);
    struct flex_rec *recs[BATCH];
    struct flex_rec **retry = flex_malloc(RETRY_MAX * sizeof(*retry));
    struct flex_rec **prev = flex_malloc(RETRY_MAX * sizeof(*prev));
    size_t n = 0, nretry = 0;
    int64_t last_retry = 0;
    unsigned backoff = 50;
    for (;;) {
        flex_qsbr_quiescent(&flex_cfg_qsbr, &qr);
        if (n == 0)
            n = flex_ring_pop_batch(&w.p->results, (void **)recs, BATCH);
        bool retry_due = nretry && flex_now_ms() - last_retry > 100;
        if (n == 0 && !retry_due) {
            /* relaxed: polled stop flag. */
            if (atomic_load_explicit(&w.p->stop_all, memory_order_relaxed))
                break;
            usleep(500);
            continue;
        }
        if (!w.st) {
            char why[256];
            if (flex_store_connect(&w.st, flex_cfg_acquire()->redis.url, 2000, why, sizeof(why)) !=
                0) {
                flex_log(FLEX_LOG_ERROR, &lctx, 0, "%s", why);
                usleep(backoff * 1000);
                backoff = backoff < 2000 ? backoff * 2 : 2000;
                if (atomic_load_explicit(&w.p->stop_all, memory_order_relaxed))
                    break;
                continue;
            }
            backoff = 50;
        }
        size_t nprev = retry_due ? nretry : 0;
        memcpy(prev, retry, nprev * sizeof(*prev));
        if (retry_due)
            last_retry = flex_now_ms();
        if (write_batch(&w, recs, n, retry, &nretry, retry_due) != 0) {
            flex_log(FLEX_LOG_WARN, &lctx, 0, "redis write failed: %s; retrying the batch",
                     flex_store_error(w.st));
            if (retry_due) { /* keep the waiting receipts */
                for (size_t i = 0; i < nprev; i++)
                    prev[i]->kind = FLEX_REC_RECEIPT_WAIT;
                memcpy(retry, prev, nprev * sizeof(*prev));
                nretry = nprev;
            }
            flex_store_del(w.st);
            w.st = NULL;
            continue;
        }
        give_back_retried(&w, prev, nprev);
        give_back(&w, recs, n);
        n = 0;
    }
    flex_free(retry);
    flex_free(prev);
    flex_store_del(w.st);
    flex_qsbr_unregister(&flex_cfg_qsbr, &qr);
    return NULL;
}
