/* The checks a job passes before the dispatcher (engine/run/intake_int.h). */
#include "intake_int.h"

/* One id is sent at most once (engine/core/idem.h): each job's entry
 * recorded under its id unless one is recorded already.  None, or our own
 * entry (a redelivery after a crash), goes on; another entry with the
 * same id is a duplicate enqueue. */
static void dedup_ask(struct intake *in, struct flex_rec **recs, size_t n, bool legacy)
{
    for (size_t i = 0; i < n; i++)
        flex_idem_ask(in->st, legacy, recs[i]->id, recs[i]->entry);
}

static int dedup_read(struct intake *in, struct flex_rec **recs, size_t n, bool legacy,
                      enum flex_idem_verdict *v)
{
    /* an error (maxmemory...) fails the round: send nothing unrecorded */
    for (size_t i = 0; i < n; i++)
        if (flex_idem_answer(in->st, legacy, recs[i]->entry, &v[i]) != 0)
            return -1;
    return 0;
}

/* A record already there (a redelivery or a duplicate, both rare): which
 * entry it names, in a second round trip. */
static int dedup_resolve(struct intake *in, struct flex_rec **recs, size_t n,
                         enum flex_idem_verdict *v)
{
    size_t asked = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] == FLEX_IDEM_ASK) {
            flex_idem_ask_prev(in->st, recs[i]->id);
            asked++;
        }
    for (size_t i = 0; i < n && asked > 0; i++)
        if (v[i] == FLEX_IDEM_ASK && flex_idem_answer_prev(in->st, recs[i]->entry, &v[i]) != 0)
            return -1;
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
    in_job_status(in, w, r->entry, r->id, r->location, FLEX__V1__STATE__STATE_SUPPRESSED, "optout",
                  0);
    w->suppressed++;
    in_rec_put(in, r);
}

/* What every job read from the stream passes, in one round trip: its id
 * not seen before, and not opted out.  Returns 0 with |*np| the number
 * that go on (first in |recs|), or -1 with every record given back when
 * Redis failed. */
int in_check_new(struct intake *in, struct wbatch *w, struct flex_rec **recs, size_t *np)
{
    size_t n = *np;
    bool maybe[BATCH * 2], out[BATCH * 2];
    enum flex_idem_verdict v[BATCH * 2];
    bool legacy = flex_now_ms() < in->idem_legacy_ms;
    dedup_ask(in, recs, n, legacy);
    optout_ask(in, recs, n, maybe);
    if (dedup_read(in, recs, n, legacy, v) != 0 || optout_read(in, n, maybe, out) != 0 ||
        dedup_resolve(in, recs, n, v) != 0) {
        in_give_back_all(in, IN_FROM_STREAM, recs, 0, 0, n);
        return -1;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == FLEX_IDEM_OTHER) {
            w->dups++;
            in_ack_later(w, recs[i]->entry);
            in_rec_put(in, recs[i]);
        } else if (out[i]) {
            suppress_optout(in, w, recs[i]);
        } else if (!flex_cfg_allowed(in->cfg, recs[i]->phone)) {
            /* engine.allow_only: a pilot's test numbers only */
            in_job_status(in, w, recs[i]->entry, recs[i]->id, recs[i]->location,
                          FLEX__V1__STATE__STATE_SUPPRESSED, "sandbox", 0);
            w->gated++;
            in_rec_put(in, recs[i]);
        } else {
            recs[kept++] = recs[i];
        }
    }
    *np = kept;
    return 0;
}

/* Expanded reminders and recalls pass the gate: their appointment is
 * still as it was (not rescheduled or cancelled since) and the patient's
 * frequency cap has room. */
static int gate(struct intake *in, struct wbatch *w, enum in_from from, struct flex_rec **recs,
                size_t *np)
{
    size_t n = *np;
    const struct flex_cfg *cfg = in->cfg;
    int64_t now = flex_now_ms();
    size_t asked = 0;
    bool any = false;
    for (size_t i = 0; i < n && !any; i++)
        any = recs[i]->job_kind[0] != '\0';
    /* the opt-out checks may have queued suppressions: their replies come first */
    if (any && in_settle_writes(in) != 0) {
        in_give_back_all(in, from, recs, 0, 0, n);
        return -1;
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
        return 0; /* all go on */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (!recs[i]->job_kind[0]) {
            recs[kept++] = recs[i];
            continue;
        }
        struct redisReply *r;
        if (flex_store_reply(in->st, &r) != 0) {
            in_give_back_all(in, from, recs, kept, i, n);
            return -1;
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
        in_job_status(in, w, recs[i]->entry, recs[i]->id, recs[i]->location,
                      FLEX__V1__STATE__STATE_SUPPRESSED,
                      strcmp(verdict, "capped") == 0 ? "frequency_cap" : verdict, 0);
        w->gated++;
        in_rec_put(in, recs[i]);
    }
    *np = kept;
    return 0;
}

/* Opt-outs again, for jobs released after a hold: a STOP may have come. */
static int drop_optouts(struct intake *in, struct wbatch *w, enum in_from from,
                        struct flex_rec **recs, size_t *np)
{
    size_t n = *np;
    bool maybe[BATCH * 2], out[BATCH * 2];
    if (n == 0)
        return 0;
    if (in_settle_writes(in) != 0) {
        in_give_back_all(in, from, recs, 0, 0, n);
        return -1;
    }
    optout_ask(in, recs, n, maybe);
    if (optout_read(in, n, maybe, out) != 0) {
        in_give_back_all(in, from, recs, 0, 0, n);
        return -1;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (out[i])
            suppress_optout(in, w, recs[i]);
        else
            recs[kept++] = recs[i];
    }
    *np = kept;
    return 0;
}

/* flex_jobs_held, and flex_location_held{location} for the held records in
 * memory (those beyond HELD_MAX wait in the stream, location unknown). */
void in_publish_held(struct intake *in)
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
size_t in_hold_paused(struct intake *in, struct flex_rec **recs, size_t n)
{
    size_t go = 0;
    for (size_t i = 0; i < n; i++) {
        if (!in_is_paused(in, recs[i])) {
            recs[go++] = recs[i];
        } else if (in->nheld < HELD_MAX) {
            in->held[in->nheld++] = recs[i];
        } else { /* left pending, unacknowledged: read again on a resume */
            in->nspilled++;
            in_rec_put(in, recs[i]);
        }
    }
    if (in->nheld || in->nspilled || go < n)
        in_publish_held(in);
    return go;
}

/* The checks that must hold when a job leaves for the carrier, also after
 * it was held: not opted out (a STOP may have come meanwhile), its
 * appointment unchanged, the cap.  Then to the dispatcher. */
int in_admit(struct intake *in, struct wbatch *w, struct flex_rec **recs, size_t n,
             enum in_from from)
{
    if ((from == IN_FROM_HELD && drop_optouts(in, w, from, recs, &n) != 0) ||
        gate(in, w, from, recs, &n) != 0)
        return -1;
    int64_t now = flex_now_ms();
    for (size_t i = 0; i < n; i++) { /* before the push: it may come back at once */
        in_fly(in, recs[i]);
        recs[i]->checked_ms = now;
    }
    /* relaxed: a gauge for metrics and the drain; not used to order data. */
    atomic_fetch_add_explicit(&in->p->inflight, (int)n, memory_order_relaxed);
    flex_ring_push_all(&in->p->jobs, (void *const *)recs, n, &in->p->stop_all);
    return 0;
}

/* Jobs of locations no longer paused go on, checked again. */
int in_release_held(struct intake *in, struct wbatch *w)
{
    size_t keep = 0, go = 0;
    struct flex_rec *out[BATCH];
    for (size_t i = 0; i < in->nheld; i++) {
        if (!in_is_paused(in, in->held[i]) && go < BATCH)
            out[go++] = in->held[i];
        else
            in->held[keep++] = in->held[i];
    }
    in->nheld = keep;
    if (go)
        in_publish_held(in);
    if (go == 0)
        return 0;
    return in_admit(in, w, out, go, IN_FROM_HELD);
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
        return in_admit(in, w, &r, 1, IN_FROM_STREAM);
    if (q >= r->expires_ms) {
        in_job_status(in, w, r->entry, r->id, r->location, FLEX__V1__STATE__STATE_EXPIRED,
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
        flex_idem_forget(in->st, r->id, NULL);
        in_schedule_job(in, w, r->entry, &j, q, r->enqueued_ms, r->expires_ms, "quiet_hours");
    }
    in_rec_put(in, r);
    return 0;
}

/* Jobs the dispatcher handed back: their location was paused while they
 * waited (held here like any job of a paused location) or its quiet hours
 * began (scheduled for their end). */
int in_take_back(struct intake *in, struct wbatch *w)
{
    void *items[256];
    size_t n, taken = 0;
    int rc = 0;
    /* At most 2 * BATCH a round: each deferral acknowledges its entry, and
     * a round's XACK holds ACKS_MAX = 4 * BATCH (these, the round's read
     * and a claim); the rest wait in the ring for the next round. */
    while (rc == 0 && taken < 2 * BATCH &&
           (n = flex_ring_pop_batch(&in->p->back, items, 256)) > 0) {
        taken += n;
        /* relaxed: a gauge for metrics and the drain; not used to order data. */
        atomic_fetch_sub_explicit(&in->p->inflight, (int)n, memory_order_relaxed);
        for (size_t i = 0; i < n; i++) {
            struct flex_rec *r = items[i];
            in_land(in, r);
            if (rc != 0) /* Redis failed: pending, read again after the reconnect */
                in_rec_put(in, r);
            else if (r->back == FLEX_BACK_QUIET)
                rc = defer_quiet(in, w, r);
            else if (in->nheld < HELD_MAX)
                in->held[in->nheld++] = r;
            else { /* pending, read again on a resume */
                in->nspilled++;
                in_rec_put(in, r);
            }
        }
    }
    in_publish_held(in);
    return rc;
}
