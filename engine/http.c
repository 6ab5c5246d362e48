#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mem.h"
#include "pipeline.h"

struct flex_http {
    struct MHD_Daemon *d;
    struct flex_pipeline *p;
};

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
        {"flex_inbound_copies_total",
         "Inbound texts a carrier delivered again (same sender, number and text within 2 "
         "minutes): applied once."},
        {"flex_inbound_optouts_total", "Numbers opted out by their own text (STOP...)."},
        {"flex_inbound_optins_total", "Numbers opted back in by their own text (START...)."},
        {"flex_autoreply_capped_total",
         "Automatic replies not sent: the number had its engine.autoreply_per_day."},
    };
    uint64_t vals[] = {
        rd(&p->m.jobs_read),       rd(&p->m.dead_letter),     rd(&p->m.suppressed),
        rd(&p->m.duplicates),      rd(&p->m.expired),         rd(&p->m.accepted),
        rd(&p->m.failed),          rd(&p->m.delivered),       rd(&p->m.inbound),
        rd(&p->m.redis_errors),    rd(&p->m.events_overflow), rd(&p->m.receipts_duplicate),
        rd(&p->m.send_suppressed), rd(&p->m.send_held),       rd(&p->m.send_deferred),
        rd(&p->m.inbound_copies),  rd(&p->m.optouts),         rd(&p->m.optins),
        rd(&p->m.autoreply_capped)};
    size_t n = 0;
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]) && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
                              help[i][0], help[i][1], help[i][0], help[i][0],
                              (unsigned long long)vals[i]);
    if (n < cap)
        n += (size_t)snprintf(
            buf + n, cap - n,
            "# HELP flex_ring_fill Items waiting in a pipeline ring.\n# TYPE flex_ring_fill gauge\n"
            "flex_ring_fill{ring=\"jobs\"} %zu\nflex_ring_fill{ring=\"results\"} %zu\n"
            "# HELP flex_jobs_in_flight Jobs taken and not yet written back.\n"
            "# TYPE flex_jobs_in_flight gauge\nflex_jobs_in_flight %d\n"
            "# HELP flex_jobs_held Jobs held for paused locations.\n"
            "# TYPE flex_jobs_held gauge\nflex_jobs_held %llu\n"
            "# HELP flex_carrier_sessions_bound SMPP sessions bound now.\n"
            "# TYPE flex_carrier_sessions_bound gauge\nflex_carrier_sessions_bound %d\n"
            "# HELP flex_redis_up 1 when the last Redis round trip worked.\n"
            "# TYPE flex_redis_up gauge\nflex_redis_up %d\n",
            flex_ring_count(&p->jobs), flex_ring_count(&p->results),
            atomic_load_explicit(&p->inflight, memory_order_relaxed),
            (unsigned long long)atomic_load_explicit(&p->held, memory_order_relaxed),
            atomic_load_explicit(&p->carriers_bound, memory_order_relaxed),
            atomic_load_explicit(&p->redis_ok, memory_order_relaxed) ? 1 : 0);
    if (n >= cap)
        n = cap - 1;
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
    /* relaxed: gauges sampled by the intake every second. */
    if (n < cap)
        n += (size_t)snprintf(
            buf + n, cap - n,
            "# HELP flex_queue_depth Jobs in Redis by where they wait (all flexd processes).\n"
            "# TYPE flex_queue_depth gauge\n"
            "flex_queue_depth{queue=\"unread\"} %lld\n"
            "flex_queue_depth{queue=\"pending\"} %lld\n"
            "flex_queue_depth{queue=\"scheduled\"} %lld\n",
            (long long)atomic_load_explicit(&p->queue_lag, memory_order_relaxed),
            (long long)atomic_load_explicit(&p->queue_pending, memory_order_relaxed),
            (long long)atomic_load_explicit(&p->queue_scheduled, memory_order_relaxed));
    return n < cap ? n : cap - 1;
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

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    (void)version, (void)upload, (void)upload_size, (void)con_cls;
    struct flex_http *h = cls;
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

int flex_http_start(struct flex_http **out, const char *hostport, struct flex_pipeline *p)
{
    char host[64];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof(host))
        return FLEX_E_INVAL;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return FLEX_E_INVAL;
    struct flex_http *h = flex_calloc(1, sizeof(*h));
    h->p = p;
    h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!h->d) {
        flex_free(h);
        return -EADDRINUSE;
    }
    *out = h;
    return 0;
}

void flex_http_stop(struct flex_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    flex_free(h);
}
