/* A stream entry into a record: decode, render, expand, schedule
 * (engine/run/intake_int.h). */
#include "intake_int.h"

/* ---- jobs ------------------------------------------------------------- */

/* A record of the pool going to the dispatcher, and coming back. */
void in_fly(struct intake *in, struct flex_rec *r)
{
    size_t i = (size_t)(r - in->p->pool);
    if (i < FLEX_POOL_SIZE && !in->flying[i]) {
        in->flying[i] = 1;
        in->nflying++;
    }
}

void in_land(struct intake *in, struct flex_rec *r)
{
    size_t i = (size_t)(r - in->p->pool);
    if (i < FLEX_POOL_SIZE && in->flying[i]) {
        in->flying[i] = 0;
        in->nflying--;
    }
}

/* The entries of the jobs out now, as a set (free with flex_idmap_free). */
struct flex_idmap *in_flying_entries(const struct intake *in)
{
    struct flex_idmap *m = flex_idmap_new(UINT64_MAX, 1);
    for (size_t i = 0; i < FLEX_POOL_SIZE; i++)
        if (in->flying[i])
            flex_idmap_put(m, in->p->pool[i].entry, 1, 0);
    return m;
}

/* Takes back the records the writer is done with. */
void in_reclaim(struct intake *in)
{
    void *items[256];
    size_t n;
    while ((n = flex_ring_pop_batch(&in->p->free_recs, items, 256)) > 0)
        for (size_t i = 0; i < n; i++) {
            struct flex_rec *r = items[i];
            in_land(in, r);                 /* written (or handed back) */
            if (flex_entry_batch(r->entry)) /* its outcome is stored */
                in_batch_settle(in, r->entry);
            in->free_list[in->nfree++] = r;
        }
}

/* ---- JobBatch entries ------------------------------------------------- */

/* "{entry}#{k}" into the entry id and k; false when not a batch job's. */
static bool batch_split(const char *entry, char eid[48], unsigned *k)
{
    const char *sep = flex_entry_batch(entry);
    if (!sep || (size_t)(sep - entry) >= 48)
        return false;
    memcpy(eid, entry, (size_t)(sep - entry));
    eid[sep - entry] = '\0';
    *k = (unsigned)strtoul(sep + 1, NULL, 10);
    return true;
}

static struct jbatch *batch_find(struct intake *in, const char *eid)
{
    uint64_t cookie;
    return flex_idmap_get(in->batches, eid, &cookie) ? (struct jbatch *)(uintptr_t)cookie : NULL;
}

/* Job |k| of tracker |b| (entry |eid|) is settled; once every job is, the
 * entry's XACK is queued (in->backs, sent by in_flush_writes). */
static void batch_done(struct intake *in, struct jbatch *b, const char *eid, unsigned k)
{
    if (k >= b->n || (b->done >> k & 1))
        return;
    b->done |= 1ULL << k;
    if (--b->left > 0)
        return;
    if (in->nbacks == in->capbacks) {
        in->capbacks = in->capbacks ? in->capbacks * 2 : 64;
        in->backs = flex_realloc(in->backs, in->capbacks * sizeof(*in->backs));
    }
    flex_strlcpy(in->backs[in->nbacks++], eid, sizeof(in->backs[0]));
}

/* Job |entry| ("{entry}#{k}")'s outcome is stored. */
void in_batch_settle(struct intake *in, const char *entry)
{
    char eid[48];
    unsigned k = 0;
    struct jbatch *b = batch_split(entry, eid, &k) ? batch_find(in, eid) : NULL;
    if (b)
        batch_done(in, b, eid, k);
}

/* The XACK of in->backs is stored: their entries are done with. */
void in_batch_acked(struct intake *in)
{
    for (size_t i = 0; i < in->nbacks; i++) {
        uint64_t cookie;
        if (flex_idmap_take(in->batches, in->backs[i], &cookie))
            flex_free((void *)(uintptr_t)cookie);
    }
    in->nbacks = 0;
}

static struct flex_rec *rec_get(struct intake *in)
{
    in_reclaim(in);
    return in->nfree ? in->free_list[--in->nfree] : NULL;
}

void in_rec_put(struct intake *in, struct flex_rec *r)
{
    in->free_list[in->nfree++] = r;
}

void *in_pb_alloc(void *arena, size_t size)
{
    return flex_arena_alloc(arena, size);
}

void in_pb_free(void *arena, void *p)
{
    (void)arena, (void)p; /* the arena is reset per job */
}

/* A record whose checks Redis failed: it goes back to the pool (its entry
 * stays pending, to be read again), or back to the held list when it was
 * being released, so that it is checked again on the next try. */
static void give_back(struct intake *in, enum in_from from, struct flex_rec *r)
{
    if (from == IN_FROM_HELD && in->nheld < HELD_MAX)
        in->held[in->nheld++] = r;
    else
        in_rec_put(in, r);
}

/* Gives back the records a check kept (|recs[0..kept)|) and those it had
 * not reached (|recs[i..n)|) when Redis failed in the middle. */
void in_give_back_all(struct intake *in, enum in_from from, struct flex_rec **recs, size_t kept,
                      size_t i, size_t n)
{
    for (size_t k = 0; k < kept; k++)
        give_back(in, from, recs[k]);
    for (size_t k = i; k < n; k++)
        give_back(in, from, recs[k]);
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
void in_schedule_job(struct intake *in, struct wbatch *w, const char *entry, Flex__V1__Job *job,
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
    in_job_status(in, w, entry, job->id, job->location, FLEX__V1__STATE__STATE_SCHEDULED, reason,
                  at);
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
            in_dead_letter(in, w, entry, raw, len, job->id, why);
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
    /* The status records go with the plan, in its script: an older
     * version than the one applied (its entry claimed from a dead flexd,
     * or read at once with a newer one by another flexd) changes neither
     * (schedq.h); its events still say what this flexd read. */
    struct flex_schedq_status sts[FLEX_TIMING_MAX_STEPS + 1];
    const char *sched = flex_job_state_name(FLEX__V1__STATE__STATE_SCHEDULED);
    for (unsigned i = 0; i < plan.nsteps; i++) {
        int64_t at =
            in_job_status_ex(in, w, NULL, m[i].id, job->location, FLEX__V1__STATE__STATE_SCHEDULED,
                             plan.steps[i].kind, m[i].at_ms, false);
        sts[i] = (struct flex_schedq_status){.id = m[i].id,
                                             .state = sched,
                                             .reason = plan.steps[i].kind,
                                             .location = job->location,
                                             .at_ms = at,
                                             .send_at_ms = m[i].at_ms};
    }
    w->scheduled += plan.nsteps;
    snprintf(why, sizeof(why), "expanded:%u skipped:%u", plan.nsteps, plan.skipped);
    int64_t first = 0; /* the appointment's own send time: its first text's */
    for (unsigned i = 0; i < plan.nsteps; i++)
        if (!first || m[i].at_ms < first)
            first = m[i].at_ms;
    Flex__V1__State pst =
        cancelled ? FLEX__V1__STATE__STATE_SUPPRESSED : FLEX__V1__STATE__STATE_SCHEDULED;
    const char *preason = cancelled ? "cancelled" : why;
    int64_t pat = in_job_status_ex(in, w, entry, job->id, job->location, pst, preason,
                                   cancelled ? 0 : first, false);
    sts[plan.nsteps] = (struct flex_schedq_status){.id = job->id,
                                                   .state = flex_job_state_name(pst),
                                                   .reason = preason,
                                                   .location = job->location,
                                                   .at_ms = pat,
                                                   .send_at_ms = cancelled ? 0 : first};
    struct flex_schedq_replace rp = {.parent_key = pkey,
                                     .version = cancelled ? 0 : plan.version,
                                     .keep_until_ms = plan.keep_until_ms,
                                     .entry = entry,
                                     .status_ttl_s =
                                         (int64_t)in->cfg->retention.job_history_days * 86400};
    flex_schedq_append_replace(in->st, &in->sq, &rp, sts, plan.nsteps + 1, m, plan.nsteps);
    for (unsigned i = 0; i < plan.nsteps; i++)
        flex_free(bufs[i]);
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
    rec->ambiguous = 0;
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
            in_schedule_job(in, w, entry, job, job->send_at_ms, base, exp, "send_at");
    } else if (!(job->reply_to && job->reply_to[0]) &&
               (quiet = flex_timing_quiet_until(in->cfg, loc, now)) != 0) {
        if (quiet >= exp)
            late = "quiet hours last past its expiry";
        else
            in_schedule_job(in, w, entry, job, quiet, base, exp, "quiet_hours");
    } else {
        struct flex_rec *rec = rec_get(in); /* reads are sized to the free records */
        char why[128];
        if (rec && render(in->cfg, job, rec, why, sizeof(why)) != 0) {
            in_dead_letter(in, w, entry, raw, len, job->id, why);
            in_rec_put(in, rec);
            return NULL;
        }
        if (rec)
            fill_rec(rec, job, entry, base, exp);
        return rec;
    }
    if (late) {
        in_job_status(in, w, entry, job->id, job->location, FLEX__V1__STATE__STATE_EXPIRED, late,
                      0);
        w->expired++;
    }
    return NULL;
}

/* Checks one job (|len| bytes at |raw|, its dead letter's if it is bad);
 * returns a record ready to go, or NULL when the job was dealt with here
 * (dead-lettered, scheduled, expanded, expired). */
static struct flex_rec *take_job(struct intake *in, struct wbatch *w, const char *entry,
                                 const char *raw, size_t len)
{
    /* Decoded into an arena reset after each job: no malloc per job. */
    Flex__V1__Job *job = flex__v1__job__unpack(&in->pba, len, (const uint8_t *)raw);
    if (!job) {
        flex_arena_reset(&in->pbarena);
        in_dead_letter(in, w, entry, raw, len, NULL, "undecodable protobuf");
        return NULL;
    }
    struct flex_rec *rec = NULL;
    char phone[FLEX_E164_BUFSZ];
    char *orig_phone = job->phone; /* validate points it at |phone|: restore before free */
    struct flex_job_error err;
    int64_t now = flex_now_ms();
    if (flex_job_validate(in->cfg, job, phone, &err) != 0)
        in_dead_letter(in, w, entry, raw, len, job->id, err.reason);
    else if (job->reply_to && job->reply_to[0] && !flex_entry_urgent(entry))
        /* flexd's own automatic replies pass opt-outs (optout_confirm),
         * pauses and quiet hours: only those it wrote to the urgent lane */
        in_dead_letter(in, w, entry, raw, len, job->id,
                       "reply_to is flexd's own field (its automatic replies)");
    else if (job->type != FLEX__V1__JOB_TYPE__JOB_TYPE_MESSAGE)
        expand_entry(in, w, entry, raw, len, job, now);
    else
        rec = take_message(in, w, entry, raw, len, job, now);
    job->phone = orig_phone;
    flex_arena_reset(&in->pbarena); /* the job (its frees are no-ops) */
    return rec;
}

struct flex_rec *in_take_entry(struct intake *in, struct wbatch *w, const char *entry,
                               struct redisReply *fields)
{
    size_t len;
    const char *raw = in_entry_field(fields, "job", &len);
    if (!raw) {
        /* Its fields kept as the dead letter's payload ("name\tvalue\n"
         * each, cut at DEADLETTER_RAW_MAX): a producer's typo ("Job") is
         * seen and its job recovered by hand, not lost. */
        char kept[DEADLETTER_RAW_MAX];
        size_t n = 0;
        for (size_t k = 0; k + 1 < flex_reply_count(fields); k += 2)
            for (size_t h = 0; h < 2; h++) {
                size_t fl;
                const char *f = flex_reply_str(flex_reply_at(fields, k + h), &fl);
                if (!f)
                    continue;
                size_t take = fl < sizeof(kept) - n ? fl : sizeof(kept) - n;
                memcpy(kept + n, f, take);
                n += take;
                if (n < sizeof(kept))
                    kept[n++] = h ? '\n' : '\t';
            }
        in_dead_letter(in, w, entry, kept, n, NULL,
                       "stream entry without a job field (its fields are the payload)");
        return NULL;
    }
    return take_job(in, w, entry, raw, len);
}

/* The tracker of batch entry |entry| of |n| jobs: the one in memory, else a
 * new one whose settled jobs are those of |bits| (|blen| bytes of its
 * flex:jb mark, idem.h; NULL: none). */
struct jbatch *in_batch_track(struct intake *in, const char *entry, unsigned n, const char *bits,
                              size_t blen)
{
    struct jbatch *b = batch_find(in, entry);
    if (b)
        return b;
    b = flex_calloc(1, sizeof(*b));
    b->n = b->left = (uint8_t)n;
    flex_idmap_put(in->batches, entry, (uint64_t)(uintptr_t)b, 0);
    for (unsigned k = 0; k < n; k++) /* (all settled before: only the XACK was missing) */
        if (flex_jobbatch_bit(bits, blen, k))
            batch_done(in, b, entry, k);
    return b;
}

/* A JobBatch entry (field "jobs"): each job taken as an entry of its own
 * would be, under "{entry}#{k}", except those of this process in flight
 * (|flying|) or settled (its tracker, which a retake begins from the
 * entry's flex:jb mark).  Up to |max| records go to |recs|; a job finding
 * no free record stays pending, and our pending list is read again
 * (in->read_short).  Returns the records; |*njobs| gets the entry's jobs. */
size_t in_take_batch(struct intake *in, struct wbatch *w, const char *entry, const char *raw,
                     size_t len, const struct flex_idmap *flying, struct flex_rec **recs,
                     size_t max, unsigned *njobs)
{
    struct flex_job_slice sl[FLEX_JOBBATCH_MAX];
    long n = flex_jobbatch_split((const uint8_t *)raw, len, sl, FLEX_JOBBATCH_MAX);
    char why[96];
    *njobs = 1;
    if (n > FLEX_JOBBATCH_MAX) /* refused: whole, or job by job */
        snprintf(why, sizeof(why), "JobBatch of %ld jobs: at most %d per entry", n,
                 FLEX_JOBBATCH_MAX);
    if (n <= 0 || n > JOBBATCH_DL_MAX) { /* the entry as it came, whole */
        in_dead_letter(in, w, entry, raw, len, NULL,
                       n < 0    ? "undecodable JobBatch"
                       : n == 0 ? "JobBatch without jobs"
                                : why);
        return 0;
    }
    if (n > FLEX_JOBBATCH_MAX) { /* each job kept whole in a dead letter of its own */
        struct flex_job_slice *all = flex_malloc((size_t)n * sizeof(*all));
        flex_jobbatch_split((const uint8_t *)raw, len, all, (size_t)n);
        for (long k = 0; k < n; k++) {
            Flex__V1__Job *j = flex__v1__job__unpack(&in->pba, all[k].len, all[k].p);
            in_dead_letter(in, w, entry, all[k].p, all[k].len, j && j->id ? j->id : NULL, why);
            flex_arena_reset(&in->pbarena);
        }
        flex_free(all);
        return 0;
    }
    *njobs = (unsigned)n;
    flex_metric_add(&in->p->m.jobs_read, n - 1); /* the entry counted one */
    struct jbatch *b = in_batch_track(in, entry, (unsigned)n, NULL, 0);
    size_t got = 0;
    for (unsigned k = 0; k < (unsigned)n; k++) {
        char jentry[48];
        snprintf(jentry, sizeof(jentry), "%s%c%u", entry, FLEX_BATCH_SEP, k);
        if ((b->done >> k & 1) || (flying && flex_idmap_has(flying, jentry)))
            continue;
        in_reclaim(in);
        if (got == max || in->nfree == 0) {
            in->read_short = true; /* stays pending: read again */
            continue;
        }
        struct flex_rec *rec = take_job(in, w, jentry, (const char *)sl[k].p, sl[k].len);
        if (rec)
            recs[got++] = rec;
    }
    return got;
}
