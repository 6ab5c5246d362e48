/*
 * The dispatch thread: takes checked jobs from the intake, applies the rate
 * limits, picks a carrier by route and health, and runs the carrier clients
 * (each on its own io_uring, polled in turn).  Outcomes, receipts and
 * inbound texts go to the writer.
 *
 * Every carrier is an engine/core/carrier.h: the adapters normalize ids,
 * states and failures, so nothing here knows a protocol.
 *
 * Routing: the location's route or [route] default, in order.  A carrier
 * is skipped when it is disabled, not ready (no session bound, its circuit
 * open), or of a type this build has no adapter for.  A temporary failure moves the job to the next
 * carrier of its route; when none is left it fails with its last reason.
 * A job with no usable carrier at all waits (it is not failed) until one
 * binds or the job expires.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "carrier.h"
#include "config.h"
#include "err.h"
#include "live.h"
#include "log.h"
#include "mem.h"
#include "pipeline.h"
#include "qsbr.h"
#include "ratelimit.h"
#include "str.h"
#include "timing.h"

#define MAX_CARRIERS FLEX_CFG_MAX_CARRIERS
#define WAIT_MAX FLEX_POOL_SIZE
#define DPOOL_SIZE 8192
#define RESULTS_AHEAD 1024
#define NEWS_MAX_AGE_NS 1000000000ULL /* nothing goes on news older than this */
#define AMBIGUOUS_TRIES 3             /* submits of a job whose answers never come */
#define CIRCUIT_FAILS 20              /* temporary or ambiguous failures in a row open it */
#define CIRCUIT_OPEN_NS 5000000000ULL /* ... for this long, then traffic tries again */

struct carrier {
    char name[65];
    struct flex_carrier *car;
    char sig[2048];              /* what the carrier was built from (flex_carrier_sig) */
    bool retiring;               /* removed or changed by a reload: no new jobs */
    uint64_t retire_at_ns;       /* unbind by then even if its window is not empty */
    int bound;                   /* its sessions bound now */
    unsigned temp_fails;         /* temporary failures in a row */
    uint64_t open_until;         /* circuit open (skipped by routing) until then, mono ns */
    uint8_t tag;                 /* 1-255, unique among d->carriers: the top byte of its acks */
    uint64_t counted[FLEX_CC_N]; /* its counters as last added to /metrics */
};

struct dispatch {
    struct flex_pipeline *p;
    struct flex_qsbr_reader qr;
    const struct flex_cfg *cfg;
    struct carrier carriers[MAX_CARRIERS];
    size_t ncarriers;
    struct flex_ratelimit *rl;
    struct flex_rec **wait; /* jobs waiting for a carrier or a rate slot */
    size_t nwait;
    struct flex_rec **dfree; /* records for receipts and inbound texts */
    size_t ndfree;
    uint64_t results_out; /* job outcomes handed to the writer (finish) */
    uint64_t last_gauges_ns;
    bool limit_loc, limit_num, limit_car; /* any such limit set: else no lookups */
    int64_t now_ms;                       /* wall clock, read once per batch of events */
    bool now_fresh;                       /* ... since the last wait */
    int bound;
    struct flex_live *live; /* opt-outs, pauses, changed parents since jobs were checked */
    int64_t horizon_ms;     /* the longest a job may wait: news is kept this long */
    int64_t last_prune_ms;
    struct quiet *quiet; /* per location of d->cfg: quiet hours, recomputed each second */
    uint8_t last_tag;    /* the carrier tag given last (new_tag) */
    bool stale;          /* sending stopped: the intake's news too old (pump) */
};

struct quiet {
    int64_t until_ms;   /* quiet until then (0: not quiet) */
    int64_t checked_ms; /* when computed */
};

static const struct flex_log_ctx lctx = {.component = "dispatch"};

static void to_writer(struct dispatch *d, struct flex_rec *r)
{
    void *item = r;
    flex_ring_push_all(&d->p->results, &item, 1, &d->p->stop_all);
}

static struct flex_rec *drec_get(struct dispatch *d)
{
    void *items[256];
    size_t n;
    while ((n = flex_ring_pop_batch(&d->p->free_dispatch, items, 256)) > 0)
        for (size_t i = 0; i < n; i++)
            d->dfree[d->ndfree++] = items[i];
    return d->ndfree ? d->dfree[--d->ndfree] : NULL;
}

/* ---- carrier events -------------------------------------------------- */

/* The wall clock in ms, read at most once per batch of carrier events
 * (one io_uring wakeup) or per pump: clock_gettime per event showed in
 * the profile. */
static int64_t clock_ms(struct dispatch *d)
{
    if (!d->now_fresh) {
        d->now_ms = flex_now_ms();
        d->now_fresh = true;
    }
    return d->now_ms;
}

static void finish(struct dispatch *d, struct flex_rec *r, enum flex_outcome out)
{
    r->kind = FLEX_REC_RESULT;
    r->outcome = out;
    r->at_ms = clock_ms(d);
    d->results_out++;
    to_writer(d, r);
}

static void on_failed(struct dispatch *d, struct flex_rec *r, const struct flex_carrier_event *ev)
{
    flex_strlcpy(r->reason, ev->reason ? ev->reason : "failed", sizeof(r->reason));
    r->status = ev->code;
    r->carrier_optout = ev->opted_out;
    r->temporary = ev->temporary;
    const struct flex_cfg_route *route =
        flex_cfg_route_for(d->cfg, flex_cfg_location_find(d->cfg, r->location));
    /* An ambiguous submit (ambiguous = retry: the operator takes a
     * duplicate over a miss) is submitted AMBIGUOUS_TRIES times in all at
     * most, so that a carrier that takes messages but never answers does
     * not text a patient until the job expires. */
    bool again = ev->temporary && (!ev->ambiguous || ++r->ambiguous < AMBIGUOUS_TRIES);
    if (again && r->route_pos + 1u < route->n) {
        r->route_pos++; /* fail over to the next carrier of the route */
        d->wait[d->nwait++] = r;
        return;
    }
    if (again && clock_ms(d) < r->expires_ms) {
        r->route_pos = 0; /* every carrier said "not now": start over later */
        d->wait[d->nwait++] = r;
        return;
    }
    finish(d, r, FLEX_OUT_FAILED);
}

/* A carrier that answers every submit with a temporary error, or with
 * none (bound, but broken) is taken out of the routes for CIRCUIT_OPEN_NS after
 * CIRCUIT_FAILS in a row, so new jobs go to the next carrier at once
 * instead of each failing there first; then it gets traffic again (and
 * reopens if it still fails). */
static void circuit_failure(struct dispatch *d, struct carrier *c)
{
    if (flex_mono_ns() < c->open_until)
        return; /* open already: the answers of what was in flight when it opened */
    if (++c->temp_fails < CIRCUIT_FAILS)
        return;
    c->temp_fails = 0;
    c->open_until = flex_mono_ns() + CIRCUIT_OPEN_NS;
    flex_log(FLEX_LOG_WARN, &lctx, 0,
             "carrier %s: %d temporary or ambiguous failures in a row; circuit open for %llu s",
             c->name, CIRCUIT_FAILS, CIRCUIT_OPEN_NS / 1000000000ULL);
}

/* The dispatcher's entry of |car| (at most MAX_CARRIERS to look through;
 * entries move when retired ones are reaped, so no pointer is kept). */
static struct carrier *entry_of(struct dispatch *d, const struct flex_carrier *car)
{
    for (size_t i = 0; i < d->ncarriers; i++)
        if (d->carriers[i].car == car)
            return &d->carriers[i];
    return NULL;
}

/* A record's ack: the carrier's tag in the top byte, the adapter's token
 * (at most 56 bits, engine/core/carrier.h) below it. */
#define ACK_TOKEN_MASK ((1ULL << 56) - 1)

/* A tag no carrier of |d| has (MAX_CARRIERS < 255: there is one), the
 * next after the last given, so that a tag is not reused at once: an ack
 * of a carrier just reaped is then dropped, not given to its successor. */
static uint8_t new_tag(struct dispatch *d)
{
    for (;;) {
        d->last_tag = (uint8_t)(d->last_tag % 255 + 1);
        bool used = false;
        for (size_t i = 0; i < d->ncarriers && !used; i++)
            used = d->carriers[i].tag == d->last_tag;
        if (!used)
            return d->last_tag;
    }
}

/* The writer stored receipts and texts: their carriers are told (SMPP:
 * the deliver_sm_resp).  An ack of a carrier reaped meanwhile is dropped:
 * its connections are closed, and the SMSC delivers those again. */
static void send_acks(struct dispatch *d)
{
    void *items[256];
    size_t n;
    while ((n = flex_ring_pop_batch(&d->p->acks, items, 256)) > 0)
        for (size_t i = 0; i < n; i++) {
            uint64_t a = (uint64_t)(uintptr_t)items[i];
            uint8_t tag = (uint8_t)(a >> 56);
            for (size_t k = 0; k < d->ncarriers; k++)
                if (d->carriers[k].tag == tag) {
                    flex_carrier_ack(d->carriers[k].car, a & ACK_TOKEN_MASK);
                    break;
                }
        }
}

/* A receipt or an inbound text into a record of the dispatcher's pool. */
static void on_report(struct dispatch *d, struct carrier *c, const struct flex_carrier_event *ev)
{
    struct flex_rec *r = drec_get(d);
    if (!r) {
        /* The writer is more than DPOOL_SIZE events behind.  A receipt
         * cannot be asked to wait (the carrier has sent it), and losing it
         * loses a delivery: allocate, off the fast path; the writer frees
         * it.  Counted, so an operator sees the writer lagging. */
        r = flex_malloc(sizeof(*r));
        r->heap = true;
        /* relaxed: a metrics counter. */
        atomic_fetch_add_explicit(&d->p->m.events_overflow, 1, memory_order_relaxed);
    } else {
        r->heap = false;
    }
    flex_rec_report(r, c->name, ev, clock_ms(d));
    r->ack = ev->ack ? (uint64_t)c->tag << 56 | (ev->ack & ACK_TOKEN_MASK) : 0;
    to_writer(d, r);
}

void flex_rec_report(struct flex_rec *r, const char *carrier, const struct flex_carrier_event *ev,
                     int64_t at_ms)
{
    flex_mem_zero(r, offsetof(struct flex_rec, text));
    r->ack = 0;  /* (after text: not zeroed above) the dispatcher tags its own */
    r->hook = 0; /* ... and the HTTP listener its webhooks' */
    r->parts_key[0] = '\0';
    r->part_len = 0;
    r->kind = ev->kind == FLEX_CEV_RECEIPT        ? FLEX_REC_RECEIPT
              : ev->kind == FLEX_CEV_INBOUND_PART ? FLEX_REC_INBOUND_PART
                                                  : FLEX_REC_INBOUND;
    flex_strlcpy(r->carrier, carrier, sizeof(r->carrier));
    r->at_ms = at_ms;
    if (r->kind == FLEX_REC_RECEIPT) {
        r->nkeys = ev->nkeys < FLEX_CARRIER_KEYS ? ev->nkeys : FLEX_CARRIER_KEYS;
        for (unsigned k = 0; k < r->nkeys; k++)
            flex_strlcpy(r->part_ids[k], ev->keys[k], sizeof(r->part_ids[k]));
        r->delivered = ev->delivered;
        flex_strlcpy(r->reason, ev->state ? ev->state : "", sizeof(r->reason));
        r->receipt_err = ev->err;
        return;
    }
    memcpy(r->from, ev->from, sizeof(r->from));
    memcpy(r->to, ev->to, sizeof(r->to));
    if (r->kind == FLEX_REC_INBOUND_PART) { /* bytes as they came, any coding */
        size_t n = ev->part_len < sizeof(r->text) ? ev->part_len : sizeof(r->text);
        if (n)
            memcpy(r->text, ev->part, n);
        r->part_len = (uint16_t)n;
        r->truncated = ev->truncated || n < ev->part_len;
        r->dcs = ev->dcs;
        r->part_ref = ev->part_ref;
        r->part_total = ev->part_total;
        r->part_seq = ev->part_seq;
        return;
    }
    /* the adapter's cap counts source bytes, and UCS-2 decodes to up to
     * 1.5 times as many: the record may cut it again */
    flex_rec_set_text(r, ev->text ? ev->text : "", ev->truncated);
}

void flex_rec_set_text(struct flex_rec *r, const char *text, bool cut)
{
    size_t n = strlen(text);
    r->truncated = cut || n >= sizeof(r->text);
    if (n >= sizeof(r->text)) {
        n = sizeof(r->text) - 1;
        while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
            n--; /* text[n] starts a character: cut before it */
    }
    memcpy(r->text, text, n);
    r->text[n] = '\0';
}

static void on_event(void *arg, struct flex_carrier *car, const struct flex_carrier_event *ev)
{
    struct dispatch *d = arg;
    struct carrier *c = entry_of(d, car);
    struct flex_rec *r;
    if (!c)
        return; /* cannot happen: events come from a carrier of d->carriers */
    switch (ev->kind) {
    case FLEX_CEV_ACCEPTED:
        r = (struct flex_rec *)(uintptr_t)ev->cookie;
        r->nparts = ev->nkeys < FLEX_SMS_MAX_PARTS ? ev->nkeys : FLEX_SMS_MAX_PARTS;
        for (unsigned k = 0; k < r->nparts; k++)
            memcpy(r->part_ids[k], ev->keys[k], sizeof(r->part_ids[k]));
        flex_strlcpy(r->carrier, c->name, sizeof(r->carrier));
        c->temp_fails = 0;
        finish(d, r, FLEX_OUT_ACCEPTED);
        break;
    case FLEX_CEV_FAILED:
        r = (struct flex_rec *)(uintptr_t)ev->cookie;
        flex_strlcpy(r->carrier, c->name, sizeof(r->carrier));
        /* an ambiguous one too: a carrier that takes submits and never
         * answers (ambiguous = fail makes them permanent) is as broken */
        if (ev->temporary || ev->ambiguous)
            circuit_failure(d, c);
        on_failed(d, r, ev);
        break;
    case FLEX_CEV_RECEIPT:
    case FLEX_CEV_INBOUND:
    case FLEX_CEV_INBOUND_PART: on_report(d, c, ev); break;
    case FLEX_CEV_SESSION:
        d->bound += ev->up ? 1 : -1;
        c->bound += ev->up ? 1 : -1;
        /* relaxed: a health gauge for /readyz. */
        atomic_store_explicit(&d->p->carriers_bound, d->bound, memory_order_relaxed);
        break;
    }
}

/* ---- carriers ------------------------------------------------------------ */

/* Limiter keys: "c:" carrier, "l:" location, "n:" sender number, so the
 * three kinds of names never collide. */
static size_t limit_key(char *buf, size_t bufsz, char kind, const char *name)
{
    buf[0] = kind;
    buf[1] = ':';
    return 2 + flex_strlcpy(buf + 2, name, bufsz - 2);
}

/* |mps| 0 makes the key unlimited again (a reload that lifts a limit). */
static void limit_set(struct dispatch *d, char kind, const char *name, double mps)
{
    char key[96];
    size_t len = limit_key(key, sizeof(key), kind, name);
    flex_ratelimit_set(d->rl, key, len, mps, (uint32_t)(mps / 10) + 1);
}

/* 0 when one message may go now under the limit (none set: always). */
static uint64_t limit_take(struct dispatch *d, char kind, const char *name, uint64_t now_ns)
{
    char key[96];
    size_t len = limit_key(key, sizeof(key), kind, name);
    return flex_ratelimit_take(d->rl, key, len, now_ns, 1);
}

static bool usable(const struct flex_cfg_carrier *cc)
{
    return cc->enabled && flex_carrier_supported(cc);
}

/* A carrier removed, disabled or changed by a reload takes no new jobs;
 * it keeps running until its window is answered (or engine.drain_timeout
 * passes), then unbinds (reap). */
static void retire(struct dispatch *d, struct carrier *c, const char *why)
{
    c->retiring = true;
    c->retire_at_ns = flex_mono_ns() + d->cfg->engine.drain_timeout_ms * 1000000ULL;
    flex_log(FLEX_LOG_INFO, &lctx, 0, "carrier %s %s: unbinding once its window is empty", c->name,
             why);
}

static struct carrier *active_named(struct dispatch *d, const char *name)
{
    for (size_t i = 0; i < d->ncarriers; i++)
        if (!d->carriers[i].retiring && strcmp(d->carriers[i].name, name) == 0)
            return &d->carriers[i];
    return NULL;
}

/* Brings the carriers and limits in line with the config: at start and
 * after every reload (SIGHUP, flexctl reload). */
static void reconcile(struct dispatch *d)
{
    char sig[sizeof(d->carriers[0].sig)];
    for (size_t i = 0; i < d->ncarriers; i++) {
        struct carrier *c = &d->carriers[i];
        const struct flex_cfg_carrier *cc = flex_cfg_carrier_find(d->cfg, c->name);
        if (c->retiring)
            continue;
        if (!cc || !usable(cc)) {
            retire(d, c, "removed or disabled");
            continue;
        }
        flex_carrier_sig(d->cfg, cc, sig, sizeof(sig));
        if (strcmp(sig, c->sig) != 0)
            retire(d, c, "changed");
    }
    for (size_t i = 0; i < d->cfg->ncarriers; i++) {
        const struct flex_cfg_carrier *cc = &d->cfg->carriers[i];
        limit_set(d, 'c', cc->name, cc->mps);
        if (cc->enabled && !flex_carrier_supported(cc)) {
            char why[128];
            (void)flex_carrier_new(d->cfg, cc, on_event, d, why, sizeof(why));
            flex_log(FLEX_LOG_WARN, &lctx, 0, "carrier %s: %s; skipped in routes", cc->name, why);
        }
        if (!usable(cc) || active_named(d, cc->name))
            continue;
        if (d->ncarriers == MAX_CARRIERS) {
            flex_log(FLEX_LOG_ERROR, &lctx, 0, "carrier %s: more than %d carriers", cc->name,
                     MAX_CARRIERS);
            continue;
        }
        char why[128];
        struct flex_carrier *car = flex_carrier_new(d->cfg, cc, on_event, d, why, sizeof(why));
        if (!car) {
            flex_log(FLEX_LOG_ERROR, &lctx, 0, "carrier %s: %s", cc->name, why);
            continue;
        }
        struct carrier *c = &d->carriers[d->ncarriers++];
        memset(c, 0, sizeof(*c));
        snprintf(c->name, sizeof(c->name), "%s", cc->name);
        flex_carrier_sig(d->cfg, cc, c->sig, sizeof(c->sig));
        c->car = car;
        c->tag = new_tag(d);
    }
    flex_free(d->quiet); /* location indices change with the config */
    d->quiet = flex_calloc(d->cfg->nlocations + 1, sizeof(*d->quiet));
    d->limit_car = d->limit_loc = false;
    for (size_t i = 0; i < d->cfg->ncarriers; i++)
        d->limit_car |= d->cfg->carriers[i].mps > 0;
    d->limit_num = d->cfg->engine.number_mps > 0;
    for (size_t i = 0; i < d->cfg->nlocations; i++) {
        const struct flex_cfg_location *l = &d->cfg->locations[i];
        d->limit_loc |= l->mps > 0;
        limit_set(d, 'l', l->id, l->mps);
        /* Locations sharing a sender number share its limit. */
        limit_set(d, 'n', l->phone, d->cfg->engine.number_mps);
    }
}

/* Unbinds and frees retired carriers whose windows are empty. */
static void reap(struct dispatch *d)
{
    uint64_t now = flex_mono_ns();
    size_t keep = 0;
    for (size_t i = 0; i < d->ncarriers; i++) {
        struct carrier *c = &d->carriers[i];
        if (c->retiring && (flex_carrier_in_flight(c->car) == 0 || now > c->retire_at_ns)) {
            flex_carrier_drain(c->car, 500);
            flex_carrier_destroy(c->car);
            flex_log(FLEX_LOG_INFO, &lctx, 0, "carrier %s unbound", c->name);
            continue;
        }
        if (keep != i)
            d->carriers[keep] = *c;
        keep++;
    }
    d->ncarriers = keep;
}

/* Hands |r| back to the intake, which holds it (a pause) or schedules it
 * again (quiet hours): neither is the dispatcher's to keep. */
static void hand_back(struct dispatch *d, struct flex_rec *r, enum flex_back why)
{
    void *item = r;
    r->back = why;
    /* relaxed: metrics counters. */
    atomic_fetch_add_explicit(why == FLEX_BACK_PAUSED ? &d->p->m.send_held : &d->p->m.send_deferred,
                              1, memory_order_relaxed);
    flex_ring_push_all(&d->p->back, &item, 1, &d->p->stop_all);
}

static void suppress(struct dispatch *d, struct flex_rec *r, const char *why)
{
    flex_strlcpy(r->reason, why, sizeof(r->reason));
    r->carrier[0] = '\0';
    /* relaxed: a metrics counter. */
    atomic_fetch_add_explicit(&d->p->m.send_suppressed, 1, memory_order_relaxed);
    flex_count_suppressed(d->p, why);
    finish(d, r, FLEX_OUT_SUPPRESSED);
}

/* Quiet hours at |loc| now, computed at most once a second per location
 * (a time zone conversion per job showed in profiles of the intake). */
static int64_t quiet_until(struct dispatch *d, const struct flex_cfg_location *loc)
{
    struct quiet *q = &d->quiet[loc - d->cfg->locations];
    int64_t now = clock_ms(d);
    if (now - q->checked_ms >= 1000 || now < q->checked_ms) {
        q->until_ms = flex_timing_quiet_until(d->cfg, loc, now);
        q->checked_ms = now;
    }
    return q->until_ms > now ? q->until_ms : 0; /* (ended since it was computed) */
}

/* The rules that can change while a job waits, checked again just before
 * it goes (docs/architecture.md, "Checked twice"): expiry, the sandbox, an
 * opt-out, its appointment rescheduled or cancelled, a pause, quiet hours.
 * Returns true when |r| may go; otherwise it has been finished or handed
 * back. */
static bool still_allowed(struct dispatch *d, struct flex_rec *r,
                          const struct flex_cfg_location *loc)
{
    int64_t v;
    if (clock_ms(d) > r->expires_ms) {
        snprintf(r->reason, sizeof(r->reason), "expired before a carrier took it");
        finish(d, r, FLEX_OUT_EXPIRED);
    } else if (!flex_cfg_allowed(d->cfg, r->phone)) {
        suppress(d, r, "sandbox");
    } else if (!r->to_optout && flex_live_opted_out(d->live, r->phone)) {
        suppress(d, r, "optout");
    } else if (r->parent_key[0] &&
               flex_live_parent_changed(d->live, r->parent_key, r->parent_version, &v)) {
        suppress(d, r, v == 0 ? "cancelled" : "rescheduled");
    } else if (!r->auto_reply && (flex_live_paused(d->live, r->location) || (loc && loc->paused))) {
        hand_back(d, r, FLEX_BACK_PAUSED);
    } else if (!r->auto_reply && loc && quiet_until(d, loc) != 0) {
        hand_back(d, r, FLEX_BACK_QUIET);
    } else {
        return true;
    }
    return false;
}

/* News from the intake first (engine/core/live.h): every job tried after this
 * is checked against it.  Old news is dropped once no job read before it
 * can still be waiting. */
static void take_news(struct dispatch *d)
{
    void *items[64];
    size_t n;
    while ((n = flex_ring_pop_batch(&d->p->news, items, 64)) > 0)
        for (size_t i = 0; i < n; i++) {
            flex_live_apply(d->live, items[i]);
            flex_news_del(items[i]);
        }
    int64_t now = clock_ms(d);
    if (now - d->last_prune_ms >= 1000) {
        d->last_prune_ms = now;
        /* at least the default validity: a job still in the ring may have
         * been read before the oldest news and not be counted yet */
        int64_t keep = d->horizon_ms > (int64_t)d->cfg->engine.message_validity_ms
                           ? d->horizon_ms
                           : (int64_t)d->cfg->engine.message_validity_ms;
        flex_live_prune(d->live, now - keep - 1000);
    }
}

/* What became of a job tried (try_send). */
enum try_result {
    TRY_DONE, /* submitted, or finished (suppressed, expired, failed) */
    TRY_WAIT, /* keep waiting: its location's or number's rate */
    TRY_STOP, /* keep waiting, and stop trying others now: no carrier has
               * room, the ones behind would fail the same way */
};

static enum try_result try_send(struct dispatch *d, struct flex_rec *r, uint64_t now_ns)
{
    const struct flex_cfg_location *loc = flex_cfg_location_find(d->cfg, r->location);
    if (!still_allowed(d, r, loc))
        return TRY_DONE;
    const struct flex_cfg_route *route = flex_cfg_route_for(d->cfg, loc);
    for (unsigned k = r->route_pos; k < route->n; k++) {
        struct carrier *c = active_named(d, d->cfg->carriers[route->idx[k]].name);
        if (!c || !flex_carrier_ready(c->car) || now_ns < c->open_until ||
            flex_live_drained(d->live, c->name))
            continue;
        /* Narrowest first: a token taken from a wider limit is lost when
         * a narrower one then says wait. */
        if (d->limit_loc && limit_take(d, 'l', r->location, now_ns))
            return TRY_WAIT;
        if (d->limit_num && loc && limit_take(d, 'n', loc->phone, now_ns))
            return TRY_WAIT;
        if (d->limit_car && limit_take(d, 'c', c->name, now_ns))
            return TRY_STOP;
        struct flex_carrier_msg m = {.cookie = (uintptr_t)r,
                                     .src = loc ? loc->phone : "",
                                     .dst = r->phone,
                                     .text = r->text,
                                     .len = strlen(r->text),
                                     .receipt = true};
        int rc = flex_carrier_submit(c->car, &m);
        if (rc == FLEX_E_FULL)
            return TRY_STOP;
        r->route_pos = (uint8_t)k;
        if (rc != 0) {
            r->carrier_optout = false; /* (a record is reused: no earlier failure's flag) */
            snprintf(r->reason, sizeof(r->reason), "cannot encode: %s", flex_strerror(rc));
            snprintf(r->carrier, sizeof(r->carrier), "%s", c->name);
            finish(d, r, FLEX_OUT_FAILED);
        }
        return TRY_DONE;
    }
    return TRY_STOP; /* no usable carrier now */
}

/* Waiting jobs first, in order; new ones from the ring only when none is
 * left waiting.  Stops at the first job that no carrier can take now, so a
 * full window costs one try per loop, not one per waiting job. */
static bool pump(struct dispatch *d)
{
    d->now_fresh = false;
    /* acquire, before the news ring is emptied: every news item the intake
     * pushed before storing this stamp is then in what take_news() applies
     * (its release store comes after its pushes). */
    uint64_t news_ns = atomic_load_explicit(&d->p->news_ns, memory_order_acquire);
    take_news(d);
    uint64_t now = flex_mono_ns();
    /* An opt-out, a pause or a cancellation holds against state no older
     * than a second when the job leaves: with the intake's reads of Redis
     * late (Redis slow or unreachable, a mass opt-out import still being
     * read), nothing is sent; waiting jobs stay, new ones join them. */
    bool stale = news_ns == 0 || now - news_ns > NEWS_MAX_AGE_NS;
    if (news_ns && stale != d->stale && (d->nwait > 0 || !stale)) { /* (none yet: starting) */
        d->stale = stale;
        if (stale) {
            atomic_fetch_add_explicit(&d->p->m.send_stale, 1, memory_order_relaxed);
            flex_log(FLEX_LOG_WARN, &lctx, 0,
                     "no news from Redis for %llu ms (opt-outs, pauses): sending stops "
                     "until the intake reads it again",
                     (unsigned long long)((now - news_ns) / 1000000));
        } else {
            flex_log(FLEX_LOG_INFO, &lctx, 0, "news from Redis again: sending goes on");
        }
    }
    size_t keep = 0, i = 0;
    /* Backpressure from the writer: a job the SMSC accepted but whose
     * outcome is not in Redis yet is sent again if flexd dies, so keep that
     * backlog short rather than running ahead of Redis (waiting jobs too:
     * every new job joins them).  Job outcomes only: receipts and patients'
     * texts share the ring, and counting them let a flood of texts (the
     * writer behind on them) stop every send for as long as it lasted.
     * (relaxed: a count read on its own; late only makes this wait longer.) */
    bool stop = stale ||
                d->results_out - atomic_load_explicit(&d->p->results_stored, memory_order_relaxed) >
                    RESULTS_AHEAD;
    for (; i < d->nwait && !stop; i++) {
        enum try_result rc = try_send(d, d->wait[i], now);
        if (rc != TRY_DONE)
            d->wait[keep++] = d->wait[i];
        stop = rc == TRY_STOP;
    }
    for (; i < d->nwait; i++)
        d->wait[keep++] = d->wait[i];
    d->nwait = keep;
    /* New jobs join the waiting ones even when nothing can go now (tried
     * later, in order): an automatic reply among them then goes to the
     * front at once instead of waiting in the ring behind the campaign. */
    void *items[256];
    while (d->nwait + 256 <= WAIT_MAX) {
        size_t n = flex_ring_pop_batch(&d->p->jobs, items, 256);
        if (n == 0)
            break;
        for (size_t k = 0; k < n; k++) {
            struct flex_rec *r = items[k];
            if (r->expires_ms - r->checked_ms > d->horizon_ms)
                d->horizon_ms = r->expires_ms - r->checked_ms;
            enum try_result rc = stop ? TRY_STOP : try_send(d, r, now);
            if (rc != TRY_DONE && r->auto_reply &&
                d->nwait > 0) { /* ahead of the campaign's jobs */
                memmove(d->wait + 1, d->wait, d->nwait * sizeof(d->wait[0]));
                d->wait[0] = r;
                d->nwait++;
            } else if (rc != TRY_DONE) {
                d->wait[d->nwait++] = items[k];
            }
            stop |= rc == TRY_STOP;
        }
    }
    return stop;
}

/* Runs every client; the first waits up to |timeout_ms| for an event (a
 * submit_sm_resp that frees window room wakes it at once), the others are
 * polled. */
static void run_carriers(struct dispatch *d, int timeout_ms)
{
    for (size_t i = 0; i < d->ncarriers; i++) {
        d->now_fresh = false; /* it may wait: events after it read the clock again */
        flex_carrier_run(d->carriers[i].car, timeout_ms);
        timeout_ms = 0;
    }
}

/* Per-carrier gauges for /metrics, ten times a second. */
static void gauges(struct dispatch *d)
{
    uint64_t now = flex_mono_ns();
    if (now - d->last_gauges_ns < 100000000ULL)
        return;
    d->last_gauges_ns = now;
    struct flex_labels *t = &d->p->carrier_gauges;
    for (size_t i = 0; i < d->ncarriers; i++) {
        struct carrier *c = &d->carriers[i];
        if (c->retiring)
            continue;
        bool open = now < c->open_until;
        if (c->open_until && !open) {
            c->open_until = 0;
            flex_log(FLEX_LOG_INFO, &lctx, 0, "carrier %s: circuit closed, back in the routes",
                     c->name);
        }
        flex_labels_set(t, c->name, FLEX_MG_WINDOW, flex_carrier_in_flight(c->car));
        flex_labels_set(t, c->name, FLEX_MG_BOUND, (uint64_t)(c->bound > 0 ? c->bound : 0));
        flex_labels_set(t, c->name, FLEX_MG_CIRCUIT, open);
        flex_labels_set(t, c->name, FLEX_MG_UP, flex_carrier_ready(c->car) && !open);
        flex_labels_set(t, c->name, FLEX_MG_DRAINED, flex_live_drained(d->live, c->name));
    }
    /* The adapters' counters, as what they added since the last look: a
     * carrier rebuilt by a reload starts from 0, its series goes on. */
    for (size_t i = 0; i < d->ncarriers; i++) {
        struct carrier *c = &d->carriers[i];
        uint64_t v[FLEX_CC_N];
        flex_carrier_counters(c->car, v);
        for (unsigned k = 0; k < FLEX_CC_N; k++)
            if (v[k] > c->counted[k]) {
                flex_labels_add(&d->p->carrier_events, c->name, k, v[k] - c->counted[k]);
                c->counted[k] = v[k];
            }
    }
    /* A carrier removed, disabled or retiring by a reload reads 0, not its
     * last value. */
    uint32_t n = atomic_load_explicit(&t->n, memory_order_relaxed); /* this thread writes it */
    for (uint32_t s = 0; s < n; s++) {
        bool running = false;
        for (size_t i = 0; i < d->ncarriers && !running; i++)
            running = !d->carriers[i].retiring && strcmp(d->carriers[i].name, t->names[s]) == 0;
        for (unsigned k = 0; !running && k <= FLEX_MG_DRAINED; k++)
            atomic_store_explicit(&t->v[s][k], 0, memory_order_relaxed);
    }
}

static size_t pending(struct dispatch *d)
{
    size_t n = d->nwait;
    for (size_t i = 0; i < d->ncarriers; i++)
        n += flex_carrier_in_flight(d->carriers[i].car);
    return n;
}

void *flex_dispatch_main(void *arg)
{
    struct dispatch d = {.p = arg};
    flex_qsbr_register(&flex_cfg_qsbr, &d.qr);
    d.cfg = flex_cfg_acquire();
    d.rl = flex_ratelimit_new(0, 1);
    d.live = flex_live_new();
    d.wait = flex_malloc(WAIT_MAX * sizeof(struct flex_rec *));
    d.dfree = flex_malloc(DPOOL_SIZE * sizeof(struct flex_rec *));
    for (size_t i = 0; i < DPOOL_SIZE; i++)
        d.dfree[d.ndfree++] = &d.p->dpool[i];
    reconcile(&d);
    /* relaxed: stop flags are polled. */
    while (!atomic_load_explicit(&d.p->stop_all, memory_order_relaxed)) {
        uint64_t seen = d.cfg->generation; /* before the old snapshot may go */
        flex_qsbr_quiescent(&flex_cfg_qsbr, &d.qr);
        d.cfg = flex_cfg_acquire();
        if (d.cfg->generation != seen) /* a reload (not the address: it may be reused) */
            reconcile(&d);
        send_acks(&d); /* before reap: a retiring carrier's last acks still go */
        reap(&d);
        gauges(&d);
        bool blocked = pump(&d);
        bool idle = d.nwait == 0 && flex_ring_count(&d.p->jobs) == 0;
        /* Never spin: on two cores a spinning thread takes the CPU Redis
         * and the SMSC need.  Blocked (windows full, limits, the writer
         * behind) or idle, wait in the kernel for the carriers' events; new
         * jobs from the intake wait at most that long. */
        run_carriers(&d, idle ? 2 : blocked ? 1 : 0);
        if (idle && d.ncarriers == 0)
            usleep(2000);
    }
    /* Drain: what is in a window gets its answer or becomes ambiguous. */
    for (size_t i = 0; i < d.ncarriers; i++)
        flex_carrier_drain(d.carriers[i].car, 2000);
    (void)pending;
    for (size_t i = 0; i < d.ncarriers; i++)
        flex_carrier_destroy(d.carriers[i].car);
    flex_ratelimit_del(d.rl);
    flex_live_del(d.live);
    flex_free(d.quiet);
    flex_free(d.wait);
    flex_free(d.dfree);
    flex_qsbr_unregister(&flex_cfg_qsbr, &d.qr);
    return NULL;
}
