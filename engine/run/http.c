#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "carrier.h"
#include "config.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "pipeline.h"
#include "qsbr.h"
#include "str.h"
#include "webhook.h"

/* Webhooks taken and waiting for the writer to store them, at most: each
 * holds its connection (MHD counts it against the limits); beyond, 503. */
#define FLEX_HTTP_WAITING_MAX 1024

/* A POST body being received: bounded by FLEX_WEBHOOK_MAX_BODY.  Once
 * taken, the request waits (its connection suspended) in the listener's
 * list until the writer has stored it: hook_done gives it its answer. */
struct upload {
    enum { UP_BODY, UP_WAITING, UP_ANSWERED } state; /* under flex_http.mu once taken */
    unsigned answer;                                 /* UP_ANSWERED: the status */
    struct MHD_Connection *conn;                     /* UP_WAITING: the one suspended */
    struct upload *prev, *next;                      /* ... in flex_http.waiting */
    bool started;                                    /* the headers seen: the body follows */
    bool query_long;                                 /* a query string over its bound: refused */
    /* The request's query string as sent (signed with the URL): NULL when
     * there is none; at most QUERY_MAX bytes. */
    char *query;
    size_t len;
    bool too_big;
    bool framing; /* Content-Length twice, or with Transfer-Encoding: refused */
    /* FLEX_WEBHOOK_MAX_BODY bytes, allocated once a webhook's headers are
     * read: a GET, or a connection that never gets that far, holds only
     * this struct (a slow client costs ~100 bytes, not the body's size). */
    char *body;
};

#define QUERY_MAX 1023

struct flex_http {
    struct MHD_Daemon *d;
    struct MHD_Daemon *admin; /* [http] admin_listen, or NULL */
    struct flex_pipeline *p;
    struct flex_qsbr_reader qr; /* the listener thread's, registered on first use */
    bool registered;
    struct flex_webhook_form form; /* one request at a time: one thread */
    /* Webhooks waiting for the writer (listener and writer threads). */
    pthread_mutex_t mu;
    struct upload *waiting;
    int nwaiting;
    /* Refusals logged at most once a minute (anyone on the internet can
     * send them; flex_webhooks_refused_total has them all): listener only. */
    int64_t refused_logged_ms;
    unsigned long refused_unlogged;
};

static const struct flex_log_ctx hlog = {.component = "http"};

static uint64_t rd(_Atomic uint64_t *c)
{
    /* relaxed: monotonic counters, each read on its own. */
    return atomic_load_explicit(c, memory_order_relaxed);
}

static size_t metrics(struct flex_pipeline *p, char *buf, size_t cap)
{
    static const char *const help[][2] = {
        {"flex_jobs_read_total", "Jobs read from the intake stream by this process."},
        {"flex_jobs_dead_letter_total", "Jobs dead-lettered (undecodable, invalid)."},
        {"flex_jobs_suppressed_total", "Jobs not sent: the number opted out."},
        {"flex_jobs_duplicate_total", "Jobs not sent: their id was sent before."},
        {"flex_jobs_expired_total", "Jobs not sent: past their validity."},
        {"flex_jobs_accepted_total", "Jobs accepted by a carrier."},
        {"flex_jobs_failed_total", "Jobs failed (carrier refusal or undeliverable receipt)."},
        {"flex_jobs_delivered_total", "Delivery receipts saying delivered."},
        {"flex_inbound_total", "Texts received from patients."},
        {"flex_redis_errors_total",
         "Redis round trips that failed (connection lost, or writes refused), intake and writer."},
        {"flex_events_overflow_total",
         "Receipts and inbound texts that found no free record (the writer far behind)."},
        {"flex_receipts_duplicate_total",
         "Final receipts a carrier sent again for a job: not counted or announced twice."},
        {"flex_send_suppressed_total",
         "Jobs stopped just before a carrier by a rule that changed while they waited "
         "(opt-out, sandbox, appointment changed)."},
        {"flex_send_held_total",
         "Jobs handed back to be held: their location was paused while they waited."},
        {"flex_send_deferred_total", "Jobs scheduled again: quiet hours began while they waited."},
        {"flex_send_stale_total",
         "Times sending stopped with jobs waiting: the intake's last complete read of opt-outs, "
         "pauses and changes older than a second (Redis slow or unreachable)."},
        {"flex_config_reloads_applied_total",
         "Configuration reloads applied (SIGHUP, flexctl reload)."},
        {"flex_config_reloads_refused_total",
         "Configuration reloads refused (an invalid file): the running configuration stays."},
        {"flex_inbound_copies_total",
         "Inbound texts a carrier delivered again (same sender, number and text within 2 "
         "minutes): applied once."},
        {"flex_inbound_optouts_total", "Numbers opted out by their own text (STOP...)."},
        {"flex_inbound_optins_total", "Numbers opted back in by their own text (START...)."},
        {"flex_autoreply_capped_total",
         "Automatic replies not sent: the number had its engine.autoreply_per_day."},
        {"flex_webhooks_accepted_total", "Carrier webhooks taken (signed, well formed)."},
        {"flex_webhooks_refused_total",
         "Carrier webhooks refused: bad or missing signature, unknown carrier, malformed."},
        {"flex_webhooks_busy_total", "Carrier webhooks answered 503: the writer far behind."},
        {"flex_acks_dropped_total",
         "Receipts and texts stored whose answer to the carrier (deliver_sm_resp) was dropped "
         "(the dispatcher far behind): the carrier sends them again."},
        {"flex_inbound_parts_total",
         "Parts of longer inbound texts stored in Redis to be joined (by whichever flexd "
         "receives the last)."},
        {"flex_inbound_joined_total", "Inbound texts made whole from parts by this process."},
        {"flex_inbound_parts_refused_total",
         "Parts of longer inbound texts not stored: past engine.inbound_parts_kb."},
        {"flex_inbound_retries_total",
         "Transactions applying inbound texts done again: a key they read changed before "
         "they ran (another flexd applied the same text, the appointment changed)."},
    };
    uint64_t vals[] = {
        rd(&p->m.jobs_read),
        rd(&p->m.dead_letter),
        rd(&p->m.suppressed),
        rd(&p->m.duplicates),
        rd(&p->m.expired),
        rd(&p->m.accepted),
        rd(&p->m.failed),
        rd(&p->m.delivered),
        rd(&p->m.inbound),
        rd(&p->m.redis_errors),
        rd(&p->m.events_overflow),
        rd(&p->m.receipts_duplicate),
        rd(&p->m.send_suppressed),
        rd(&p->m.send_held),
        rd(&p->m.send_deferred),
        rd(&p->m.send_stale),
        rd(&p->m.reloads_applied),
        rd(&p->m.reloads_refused),
        rd(&p->m.inbound_copies),
        rd(&p->m.optouts),
        rd(&p->m.optins),
        rd(&p->m.autoreply_capped),
        rd(&p->m.webhooks_ok),
        rd(&p->m.webhooks_refused),
        rd(&p->m.webhooks_busy),
        rd(&p->m.acks_dropped),
        rd(&p->m.inbound_parts),
        rd(&p->m.inbound_joined),
        rd(&p->m.inbound_parts_refused),
        rd(&p->m.inbound_retries),
    };
    _Static_assert(sizeof(vals) / sizeof(vals[0]) == sizeof(help) / sizeof(help[0]),
                   "a value per counter");
    size_t n = 0;
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        flex_metric_render(help[i][0], "counter", help[i][1], vals[i], buf, cap, &n);
    /* relaxed: a gauge read on its own */
    uint64_t news = atomic_load_explicit(&p->news_ns, memory_order_relaxed), mono = flex_mono_ns();
    char news_age[32] = "NaN";
    if (news)
        snprintf(news_age, sizeof(news_age), "%.3f",
                 mono > news ? (double)(mono - news) / 1e9 : 0.0);
    flex_metrics_put(
        buf, cap, &n,
        "# HELP flex_ring_fill Items waiting in a pipeline ring.\n# TYPE flex_ring_fill gauge\n"
        "flex_ring_fill{ring=\"jobs\"} %zu\nflex_ring_fill{ring=\"results\"} %zu\n"
        "# HELP flex_jobs_in_flight Jobs taken and not yet written back.\n"
        "# TYPE flex_jobs_in_flight gauge\nflex_jobs_in_flight %d\n"
        "# HELP flex_jobs_held Jobs held for paused locations.\n"
        "# TYPE flex_jobs_held gauge\nflex_jobs_held %llu\n"
        "# HELP flex_carrier_sessions_bound SMPP sessions bound now.\n"
        "# TYPE flex_carrier_sessions_bound gauge\nflex_carrier_sessions_bound %d\n"
        "# HELP flex_redis_up 1 when the last Redis round trip worked.\n"
        "# TYPE flex_redis_up gauge\nflex_redis_up %d\n"
        "# HELP flex_webhooks_waiting Carrier webhooks taken and not yet stored (their "
        "connections held open until then).\n"
        "# TYPE flex_webhooks_waiting gauge\nflex_webhooks_waiting %d\n"
        "# HELP flex_news_age_seconds Age of the intake's last complete read of opt-outs, "
        "pauses and changes; past 1 nothing is sent (NaN: none yet).\n"
        "# TYPE flex_news_age_seconds gauge\nflex_news_age_seconds %s\n"
        "# HELP flex_config_last_reload_success 0 when the last reload was refused (the file "
        "is not what runs), else 1.\n"
        "# TYPE flex_config_last_reload_success gauge\nflex_config_last_reload_success %d\n",
        flex_ring_count(&p->jobs), flex_ring_count(&p->results),
        atomic_load_explicit(&p->inflight, memory_order_relaxed),
        (unsigned long long)atomic_load_explicit(&p->held, memory_order_relaxed),
        atomic_load_explicit(&p->carriers_bound, memory_order_relaxed),
        atomic_load_explicit(&p->redis_ok, memory_order_relaxed) ? 1 : 0,
        atomic_load_explicit(&p->webhooks_waiting, memory_order_relaxed), news_age,
        atomic_load_explicit(&p->reload_refused, memory_order_relaxed) ? 0 : 1);
    static const char *const outcomes[FLEX_METRICS_VALUES] = {"accepted", "failed", "delivered",
                                                              "expired",  NULL,     NULL};
    static const char *const decided[FLEX_METRICS_VALUES] = {NULL,      NULL,         NULL,
                                                             "expired", "suppressed", "scheduled"};
    static const char *const window[FLEX_METRICS_VALUES] = {"x", NULL, NULL, NULL, NULL, NULL};
    static const char *const bound[FLEX_METRICS_VALUES] = {NULL, "x", NULL, NULL, NULL, NULL};
    flex_labels_render(&p->by_carrier, "flex_carrier_messages_total",
                       "Outcomes per carrier (accepted, failed, delivered by receipt, expired).",
                       "counter", "carrier", "status", outcomes, buf, cap, &n);
    flex_labels_render(&p->by_location, "flex_location_messages_total",
                       "Outcomes per location after the carrier (accepted, failed, delivered, "
                       "expired).",
                       "counter", "location", "status", outcomes, buf, cap, &n);
    flex_labels_render(&p->loc_intake, "flex_location_jobs_total",
                       "Jobs per location decided before any carrier (expired, suppressed, "
                       "scheduled).",
                       "counter", "location", "status", decided, buf, cap, &n);
    static const char *const cevents[FLEX_METRICS_VALUES] = {
        [FLEX_CC_THROTTLED] = "throttled",
        [FLEX_CC_AMBIGUOUS] = "ambiguous",
        [FLEX_CC_RECONNECTS] = "reconnects",
        [FLEX_CC_INBOUND_CUT] = "inbound_cut",
        [FLEX_CC_INBOUND_LOST] = "inbound_lost",
        [FLEX_CC_IDS_EVICTED] = "ids_evicted",
        [FLEX_CC_EARLY_UNMATCHED] = "early_receipts_unmatched"};
    _Static_assert(FLEX_CC_N <= FLEX_METRICS_VALUES, "a value slot per carrier counter");
    flex_labels_render(&p->carrier_events, "flex_carrier_events_total",
                       "What a carrier's adapter counted: throttled answers, submits with no "
                       "answer (ambiguous), reconnects (SMPP sessions bound again; HTTP requests "
                       "that found no connection), inbound texts cut or multipart sets lost to "
                       "reassembly caps, ids evicted from the local map, receipts passed on "
                       "unmatched while waiting for their submit's answer.",
                       "counter", "carrier", "event", cevents, buf, cap, &n);
    flex_labels_render(&p->carrier_gauges, "flex_carrier_window_in_flight",
                       "Messages submitted to a carrier and not yet answered.", "gauge", "carrier",
                       NULL, window, buf, cap, &n);
    flex_labels_render(&p->carrier_gauges, "flex_carrier_sessions",
                       "Sessions bound now, per carrier.", "gauge", "carrier", NULL, bound, buf,
                       cap, &n);
    static const char *const circuit[FLEX_METRICS_VALUES] = {NULL, NULL, "x", NULL, NULL, NULL};
    flex_labels_render(&p->carrier_gauges, "flex_carrier_circuit_open",
                       "1 while a carrier is out of the routes after temporary failures in a row.",
                       "gauge", "carrier", NULL, circuit, buf, cap, &n);
    static const char *const intents[FLEX_METRICS_VALUES] = {
        NULL, "other", "stop", "start", "help", "confirm", "reschedule", "emergency"};
    flex_labels_render(&p->inbound_by, "flex_inbound_texts_total",
                       "Patients' texts per location (the number texted, else the reply "
                       "context; \"unknown\" when neither) by intent.",
                       "counter", "location", "intent", intents, buf, cap, &n);
    flex_histogram_render(&p->accept_ms, "flex_accept_latency_seconds",
                          "From enqueue to the carrier accepting the message.", buf, cap, &n);
    flex_histogram_render(&p->receipt_ms, "flex_receipt_latency_seconds",
                          "From the carrier accepting a message to its delivery receipt.", buf, cap,
                          &n);
    static const char *const up[FLEX_METRICS_VALUES] = {NULL, NULL, NULL, "x", NULL, NULL};
    flex_labels_render(&p->carrier_gauges, "flex_carrier_up",
                       "1 while a carrier can take messages (bound or reachable, circuit closed); "
                       "0 down, disabled or removed.",
                       "gauge", "carrier", NULL, up, buf, cap, &n);
    static const char *const drained[FLEX_METRICS_VALUES] = {NULL, NULL, NULL, NULL, "x", NULL};
    flex_labels_render(&p->carrier_gauges, "flex_carrier_drained",
                       "1 while an operator drains the carrier (flexctl carrier drain): no new "
                       "message goes to it.",
                       "gauge", "carrier", NULL, drained, buf, cap, &n);
    static const char *const held[FLEX_METRICS_VALUES] = {"x", NULL, NULL, NULL, NULL, NULL};
    flex_labels_render(&p->held_by, "flex_location_held",
                       "Jobs held in this process for a paused location.", "gauge", "location",
                       NULL, held, buf, cap, &n);
    flex_metrics_put(buf, cap, &n,
                     "# HELP flex_suppressed_total Jobs not sent, by the rule that "
                     "stopped them (when read or just before the carrier).\n"
                     "# TYPE flex_suppressed_total counter\n");
    for (unsigned k = 0; k < FLEX_SUP_N; k++)
        flex_metrics_put(buf, cap, &n, "flex_suppressed_total{reason=\"%s\"} %llu\n",
                         flex_suppress_names[k], (unsigned long long)rd(&p->m.suppressed_by[k]));
    flex_metrics_put(
        buf, cap, &n,
        "# HELP flex_parts_sent_total SMS parts carriers accepted, by coding (UCS-2 parts "
        "hold 70 characters, GSM-7 ones 160).\n"
        "# TYPE flex_parts_sent_total counter\n"
        "flex_parts_sent_total{encoding=\"gsm7\"} %llu\n"
        "flex_parts_sent_total{encoding=\"ucs2\"} %llu\n",
        (unsigned long long)rd(&p->m.parts_gsm7), (unsigned long long)rd(&p->m.parts_ucs2));
    /* relaxed: gauges sampled by the intake every second; a sample older
     * than 5 s (Redis unreachable) is stale and shown as NaN, not frozen. */
    int64_t sampled = atomic_load_explicit(&p->queue_sampled_ms, memory_order_relaxed),
            oldest = atomic_load_explicit(&p->queue_oldest_ms, memory_order_relaxed),
            now = flex_now_ms();
    bool fresh = sampled && now - sampled < 5000;
    char v[4][32];
    long long q[3] = {(long long)atomic_load_explicit(&p->queue_lag, memory_order_relaxed),
                      (long long)atomic_load_explicit(&p->queue_pending, memory_order_relaxed),
                      (long long)atomic_load_explicit(&p->queue_scheduled, memory_order_relaxed)};
    for (int i = 0; i < 3; i++)
        snprintf(v[i], sizeof(v[i]), fresh ? "%lld" : "NaN", q[i]);
    snprintf(v[3], sizeof(v[3]), fresh ? "%.3f" : "NaN",
             oldest && oldest < now ? (double)(now - oldest) / 1000.0 : 0.0);
    flex_metrics_put(
        buf, cap, &n,
        "# HELP flex_queue_depth Jobs in Redis by where they wait (all flexd processes); NaN "
        "while Redis cannot be read.\n"
        "# TYPE flex_queue_depth gauge\n"
        "flex_queue_depth{queue=\"unread\"} %s\n"
        "flex_queue_depth{queue=\"pending\"} %s\n"
        "flex_queue_depth{queue=\"scheduled\"} %s\n"
        "# HELP flex_queue_oldest_age_seconds Age of the oldest job of flex:jobs not yet "
        "settled (unread or pending), 0 when none; NaN while Redis cannot be read.\n"
        "# TYPE flex_queue_oldest_age_seconds gauge\n"
        "flex_queue_oldest_age_seconds %s\n",
        v[0], v[1], v[2], v[3]);
    return n;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static void count(_Atomic uint64_t *c)
{
    /* relaxed: a metrics counter. */
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* "/webhooks/NAME/status" or ".../inbound": the carrier's name into |name|
 * and whether it is inbound; false for any other path. */
static bool webhook_path(const char *url, char *name, size_t namesz, bool *inbound)
{
    static const char pre[] = "/webhooks/";
    if (strncmp(url, pre, sizeof(pre) - 1) != 0)
        return false;
    const char *n = url + sizeof(pre) - 1, *slash = strchr(n, '/');
    if (!slash || slash == n || (size_t)(slash - n) >= namesz)
        return false;
    if (strcmp(slash, "/status") == 0)
        *inbound = false;
    else if (strcmp(slash, "/inbound") == 0)
        *inbound = true;
    else
        return false;
    memcpy(name, n, (size_t)(slash - n));
    name[slash - n] = '\0';
    return true;
}

/* The URL the carrier signed: [carrier] webhook_url + "/status|/inbound"
 * when set (flexd behind a proxy), else http://HOST/PATH as the request
 * came. */
static int signed_url(struct MHD_Connection *c, const struct flex_cfg_carrier *cc, const char *url,
                      const char *query, bool inbound, char *out, size_t outsz)
{
    int n;
    const char *qm = query[0] ? "?" : "";
    if (cc->webhook_url) {
        size_t bl = strlen(cc->webhook_url);
        while (bl > 0 && cc->webhook_url[bl - 1] == '/')
            bl--;
        n = snprintf(out, outsz, "%.*s/%s%s%s", (int)bl, cc->webhook_url,
                     inbound ? "inbound" : "status", qm, query);
    } else {
        const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
        if (!host)
            return -1;
        n = snprintf(out, outsz, "http://%s%s%s%s", host, url, qm, query);
    }
    return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

static void unlink_waiting(struct flex_http *h, struct upload *u)
{
    if (u->prev)
        u->prev->next = u->next;
    else
        h->waiting = u->next;
    if (u->next)
        u->next->prev = u->prev;
    u->prev = u->next = NULL;
    h->nwaiting--;
    /* relaxed: a gauge. */
    atomic_store_explicit(&h->p->webhooks_waiting, h->nwaiting, memory_order_relaxed);
}

/* A checked webhook's event into a record for the writer, and its request
 * set to wait until the writer has stored it (the carrier is answered
 * only then: a flexd that dies first never said 200, so the carrier sends
 * it again).  Called from the access handler, the one place MHD lets a
 * connection be suspended.  -1: too many waiting, or the writer's ring
 * full; nothing was taken. */
static int hand_to_writer(struct flex_http *h, struct MHD_Connection *c, struct upload *u,
                          const char *carrier, const struct flex_carrier_event *ev)
{
    struct flex_rec *r = flex_malloc(sizeof(*r));
    r->heap = true; /* the writer frees it */
    flex_rec_report(r, carrier, ev, flex_now_ms());
    r->hook = (uintptr_t)u;
    void *item = r;
    /* Held across the push: the writer's hook_done, however quick, finds
     * the request listed and suspended. */
    pthread_mutex_lock(&h->mu);
    if (h->nwaiting >= FLEX_HTTP_WAITING_MAX || flex_ring_push_batch(&h->p->hooks, &item, 1) != 1) {
        pthread_mutex_unlock(&h->mu);
        flex_free(r);
        return -1;
    }
    u->state = UP_WAITING;
    u->conn = c;
    u->prev = NULL;
    u->next = h->waiting;
    if (h->waiting)
        h->waiting->prev = u;
    h->waiting = u;
    h->nwaiting++;
    /* relaxed: a gauge. */
    atomic_store_explicit(&h->p->webhooks_waiting, h->nwaiting, memory_order_relaxed);
    MHD_suspend_connection(c);
    pthread_mutex_unlock(&h->mu);
    return 0;
}

/* flex_pipeline.hook_done: the writer stored the webhook |hook| (or, from
 * flex_http_stop, nobody will).  The request is resumed outside the lock
 * (MHD takes its own locks in resume); a suspended connection cannot end
 * meanwhile, and the writer is joined before flex_http_stop, so |u| is
 * alive until this resumes it. */
static void hook_done(void *ctx, uintptr_t hook, unsigned status)
{
    struct flex_http *h = ctx;
    struct upload *u = (struct upload *)hook;
    pthread_mutex_lock(&h->mu);
    if (u->state != UP_WAITING) { /* cannot happen: each hook is answered once */
        pthread_mutex_unlock(&h->mu);
        return;
    }
    unlink_waiting(h, u);
    u->answer = status;
    u->state = UP_ANSWERED; /* read by the handler after the resume, under mu */
    struct MHD_Connection *c = u->conn;
    pthread_mutex_unlock(&h->mu);
    MHD_resume_connection(c);
}

/* Checks and takes one webhook whose body is whole.  Answers 200 (once
 * stored, or nothing to do), 403 (unknown carrier, bad or missing
 * signature), 400 (malformed), 413 (too big) or 503 (Redis unreachable,
 * or the writer far behind: the carrier sends it again). */
/* Counts a request's Content-Length and Transfer-Encoding headers. */
static enum MHD_Result framing_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind, (void)value;
    unsigned *n = cls;
    if (strcasecmp(key, "Content-Length") == 0)
        n[0]++;
    else if (strcasecmp(key, "Transfer-Encoding") == 0)
        n[1]++;
    return MHD_YES;
}

/* Whether the body's length is said one way only.  Two Content-Length
 * headers, or one with a Transfer-Encoding, are read one way by
 * libmicrohttpd and maybe another by a proxy in front: a request smuggled
 * past the proxy's checks (RFC 9112, 6.3).  Such a request is refused. */
static bool framing_ok(struct MHD_Connection *c)
{
    unsigned n[2] = {0, 0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, framing_header, n);
    return n[0] <= 1 && n[1] <= 1 && !(n[0] && n[1]);
}

static enum MHD_Result webhook(struct flex_http *h, struct MHD_Connection *c, const char *url,
                               const char *name, bool inbound, struct upload *u)
{
    if (!h->registered) {
        flex_qsbr_register(&flex_cfg_qsbr, &h->qr);
        h->registered = true;
    } else {
        flex_qsbr_online(&flex_cfg_qsbr, &h->qr);
    }
    const struct flex_cfg *cfg = flex_cfg_acquire();
    const struct flex_cfg_carrier *cc = flex_cfg_carrier_find(cfg, name);
    unsigned status = 200;
    const char *why = NULL;
    char surl[2048];
    struct flex_webhook_error err;
    struct flex_carrier_event ev;
    const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Twilio-Signature");
    /* relaxed: a flag polled; once flexd drains, a webhook taken could
     * be lost (the writer stops): the carrier sends it again later */
    if (atomic_load_explicit(&h->p->stop_intake, memory_order_relaxed)) {
        status = 503, why = "shutting down";
    } else if (!atomic_load_explicit(&h->p->redis_ok, memory_order_relaxed)) {
        status = 503, why = "redis unreachable"; /* it could not be stored */
    } else if (u->framing) {
        status = 400, why = "body length given twice or two ways";
    } else if (u->too_big) {
        status = 413, why = "body too large";
    } else if (u->query_long) {
        status = 414, why = "query string too long";
    } else if (!cc || cc->type != FLEX_CARRIER_HTTP || !cc->auth_token) {
        status = 403, why = "no such HTTP carrier";
    } else if (flex_webhook_form_parse(&h->form, u->body, u->len, &err) < 0) {
        status = 400, why = err.reason;
    } else if (signed_url(c, cc, url, u->query ? u->query : "", inbound, surl, sizeof(surl)) != 0 ||
               !flex_webhook_verify(cc->auth_token, strlen(cc->auth_token), surl, strlen(surl),
                                    &h->form, sig, sig ? strlen(sig) : 0)) {
        status = 403, why = sig ? "signature does not match" : "no X-Twilio-Signature";
    } else {
        int rc = flex_carrier_webhook(cc, inbound, &h->form, &ev);
        if (rc < 0)
            status = 400, why = "fields missing or unknown status";
        else if (rc == 1 && hand_to_writer(h, c, u, cc->name, &ev) != 0)
            status = 503, why = "busy";
        else if (rc == 1)
            status = 0; /* taken: answered once stored (hook_done) */
    }
    flex_qsbr_offline(&h->qr); /* nothing of the snapshot is kept past here */
    if (status == 0) {
        count(&h->p->m.webhooks_ok);
        return MHD_YES;
    }
    if (status == 200) {
        count(&h->p->m.webhooks_ok);
        return reply(c, 200, "text/xml", "<Response/>", 11);
    }
    count(status == 503 ? &h->p->m.webhooks_busy : &h->p->m.webhooks_refused);
    int64_t now = flex_now_ms();
    if (status != 503 && now - h->refused_logged_ms < 60000) {
        h->refused_unlogged++;
    } else if (status != 503) { /* no field of the request: it may carry a patient's text */
        flex_log(FLEX_LOG_WARN, &hlog, 0,
                 "webhook for carrier '%.64s' refused (%u): %s (and %lu more in the minute "
                 "before: flex_webhooks_refused_total)",
                 name, status, why, h->refused_unlogged);
        h->refused_logged_ms = now;
        h->refused_unlogged = 0;
    }
    return reply(c, status, "text/plain", why, strlen(why));
}

static enum MHD_Result serve_get(struct flex_http *h, struct MHD_Connection *c, const char *url,
                                 const char *method);

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    (void)version;
    struct flex_http *h = cls;
    char name[65];
    bool inbound;
    if (strcmp(method, "POST") == 0 && webhook_path(url, name, sizeof(name), &inbound)) {
        struct upload *u = *con_cls; /* (uri_seen's) */
        if (!u->started) {           /* the headers: the body follows */
            u->started = true;
            if (!framing_ok(c)) { /* answered before any body is read */
                u->framing = true;
                return webhook(h, c, url, name, inbound, u);
            }
            if (!u->body)
                u->body = flex_malloc(FLEX_WEBHOOK_MAX_BODY);
            u->state = UP_BODY;
            u->len = 0;
            u->too_big = false;
            return MHD_YES;
        }
        if (u->state != UP_BODY) { /* resumed: the writer is done with it */
            pthread_mutex_lock(&h->mu);
            unsigned status = u->answer;
            pthread_mutex_unlock(&h->mu);
            return status == 200 ? reply(c, 200, "text/xml", "<Response/>", 11)
                                 : reply(c, status, "text/plain", "not stored", 10);
        }
        if (*upload_size > 0) { /* a piece of the body, kept within its bound */
            if (*upload_size > FLEX_WEBHOOK_MAX_BODY - u->len)
                u->too_big = true;
            else
                memcpy(u->body + u->len, upload, *upload_size);
            u->len += u->too_big ? 0 : *upload_size;
            *upload_size = 0;
            return MHD_YES;
        }
        return webhook(h, c, url, name, inbound, u);
    }
    return serve_get(h, c, url, method);
}

/* The admin listener ([http] admin_listen): the same GET paths, no
 * webhooks, on a port of its own that clients of the public one cannot
 * fill. */
static enum MHD_Result admin_handler(void *cls, struct MHD_Connection *c, const char *url,
                                     const char *method, const char *version, const char *upload,
                                     size_t *upload_size, void **con_cls)
{
    (void)version, (void)upload, (void)upload_size, (void)con_cls;
    return serve_get(cls, c, url, method);
}

/* GET /healthz, /readyz, /metrics. */
static enum MHD_Result serve_get(struct flex_http *h, struct MHD_Connection *c, const char *url,
                                 const char *method)
{
    if (strcmp(method, "GET") != 0)
        return reply(c, 405, "text/plain", "method not allowed\n", 19);
    if (strcmp(url, "/healthz") == 0)
        return reply(c, 200, "text/plain", "ok\n", 3);
    if (strcmp(url, "/readyz") == 0) {
        /* relaxed: health gauges. */
        bool redis = atomic_load_explicit(&h->p->redis_ok, memory_order_relaxed);
        int bound = atomic_load_explicit(&h->p->carriers_bound, memory_order_relaxed);
        if (redis && bound > 0)
            return reply(c, 200, "text/plain", "ready\n", 6);
        const char *why =
            !redis ? "not ready: redis unreachable\n" : "not ready: no carrier session bound\n";
        return reply(c, 503, "text/plain", why, strlen(why));
    }
    if (strcmp(url, "/metrics") == 0) {
        size_t cap = 256 * 1024;
        char *buf = flex_malloc(cap);
        size_t n = metrics(h->p, buf, cap);
        enum MHD_Result rc = reply(c, 200, "text/plain; version=0.0.4", buf, n);
        flex_free(buf);
        return rc;
    }
    return reply(c, 404, "text/plain", "not found\n", 10);
}

/* A request's state, made as its request line is read: its raw query
 * string (MHD gives the handler the path only, and a signature covers the
 * URL as the carrier wrote it, query included). */
static void *uri_seen(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls, (void)c;
    struct upload *u = flex_calloc(1, sizeof(*u));
    const char *q = uri ? strchr(uri, '?') : NULL;
    if (q) {
        size_t n = strlen(q + 1);
        if (n > QUERY_MAX) {
            u->query_long = true;
        } else {
            u->query = flex_malloc(n + 1);
            memcpy(u->query, q + 1, n + 1);
        }
    }
    return u;
}

/* Frees a request's upload state when MHD is done with it. */
static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    struct upload *u = *con_cls;
    if (u) {
        flex_free(u->query);
        flex_free(u->body);
    }
    flex_free(u);
    *con_cls = NULL;
}

/* |hostport| ("127.0.0.1:9100", "[::1]:9100", "localhost:9100", as
 * flex_cfgval_hostport takes them) resolved; NULL when it does not. */
static struct addrinfo *listen_addrs(const char *hostport)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof(host))
        return NULL;
    const char *h0 = hostport, *h1 = colon;
    if (*h0 == '[' && h1 > h0 + 1 && h1[-1] == ']') /* [IPv6]:port */
        h0++, h1--;
    memcpy(host, h0, (size_t)(h1 - h0));
    host[h1 - h0] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE},
                    *ai = NULL;
    return getaddrinfo(host, colon + 1, &hints, &ai) == 0 ? ai : NULL;
}

int flex_http_start(struct flex_http **out, const char *hostport, struct flex_pipeline *p)
{
    struct addrinfo *ais = listen_addrs(hostport);
    if (!ais)
        return FLEX_E_INVAL;
    struct flex_http *h = flex_calloc(1, sizeof(*h));
    h->p = p;
    pthread_mutex_init(&h->mu, NULL);
    p->hook_ctx = h; /* before the first request can come */
    p->hook_done = hook_done;
    /* The listener faces carriers: epoll (no FD_SETSIZE ceiling), a bound
     * on connections in all and per client address, and a timeout on idle
     * or slow ones, so that slow or many clients of one address cannot
     * take /healthz and /readyz away from the others.  A name's addresses
     * are tried in order ("localhost" may give ::1 where IPv6 is off). */
    for (struct addrinfo *ai = ais; ai && !h->d; ai = ai->ai_next)
        h->d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                                    (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                                0, NULL, NULL, handler, h, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)FLEX_HTTP_TIMEOUT_S,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned)FLEX_HTTP_MAX_CONNECTIONS,
                                MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                (unsigned)FLEX_HTTP_MAX_PER_ADDRESS, MHD_OPTION_NOTIFY_COMPLETED,
                                completed, NULL, MHD_OPTION_URI_LOG_CALLBACK, uri_seen, NULL,
                                MHD_OPTION_END);
    freeaddrinfo(ais);
    if (!h->d) {
        p->hook_done = NULL;
        pthread_mutex_destroy(&h->mu);
        flex_free(h);
        return -EADDRINUSE;
    }
    *out = h;
    return 0;
}

int flex_http_admin_start(struct flex_http *h, const char *hostport)
{
    struct addrinfo *ais = listen_addrs(hostport);
    if (!ais)
        return FLEX_E_INVAL;
    for (struct addrinfo *ai = ais; ai && !h->admin; ai = ai->ai_next)
        h->admin = MHD_start_daemon(
            MHD_USE_EPOLL_INTERNAL_THREAD | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0, NULL,
            NULL, admin_handler, h, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)FLEX_HTTP_TIMEOUT_S,
            MHD_OPTION_CONNECTION_LIMIT, 64U, MHD_OPTION_END);
    freeaddrinfo(ais);
    return h->admin ? 0 : -EADDRINUSE;
}

void flex_http_stop(struct flex_http *h)
{
    if (!h)
        return;
    if (h->admin)
        MHD_stop_daemon(h->admin);
    /* Webhooks the writer (joined by now) did not store: 503, and every
     * connection resumed, as MHD requires before it stops. */
    while (h->waiting)
        hook_done(h, (uintptr_t)h->waiting, 503);
    MHD_stop_daemon(h->d);
    h->p->hook_done = NULL;
    pthread_mutex_destroy(&h->mu);
    if (h->registered)
        flex_qsbr_unregister(&flex_cfg_qsbr, &h->qr);
    flex_free(h);
}
