/* The intake's own writes of a round (engine/run/intake_int.h). */
#include "intake_int.h"

/* ---- writes the intake makes itself (pipelined, flushed per batch) ---- */

/* Stream entry ids are "ms-seq", two 64-bit numbers: at most 41 bytes. */
#define ENTRY_ID_MAX 41

void in_wbatch_init(struct wbatch *w)
{
    flex_cmd_init(&w->acks, ACKS_MAX + 3, ACKS_MAX * ENTRY_ID_MAX);
    in_wbatch_reset(w);
}

void in_wbatch_free(struct wbatch *w)
{
    flex_cmd_free(&w->acks);
    flex_free(w->settle);
}

/* Empty again. */
void in_wbatch_reset(struct wbatch *w)
{
    w->dead = w->suppressed = w->expired = w->dups = w->scheduled = w->gated = 0;
    w->nsettle = 0;
    flex_cmd_reset(&w->acks);
    flex_cmd_str(&w->acks, "XACK");
    flex_cmd_str(&w->acks, FLEX_KEY_JOBS);
    flex_cmd_str(&w->acks, FLEX_KEY_GROUP);
}

void in_ack_later(struct wbatch *w, const char *entry)
{
    if (flex_entry_urgent(entry))
        return; /* urgent jobs are read without a group: nothing to acknowledge */
    size_t len = strlen(entry);
    if (flex_entry_batch(entry)) { /* one job of a JobBatch entry: counted once stored */
        if (w->nsettle == w->capsettle) {
            w->capsettle = w->capsettle ? w->capsettle * 2 : 256;
            w->settle = flex_realloc(w->settle, w->capsettle * sizeof(*w->settle));
        }
        flex_strlcpy(w->settle[w->nsettle++], entry, sizeof(w->settle[0]));
        return;
    }
    /* An id no stream makes: not acknowledged.  Past the batch's bound
     * (its callers take at most ACKS_MAX a round, so this is a bug): it
     * would stay pending under this consumer until a restart. */
    if (len > ENTRY_ID_MAX)
        return;
    if (flex_cmd_argc(&w->acks) == ACKS_MAX + 3) {
        struct flex_log_ctx ec = {.component = "intake", .entry = entry};
        flex_log(FLEX_LOG_ERROR, &ec, 0,
                 "internal: more than %d acknowledgements in a round; the entry stays pending",
                 ACKS_MAX);
        return;
    }
    flex_cmd_copy(&w->acks, entry, len);
}

void in_dead_letter(struct intake *in, struct wbatch *w, const char *entry, const void *raw,
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
    struct flex_log_ctx ec = {.component = "intake",
                              .entry = entry}; /* the id `deadletter list` shows */
    flex_log(FLEX_LOG_WARN, &ec, 0, "job %s dead-lettered: %s",
             job_id && job_id[0] ? job_id : "(no id)", reason);
    struct flex_audit_job aj = {.job = job_id, .state = "dead_lettered", .reason = reason};
    flex_audit_job(in->p->audit, "status", &aj);
    in_ack_later(w, entry);
}

/* Writes a state the intake decided (suppressed, expired, scheduled: due
 * at |send_at|) and acknowledges |entry| (NULL: none).  |record| false: the
 * status record flex:job:{id} is the caller's to write (a replace script
 * writes it only when its version is applied); the event, the counters and
 * the audit line are written here.  Returns the event's time. */
int64_t in_job_status_ex(struct intake *in, struct wbatch *w, const char *entry, const char *id,
                         const char *loc, Flex__V1__State state, const char *reason,
                         int64_t send_at, bool record)
{
    Flex__V1__StatusEvent ev = FLEX__V1__STATUS_EVENT__INIT;
    ev.job_id = (char *)id;
    ev.state = state;
    ev.reason = (char *)reason;
    ev.at_ms = flex_now_ms();
    ev.location = (char *)loc;
    ev.send_at_ms = send_at;
    const char *sname = flex_job_state_name(state);
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
    if (record) {
        flex_store_appendf(
            in->st, "HSET %s%s state %s reason %s %s_at %lld location %s send_at %lld",
            FLEX_KEY_JOB, id, sname, reason, sname, (long long)ev.at_ms, loc, (long long)send_at);
        flex_store_appendf(in->st, "EXPIRE %s%s %lld", FLEX_KEY_JOB, id,
                           (long long)in->cfg->retention.job_history_days * 86400);
    }
    if (entry)
        in_ack_later(w, entry);
    struct flex_audit_job aj = {.job = id, .location = loc, .state = sname, .reason = reason};
    flex_audit_job(in->p->audit, "status", &aj);
    return ev.at_ms;
}

void in_job_status(struct intake *in, struct wbatch *w, const char *entry, const char *id,
                   const char *loc, Flex__V1__State state, const char *reason, int64_t send_at)
{
    (void)in_job_status_ex(in, w, entry, id, loc, state, reason, send_at, true);
}

/* Reads the replies of the writes queued so far (dead letters, statuses,
 * deferrals): a check that reads its replies right after its commands
 * must come after them, or it takes their replies for its own. */
int in_settle_writes(struct intake *in)
{
    uint64_t refusals = flex_store_refusals(in->st);
    int errors = flex_store_settle(in->st);
    /* Lost, or Redis refusing writes for now (maxmemory, a read-only
     * replica...): the round fails like a lost connection, and its entries
     * are read again (and their writes made again) after the backoff,
     * never acknowledged without their status. */
    if (errors < 0 || flex_store_refusals(in->st) != refusals)
        return -1;
    /* A write Redis will never take (a key of another type where Flex keeps
     * a job's status): trying again would stop the intake for good, so it
     * is logged and counted, and the round goes on. */
    if (errors > 0) {
        flex_metric_add(&in->p->m.redis_errors, errors);
        flex_log(FLEX_LOG_WARN, &lctx, 0, "redis refused %d write%s: %s", errors,
                 errors == 1 ? "" : "s", flex_store_error(in->st));
    }
    return 0;
}

int in_flush_writes(struct intake *in, struct wbatch *w)
{
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
    /* the batch jobs settled here: marked with their outcomes (idem.h) */
    if (w->nsettle) {
        const char **ents = flex_malloc(w->nsettle * sizeof(*ents));
        for (size_t i = 0; i < w->nsettle; i++)
            ents[i] = w->settle[i];
        flex_jobbatch_mark(in->st, ents, w->nsettle);
        flex_free(ents);
    }
    /* Every write above answered before the acknowledgements go: in one
     * pipeline, Redis refusing a status (out of memory) would still take
     * the XACK, which needs no memory, and the job would be settled with
     * no status, `flexctl status` saying queued for ever. */
    int rc = in_settle_writes(in);
    /* the batch jobs those writes settled; an entry whose jobs all are
     * goes with the XACK of the batches settled by the writer */
    for (size_t i = 0; rc == 0 && i < w->nsettle; i++)
        in_batch_settle(in, w->settle[i]);
    bool sent = false;
    if (rc == 0 && flex_cmd_argc(&w->acks) > 3 && flex_cmd_append(in->st, &w->acks) == 0)
        sent = true;
    size_t nbacks = in->nbacks;
    if (rc == 0 && nbacks > 0) {
        const char **argv = flex_malloc((nbacks + 3) * sizeof(*argv));
        size_t *lens = flex_malloc((nbacks + 3) * sizeof(*lens));
        argv[0] = "XACK", argv[1] = FLEX_KEY_JOBS, argv[2] = FLEX_KEY_GROUP;
        lens[0] = 4, lens[1] = strlen(FLEX_KEY_JOBS), lens[2] = strlen(FLEX_KEY_GROUP);
        for (size_t i = 0; i < nbacks; i++) {
            argv[i + 3] = in->backs[i];
            lens[i + 3] = strlen(in->backs[i]);
        }
        flex_store_append(in->st, (int)nbacks + 3, argv, lens);
        /* their marks go with them (after the XACK: a mark outliving its
         * entry only costs a key until its TTL) */
        char(*keys)[FLEX_JOBBATCH_KEY_MAX] = flex_malloc(nbacks * sizeof(*keys));
        int nk = 0;
        argv[nk] = "DEL", lens[nk++] = 3;
        for (size_t i = 0; i < nbacks; i++) {
            size_t kl = flex_jobbatch_key(in->backs[i], keys[i]);
            if (kl)
                argv[nk] = keys[i], lens[nk++] = kl;
        }
        flex_store_append(in->st, nk, argv, lens);
        flex_free(keys);
        flex_free(argv);
        flex_free(lens);
        sent = true;
    }
    if (rc == 0 && sent)
        rc = in_settle_writes(in);
    if (rc == 0 && nbacks > 0)
        in_batch_acked(in);
    if (rc == 0) { /* else the entries are read and counted again */
        flex_metric_add(&in->p->m.dead_letter, w->dead);
        flex_metric_add(&in->p->m.suppressed, w->suppressed);
        flex_metric_add(&in->p->m.expired, w->expired);
        flex_metric_add(&in->p->m.duplicates, w->dups);
    }
    in_wbatch_reset(w);
    return rc;
}

/* ---- opt-outs and control -------------------------------------------- */
