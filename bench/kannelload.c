/*
 * kannelload: drives Kannel as its users do, for `make bench-compare`
 * (bench/compare.sh): N messages through smsbox's sendsms HTTP interface,
 * each asking for a delivery report, and the reports taken back on a small
 * HTTP server of its own.
 *
 *   kannelload --url URL --count N --dlr-listen 127.0.0.1:PORT
 *              [--clients 64] [--timeout S] [--out FILE.json]
 *
 * URL is sendsms with its credentials ("http://127.0.0.1:13013/cgi-bin/
 * sendsms?username=u&password=p"); each request adds to= (fictional
 * numbers, +1202555 and four digits), from=, text=, dlr-mask=1 (delivered)
 * and dlr-url= pointing back at --dlr-listen with the message's index.
 * --clients requests are in flight at once over kept-alive connections
 * (libcurl multi, one thread).  A request counts as accepted when Kannel
 * answers 202 (or 200).  It ends when every accepted message has its
 * report, or at --timeout.  Prints, and writes to --out, a JSON object:
 * asked, accepted, refused, receipts (distinct messages reported
 * delivered), seconds (from the first request to the last report) and
 * end_to_end_mps (receipts / seconds).  Exit 0 when every message was
 * accepted and reported, 1 otherwise, 2 for bad usage.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct opts {
    const char *url, *listen, *out;
    long count, clients, timeout_s;
};

struct drive {
    struct opts o;
    _Atomic(unsigned char) *seen; /* per message: its report came */
    _Atomic long receipts;
    _Atomic long long last_receipt_ns;
    long accepted, refused;
};

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* GET /dlr?i=INDEX&s=TYPE: Kannel's report for message INDEX (TYPE 1:
 * delivered).  Anything else is answered 400. */
static enum MHD_Result on_dlr(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_len, void **con_cls)
{
    struct drive *d = cls;
    (void)version, (void)upload, (void)upload_len, (void)con_cls;
    const char *i = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "i");
    const char *s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "s");
    unsigned status = MHD_HTTP_BAD_REQUEST;
    char *end = NULL;
    long idx = i ? strtol(i, &end, 10) : -1;
    if (strcmp(method, "GET") == 0 && strcmp(url, "/dlr") == 0 && end && *end == '\0' && idx >= 0 &&
        idx < d->o.count) {
        status = MHD_HTTP_OK;
        /* relaxed: counters read by the main thread once the run ends or
         * polls them; the exchange makes each message count once */
        if (s && strcmp(s, "1") == 0 &&
            atomic_exchange_explicit(&d->seen[idx], 1, memory_order_relaxed) == 0) {
            atomic_fetch_add_explicit(&d->receipts, 1, memory_order_relaxed);
            atomic_store_explicit(&d->last_receipt_ns, now_ns(), memory_order_relaxed);
        }
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p, (void)arg;
    return size * n;
}

/* The request for message |i| into |buf|. */
static void request_url(const struct drive *d, CURL *e, long i, const char *dlr_base, char *buf,
                        size_t cap)
{
    char dlr[256];
    snprintf(dlr, sizeof(dlr), "%s/dlr?i=%ld&s=%%d", dlr_base, i);
    char *dlr_esc = curl_easy_escape(e, dlr, 0);
    snprintf(buf, cap,
             "%s&to=%%2B1202555%04ld&from=%%2B13125550100&text=Reminder%%3A+cleaning+tomorrow+"
             "at+9%%3A30.+Reply+C+to+confirm.&dlr-mask=1&dlr-url=%s",
             d->o.url, i % 10000, dlr_esc ? dlr_esc : "");
    curl_free(dlr_esc);
}

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option longs[] = {{"url", required_argument, NULL, 'u'},
                                          {"count", required_argument, NULL, 'n'},
                                          {"dlr-listen", required_argument, NULL, 'l'},
                                          {"clients", required_argument, NULL, 'c'},
                                          {"timeout", required_argument, NULL, 't'},
                                          {"out", required_argument, NULL, 'o'},
                                          {NULL, 0, NULL, 0}};
    *o = (struct opts){.clients = 64, .timeout_s = 600};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'u': o->url = optarg; break;
        case 'n': o->count = atol(optarg); break;
        case 'l': o->listen = optarg; break;
        case 'c': o->clients = atol(optarg); break;
        case 't': o->timeout_s = atol(optarg); break;
        case 'o': o->out = optarg; break;
        default: return -1;
        }
    }
    if (optind != argc || !o->url || !o->listen || o->count < 1 || o->clients < 1 ||
        o->clients > 1024 || o->timeout_s < 1 || !strchr(o->listen, ':'))
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct drive d = {0};
    if (parse(argc, argv, &d.o) != 0) {
        fputs("usage: kannelload --url URL --count N --dlr-listen 127.0.0.1:PORT [--clients 64]"
              " [--timeout S] [--out FILE.json]\n",
              stderr);
        return 2;
    }
    d.seen = calloc((size_t)d.o.count, sizeof(*d.seen));
    if (!d.seen)
        return 1;
    unsigned port = (unsigned)atoi(strrchr(d.o.listen, ':') + 1);
    struct MHD_Daemon *mhd =
        MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD, (uint16_t)port, NULL, NULL, on_dlr, &d,
                         MHD_OPTION_CONNECTION_LIMIT, 1024U, MHD_OPTION_END);
    if (!mhd) {
        fprintf(stderr, "kannelload: cannot listen on %s\n", d.o.listen);
        return 1;
    }
    char dlr_base[64];
    snprintf(dlr_base, sizeof(dlr_base), "http://%s", d.o.listen);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, d.o.clients);
    CURL **easy = calloc((size_t)d.o.clients, sizeof(*easy));
    char(*urls)[1024] = calloc((size_t)d.o.clients, sizeof(*urls));
    if (!easy || !urls)
        return 1;
    long next = 0, inflight = 0;
    long long start = now_ns(), deadline = start + d.o.timeout_s * 1000000000LL;
    for (long k = 0; k < d.o.clients && next < d.o.count; k++) {
        easy[k] = curl_easy_init();
        curl_easy_setopt(easy[k], CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(easy[k], CURLOPT_PRIVATE, (void *)(intptr_t)k);
        curl_easy_setopt(easy[k], CURLOPT_TIMEOUT, 30L);
        request_url(&d, easy[k], next++, dlr_base, urls[k], sizeof(urls[k]));
        curl_easy_setopt(easy[k], CURLOPT_URL, urls[k]);
        curl_multi_add_handle(m, easy[k]);
        inflight++;
    }
    while (now_ns() < deadline) {
        int running;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            long code = 0;
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result == CURLE_OK && (code == 202 || code == 200))
                d.accepted++;
            else
                d.refused++;
            void *priv;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
            long k = (long)(intptr_t)priv;
            curl_multi_remove_handle(m, e);
            inflight--;
            if (next < d.o.count) { /* the same handle: its connection is kept alive */
                request_url(&d, e, next++, dlr_base, urls[k], sizeof(urls[k]));
                curl_easy_setopt(e, CURLOPT_URL, urls[k]);
                curl_multi_add_handle(m, e);
                inflight++;
            }
        }
        if (inflight == 0 && atomic_load_explicit(&d.receipts, memory_order_relaxed) >= d.accepted)
            break;
        if (inflight > 0)
            curl_multi_poll(m, NULL, 0, 100, NULL);
        else
            usleep(10000); /* waiting for reports only */
    }
    long receipts = atomic_load_explicit(&d.receipts, memory_order_relaxed);
    long long last = atomic_load_explicit(&d.last_receipt_ns, memory_order_relaxed);
    double secs = last > start ? (double)(last - start) / 1e9 : 0;
    char json[512];
    snprintf(json, sizeof(json),
             "{\"asked\": %ld, \"accepted\": %ld, \"refused\": %ld, \"receipts\": %ld, "
             "\"seconds\": %.3f, \"end_to_end_mps\": %.1f}\n",
             d.o.count, d.accepted, d.refused, receipts, secs,
             secs > 0 ? (double)receipts / secs : 0.0);
    fputs(json, stdout);
    if (d.o.out) {
        FILE *f = fopen(d.o.out, "w");
        if (f) {
            fputs(json, f);
            fclose(f);
        }
    }
    for (long k = 0; k < d.o.clients; k++)
        if (easy[k]) {
            curl_multi_remove_handle(m, easy[k]);
            curl_easy_cleanup(easy[k]);
        }
    curl_multi_cleanup(m);
    curl_global_cleanup();
    MHD_stop_daemon(mhd);
    free(easy);
    free(urls);
    free(d.seen);
    return d.accepted == d.o.count && receipts == d.accepted ? 0 : 1;
}
