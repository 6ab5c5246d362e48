/*
 * The HTTP carrier: a Twilio-style Messages API behind the carrier
 * interface (engine/core/carrier.h), over libcurl's multi interface.
 *
 * It runs on the dispatcher's thread, like the SMPP clients: run() drives
 * curl_multi_perform and waits in curl_multi_poll, so requests, their
 * answers and the events they become stay on the one thread that owns the
 * carrier (no locks, no handoff; libcurl keeps the connections alive and
 * reuses them, multiplexing over HTTP/2 where the server offers it).
 *
 *   POST {url}/2010-04-01/Accounts/{sid}/Messages.json
 *        To, From, Body[, StatusCallback]      (basic auth sid:token)
 *
 * Answers, normalized:
 *   2xx           accepted; the key is the message's "sid", lower case
 *   429, 503      throttled: the message waits (not failed) and the carrier
 *                 sends nothing until Retry-After (1 s when absent)
 *   other 5xx     sent again after a backoff with jitter (3 tries), then
 *                 failed as temporary (the dispatcher fails over)
 *   401, 403      temporary (another carrier may take it): credentials
 *   other 4xx     permanent, with the carrier's "code" and "message";
 *                 21610 (recipient unsubscribed) says opted out
 *   no connection temporary, not ambiguous; the carrier counts as down
 *                 (not ready) for a backoff up to reconnect_max
 *   no answer     after the request went (timeout, reset): ambiguous, by
 *                 [carrier] ambiguous (docs/smpp.md)
 *
 * Profile json (docs/config.md): the same answers, but the request is a
 * JSON object {json_to, json_from, json_body[, json_callback]} POSTed to
 * url as it is, with the auth_header line, and the id, the error code and
 * its text are read from the answer at the configured dotted paths.
 *
 * Webhooks (status callbacks and inbound texts) are read by the HTTP
 * listener and normalized here too: flex_http_webhook_event.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "carrier.h"
#include "cfgval.h"
#include "config.h"
#include "err.h"
#include "http_carrier.h"
#include "log.h"
#include "ratelimit.h"
#include "mem.h"
#include "sms.h"
#include "str.h"
#include "version.h"
#include "webhook.h"

#define RESP_MAX 4096       /* of an answer kept (the rest is dropped) */
#define TRIES_5XX 3         /* tries of a message answered 5xx */
#define BACKOFF_BASE_MS 200 /* first retry after a 5xx; doubles */
#define THROTTLE_DEFAULT_MS 1000
#define QUEUE_FACTOR 4 /* messages held (queued + in flight) per unit of window */

struct hreq {
    struct hreq *next;          /* in the queue */
    struct hreq *fprev, *fnext; /* in flight */
    uint64_t cookie;
    char *body;
    size_t len;
    unsigned tries;
    uint64_t throttled_ns; /* first refused 429/503 (0: never) */
    uint64_t due_ns;       /* not sent before */
    CURL *easy;
    char resp[RESP_MAX];
    size_t resp_len;
};

struct http_carrier {
    struct flex_carrier base; /* first: the interface's pointer is ours */
    CURLM *multi;
    char *messages_url; /* {url}/2010-04-01/Accounts/{sid}/Messages.json */
    char *sid, *token;  /* basic auth (the token is a secret: never logged) */
    char *status_callback;
    char *ca;
    bool json; /* profile json */
    char *auth_header;
    char *j_to, *j_from, *j_body, *j_callback, *j_id, *j_code, *j_message;
    bool verify;
    unsigned window;
    long connect_ms, timeout_ms;
    uint64_t reconnect_max_ns;
    bool ambiguous_retry;
    /* A message refused 429/503 goes back to the dispatcher (the next
     * carrier of its route, its expiry checked) once refused this long: an
     * outage answered 503 must not hold it for as long as it lasts. */
    uint64_t throttle_timeout_ns;
    struct hreq *head, *tail; /* waiting to be sent, in order */
    struct hreq *flying;      /* sent, awaiting their answers */
    size_t queued, inflight;
    uint64_t paused_until; /* Retry-After, mono ns */
    struct flex_aimd aimd; /* the rate a 429 or 503 taught (engine/base/ratelimit.h) */
    uint64_t down_until;   /* no connection: not ready until then */
    uint64_t backoff_ns;
    bool up, draining;
    uint64_t rng;
    CURL **spare; /* easy handles of finished requests, for the next ones */
    size_t nspare;
    struct flex_webhook_form form; /* scratch for encoding bodies */
    unsigned max_parts;            /* [engine] max_parts: a longer text is refused */
    struct flex_sms *sms;          /* scratch for counting a text's parts */
    struct curl_slist *headers;
    struct flex_log_ctx log;
    uint64_t n_throttled, n_ambiguous, n_unreachable; /* flex_carrier_counters */
};

static const struct flex_log_ctx *lctx(const struct http_carrier *h)
{
    return &h->log;
}

static struct http_carrier *hc_of(struct flex_carrier *c)
{
    return (struct http_carrier *)c;
}

static const struct http_carrier *chc_of(const struct flex_carrier *c)
{
    return (const struct http_carrier *)c;
}

void flex_http_id_key(const char *id, size_t len, char out[FLEX_CARRIER_KEY_SZ])
{
    size_t n = len < FLEX_CARRIER_KEY_SZ - 1 ? len : FLEX_CARRIER_KEY_SZ - 1;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    out[n] = '\0';
}

/* ---- the queue -------------------------------------------------------------- */

static void q_push(struct http_carrier *h, struct hreq *r, bool front)
{
    r->next = NULL;
    if (front) {
        r->next = h->head;
        h->head = r;
        if (!h->tail)
            h->tail = r;
    } else if (h->tail) {
        h->tail->next = r;
        h->tail = r;
    } else {
        h->head = h->tail = r;
    }
    h->queued++;
}

static struct hreq *q_pop(struct http_carrier *h)
{
    struct hreq *r = h->head;
    if (!r)
        return NULL;
    h->head = r->next;
    if (!h->head)
        h->tail = NULL;
    h->queued--;
    return r;
}

static void req_free(struct hreq *r)
{
    flex_free(r->body);
    flex_free(r);
}

/* ---- events ----------------------------------------------------------------- */

static void emit_session(struct http_carrier *h, bool up)
{
    if (h->up == up)
        return;
    h->up = up;
    struct flex_carrier_event ev;
    memset(&ev, 0, offsetof(struct flex_carrier_event, keys));
    ev.kind = FLEX_CEV_SESSION;
    ev.up = up;
    flex_carrier_emit(&h->base, &ev);
}

static void emit_failed(struct http_carrier *h, struct hreq *r, uint32_t code, bool temporary,
                        bool ambiguous, bool opted_out, const char *reason)
{
    struct flex_carrier_event ev;
    memset(&ev, 0, offsetof(struct flex_carrier_event, keys));
    ev.kind = FLEX_CEV_FAILED;
    ev.cookie = r->cookie;
    ev.code = code;
    ev.temporary = temporary;
    ev.ambiguous = ambiguous;
    ev.opted_out = opted_out;
    ev.reason = reason;
    flex_carrier_emit(&h->base, &ev);
}

/* ---- answers ------------------------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct hreq *r = arg;
    size_t len = size * n, room = RESP_MAX - 1 - r->resp_len;
    size_t take = len < room ? len : room; /* bounded: the rest is dropped */
    memcpy(r->resp + r->resp_len, data, take);
    r->resp_len += take;
    r->resp[r->resp_len] = '\0';
    return len;
}

/* The member at dotted |path| ("error.code") of |j|, or NULL. */
static json_t *json_at(json_t *j, const char *path)
{
    char part[129];
    while (j && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof(part))
            return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        j = json_object_get(j, part);
        path += n + (path[n] == '.');
    }
    return j;
}

/* The answer's JSON member at |path| as a string into |out| (empty when
 * absent; a number is written out). */
static void json_str(const struct hreq *r, const char *path, char *out, size_t outsz)
{
    out[0] = '\0';
    json_t *j = json_loadb(r->resp, r->resp_len, 0, NULL);
    json_t *v = json_at(j, path);
    if (json_is_string(v))
        flex_strlcpy(out, json_string_value(v), outsz);
    else if (json_is_integer(v))
        snprintf(out, outsz, "%lld", (long long)json_integer_value(v));
    json_decref(j);
}

/* A 429 or 503: the rate lowered (once per burst of refusals) and the
 * carrier paused for its Retry-After. */
static void throttle_hit(struct http_carrier *h, uint64_t now, uint64_t retry_after_ns)
{
    h->n_throttled++;
    if (flex_aimd_refused(&h->aimd, now) && now + retry_after_ns > h->paused_until)
        h->paused_until = now + retry_after_ns;
}

/* The answer's "sid" without a JSON parser (a 2xx answer is ~800 bytes
 * and parsing it whole showed in profiles): the member "sid" followed by
 * a string of letters and digits.  Anything else: the parser decides. */
static bool quick_sid(const struct hreq *r, char *out, size_t outsz)
{
    const char *p = r->resp, *end = r->resp + r->resp_len;
    while ((p = memmem(p, (size_t)(end - p), "\"sid\"", 5)) != NULL) {
        const char *v = p + 5;
        p += 5;
        while (v < end && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r'))
            v++;
        if (v >= end || *v != ':')
            continue;
        for (v++; v < end && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r'); v++)
            ;
        if (v >= end || *v != '"')
            return false;
        size_t n = 0;
        for (v++;
             v < end && n + 1 < outsz &&
             ((*v >= '0' && *v <= '9') || (*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z'));
             v++)
            out[n++] = *v;
        out[n] = '\0';
        return n > 0 && v < end && *v == '"';
    }
    return false;
}

static void requeue(struct http_carrier *h, struct hreq *r, uint64_t due, bool front)
{
    if (h->draining) { /* nothing is sent again while draining: another carrier takes it */
        emit_failed(h, r, 0, true, false, false, "carrier draining");
        req_free(r);
        return;
    }
    r->due_ns = due;
    q_push(h, r, front);
}

static void answered(struct http_carrier *h, struct hreq *r, long status, uint64_t now)
{
    char sid[FLEX_CARRIER_KEY_SZ], code[24], msg[160];
    if (status >= 200 && status < 300) {
        if (h->json)
            json_str(r, h->j_id, sid, sizeof(sid));
        else if (!quick_sid(r, sid, sizeof(sid)))
            json_str(r, "sid", sid, sizeof(sid));
        flex_aimd_accepted(&h->aimd);
        emit_session(h, true);
        h->backoff_ns = 0;
        if (!sid[0]) { /* taken, but with nothing to match its receipt by */
            emit_failed(h, r, (uint32_t)status, false, true, false, "answer without a sid");
            req_free(r);
            return;
        }
        struct flex_carrier_event ev;
        memset(&ev, 0, offsetof(struct flex_carrier_event, keys));
        ev.kind = FLEX_CEV_ACCEPTED;
        ev.cookie = r->cookie;
        ev.nkeys = 1;
        flex_http_id_key(sid, strlen(sid), ev.keys[0]);
        flex_carrier_emit(&h->base, &ev);
        req_free(r);
        return;
    }
    emit_session(h, true); /* it answered */
    if (status == 429 || status == 503) {
        curl_off_t ra = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &ra);
        uint64_t wait =
            ra > 0 && ra < 3600 ? (uint64_t)ra * 1000000000ULL : THROTTLE_DEFAULT_MS * 1000000ULL;
        throttle_hit(h, now, wait);
        if (!r->throttled_ns)
            r->throttled_ns = now;
        if (now - r->throttled_ns >= h->throttle_timeout_ns) {
            emit_failed(h, r, (uint32_t)status, true, false, false,
                        status == 429 ? "throttled (429) past throttle_timeout"
                                      : "unavailable (503) past throttle_timeout");
            req_free(r);
            return;
        }
        requeue(h, r, 0, true); /* first again once the carrier takes more */
        return;
    }
    json_str(r, h->json ? h->j_code : "code", code, sizeof(code));
    json_str(r, h->json ? h->j_message : "message", msg, sizeof(msg));
    uint32_t c =
        code[0] >= '0' && code[0] <= '9' ? (uint32_t)strtoul(code, NULL, 10) : (uint32_t)status;
    if (h->json && code[0] && !(code[0] >= '0' && code[0] <= '9') && msg[0]) {
        char both[200]; /* a code that is not a number stays in the reason */
        snprintf(both, sizeof(both), "%s: %s", code, msg);
        flex_strlcpy(msg, both, sizeof(msg));
    }
    if (status >= 500) {
        if (++r->tries < TRIES_5XX) {
            h->rng = h->rng * 6364136223846793005ULL + 1442695040888963407ULL;
            uint64_t backoff = (uint64_t)BACKOFF_BASE_MS << (r->tries - 1);
            uint64_t jitter = (h->rng >> 33) % (backoff / 2 + 1);
            requeue(h, r, now + (backoff + jitter) * 1000000ULL, false);
            return;
        }
        emit_failed(h, r, c, true, false, false, msg[0] ? msg : "server error");
    } else if (status == 401 || status == 403) {
        flex_log(FLEX_LOG_ERROR, lctx(h), 0, "carrier refused our credentials (HTTP %ld)", status);
        emit_failed(h, r, c, true, false, false, "credentials refused");
    } else {
        /* 21610: Twilio's "recipient unsubscribed" (another API's codes mean
         * other things) */
        emit_failed(h, r, c, false, false, !h->json && c == 21610, msg[0] ? msg : "refused");
    }
    req_free(r);
}

/* No answer.  Before the request went out (no connection): temporary, and
 * the carrier is down for a while; after: ambiguous. */
static void unanswered(struct http_carrier *h, struct hreq *r, CURLcode rc, uint64_t now)
{
    long sent = 0;
    curl_easy_getinfo(r->easy, CURLINFO_REQUEST_SIZE, &sent);
    const char *why = curl_easy_strerror(rc);
    if (sent == 0 || rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
        rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION) {
        h->backoff_ns = h->backoff_ns ? h->backoff_ns * 2 : 100000000ULL;
        if (h->backoff_ns > h->reconnect_max_ns)
            h->backoff_ns = h->reconnect_max_ns;
        if (h->up || h->down_until == 0)
            flex_log(FLEX_LOG_WARN, lctx(h), 0, "carrier unreachable: %s; retried in %llu ms", why,
                     (unsigned long long)(h->backoff_ns / 1000000ULL));
        h->down_until = now + h->backoff_ns;
        h->n_unreachable++;
        emit_session(h, false);
        emit_failed(h, r, 0, true, false, false, why);
    } else {
        h->n_ambiguous++;
        emit_failed(h, r, 0, h->ambiguous_retry, true, false, why);
    }
    req_free(r);
}

static void fly(struct http_carrier *h, struct hreq *r)
{
    r->fprev = NULL;
    r->fnext = h->flying;
    if (h->flying)
        h->flying->fprev = r;
    h->flying = r;
    h->inflight++;
}

static void land(struct http_carrier *h, struct hreq *r)
{
    if (r->fprev)
        r->fprev->fnext = r->fnext;
    else
        h->flying = r->fnext;
    if (r->fnext)
        r->fnext->fprev = r->fprev;
    h->inflight--;
    curl_multi_remove_handle(h->multi, r->easy);
}

/* A finished request's handle, kept (its options stay set) for the next. */
static void easy_done(struct http_carrier *h, CURL *e)
{
    if (h->nspare < h->window)
        h->spare[h->nspare++] = e;
    else
        curl_easy_cleanup(e);
}

static void finished(struct http_carrier *h, CURLMsg *m, uint64_t now)
{
    /* |m| is not to be read once its handle leaves the multi handle */
    CURL *e = m->easy_handle;
    CURLcode result = m->data.result;
    struct hreq *r = NULL;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
    land(h, r);
    long status = 0;
    if (result == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (result == CURLE_OK)
        answered(h, r, status, now);
    else
        unanswered(h, r, result, now);
    easy_done(h, e);
}

/* ---- requests ----------------------------------------------------------------- */

static CURL *easy_for(struct http_carrier *h, struct hreq *r)
{
    r->resp_len = 0;
    r->resp[0] = '\0';
    if (h->nspare > 0) { /* everything else is set already */
        CURL *e = h->spare[--h->nspare];
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->len);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
        return e;
    }
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    curl_easy_setopt(e, CURLOPT_URL, h->messages_url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->len);
    if (!h->json) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, h->sid);
        curl_easy_setopt(e, CURLOPT_PASSWORD, h->token);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->connect_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, h->verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, h->verify ? 2L : 0L);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (h->ca)
        curl_easy_setopt(e, CURLOPT_CAINFO, h->ca);
    return e;
}

/* Sends what may go now: the window has room, the carrier is neither
 * throttling nor down, and the head's backoff has passed. */
static void start_requests(struct http_carrier *h, uint64_t now)
{
    while (h->head && h->inflight < h->window && now >= h->paused_until && now >= h->down_until &&
           now >= h->head->due_ns && flex_aimd_take(&h->aimd, now)) {
        struct hreq *r = q_pop(h);
        CURL *e = easy_for(h, r);
        if (!e || curl_multi_add_handle(h->multi, e) != CURLM_OK) {
            if (e)
                curl_easy_cleanup(e);
            emit_failed(h, r, 0, true, false, false, "cannot start a request");
            req_free(r);
            continue;
        }
        r->easy = e;
        fly(h, r);
    }
}

/* The json profile's request body, or NULL when |m| cannot be written. */
static char *json_body(const struct http_carrier *h, const struct flex_carrier_msg *m, size_t *len)
{
    json_t *o = json_object();
    json_object_set_new(o, h->j_to, json_string(m->dst));
    json_object_set_new(o, h->j_from, json_string(m->src));
    json_object_set_new(o, h->j_body, json_stringn(m->text, m->len));
    if (h->j_callback && h->status_callback && m->receipt)
        json_object_set_new(o, h->j_callback, json_string(h->status_callback));
    char *s = json_object_size(o) >= 3 ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        return NULL;
    char *d = flex_strdup(s);
    free(s); /* jansson's allocation */
    *len = strlen(d);
    return d;
}

static int http_submit(struct flex_carrier *c, const struct flex_carrier_msg *m)
{
    struct http_carrier *h = hc_of(c);
    if (h->draining || h->queued + h->inflight >= (size_t)h->window * QUEUE_FACTOR)
        return FLEX_E_FULL;
    /* engine.max_parts holds here as on SMPP: the carrier would split the
     * text itself, and each part is billed.  Counted the way an SMSC
     * splits it (GSM-7 or UCS-2, with a UDH). */
    struct flex_text_error terr;
    int prc = flex_sms_encode(h->sms, m->text, m->len, h->max_parts, &terr);
    if (prc != 0)
        return prc;
    if (h->json) {
        size_t len;
        char *body = json_body(h, m, &len);
        if (!body)
            return FLEX_E_UTF8; /* jansson takes UTF-8 only */
        struct hreq *r = flex_calloc(1, sizeof(*r));
        r->cookie = m->cookie;
        r->body = body;
        r->len = len;
        q_push(h, r, false);
        return 0;
    }
    struct flex_webhook_form *f = &h->form;
    flex_webhook_form_init(f);
    int rc = flex_webhook_form_add(f, "To", 2, m->dst, strlen(m->dst));
    if (rc == 0)
        rc = flex_webhook_form_add(f, "From", 4, m->src, strlen(m->src));
    if (rc == 0)
        rc = flex_webhook_form_add(f, "Body", 4, m->text, m->len);
    if (rc == 0 && h->status_callback && m->receipt)
        rc = flex_webhook_form_add(f, "StatusCallback", 14, h->status_callback,
                                   strlen(h->status_callback));
    if (rc != 0)
        return rc == FLEX_E_NOSPACE ? FLEX_E_TOOLONG : rc;
    char buf[3 * FLEX_WEBHOOK_MAX_VALUE + 512];
    int n = flex_webhook_form_encode(f, buf, sizeof(buf));
    if (n < 0)
        return FLEX_E_TOOLONG;
    struct hreq *r = flex_calloc(1, sizeof(*r));
    r->cookie = m->cookie;
    r->body = flex_strndup(buf, (size_t)n);
    r->len = (size_t)n;
    q_push(h, r, false);
    return 0;
}

static int drive(struct http_carrier *h, int timeout_ms)
{
    uint64_t now = flex_mono_ns();
    flex_aimd_tick(&h->aimd, now);
    start_requests(h, now);
    int running = 0, events = 0;
    curl_multi_perform(h->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left)))
        if (m->msg == CURLMSG_DONE) {
            finished(h, m, now);
            events++;
        }
    if (events == 0 && timeout_ms > 0) {
        /* Wait for an answer, or until the next request may go. */
        int wait = timeout_ms;
        uint64_t next = h->head ? h->head->due_ns : 0;
        if (h->paused_until > next)
            next = h->paused_until;
        if (h->down_until > next)
            next = h->down_until;
        if (h->head && next > now && (next - now) / 1000000ULL < (uint64_t)wait)
            wait = (int)((next - now) / 1000000ULL) + 1;
        if (h->head && h->aimd.rate > 0 && wait > 5)
            wait = 5; /* paced: the next token is near */
        curl_multi_poll(h->multi, NULL, 0, wait, NULL);
        curl_multi_perform(h->multi, &running);
        now = flex_mono_ns();
        while ((m = curl_multi_info_read(h->multi, &left)))
            if (m->msg == CURLMSG_DONE) {
                finished(h, m, now);
                events++;
            }
        start_requests(h, now);
    }
    return events;
}

static int http_run(struct flex_carrier *c, int timeout_ms)
{
    return drive(hc_of(c), timeout_ms);
}

static bool http_ready(const struct flex_carrier *c)
{
    const struct http_carrier *h = chc_of(c);
    uint64_t now = flex_mono_ns();
    return !h->draining && now >= h->down_until && now >= h->paused_until &&
           h->queued + h->inflight < (size_t)h->window * QUEUE_FACTOR;
}

static size_t http_in_flight(const struct flex_carrier *c)
{
    const struct http_carrier *h = chc_of(c);
    return h->queued + h->inflight;
}

static void http_drain(struct flex_carrier *c, int timeout_ms)
{
    struct http_carrier *h = hc_of(c);
    h->draining = true;
    struct hreq *r;
    while ((r = q_pop(h))) { /* never sent: another carrier or process may take them */
        emit_failed(h, r, 0, true, false, false, "shutting down");
        req_free(r);
    }
    uint64_t end = flex_mono_ns() + (uint64_t)timeout_ms * 1000000ULL;
    while (h->inflight > 0 && flex_mono_ns() < end)
        drive(h, 10);
    /* What is still out has no answer: ambiguous, as the policy says. */
    while ((r = h->flying)) {
        land(h, r);
        curl_easy_cleanup(r->easy);
        h->n_ambiguous++;
        emit_failed(h, r, 0, h->ambiguous_retry, true, false, "no answer before the drain ended");
        req_free(r);
    }
    while ((r = q_pop(h))) { /* (cannot happen: nothing is queued again while draining) */
        emit_failed(h, r, 0, true, false, false, "shutting down");
        req_free(r);
    }
    emit_session(h, false); /* its sessions no longer count for readiness */
}

static void http_destroy(struct flex_carrier *c)
{
    struct http_carrier *h = hc_of(c);
    struct hreq *r;
    while ((r = q_pop(h)))
        req_free(r);
    while ((r = h->flying)) { /* destroyed without a drain: no events any more */
        land(h, r);
        curl_easy_cleanup(r->easy);
        req_free(r);
    }
    while (h->nspare > 0)
        curl_easy_cleanup(h->spare[--h->nspare]);
    flex_free(h->spare);
    flex_free(h->sms);
    curl_multi_cleanup(h->multi);
    curl_slist_free_all(h->headers);
    flex_free(h->messages_url);
    flex_free(h->sid);
    if (h->token) {
        flex_mem_zero(h->token, strlen(h->token));
        flex_free(h->token);
    }
    flex_free(h->status_callback);
    flex_free(h->ca);
    if (h->auth_header) {
        flex_mem_zero(h->auth_header, strlen(h->auth_header));
        flex_free(h->auth_header);
    }
    char *names[] = {h->j_to, h->j_from, h->j_body,   h->j_callback,
                     h->j_id, h->j_code, h->j_message};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        flex_free(names[i]);
    flex_free(h);
}

static void http_counters(const struct flex_carrier *c, uint64_t out[FLEX_CC_N])
{
    const struct http_carrier *h = chc_of(c);
    out[FLEX_CC_THROTTLED] = h->n_throttled;
    out[FLEX_CC_AMBIGUOUS] = h->n_ambiguous;
    out[FLEX_CC_RECONNECTS] = h->n_unreachable;
}

static const struct flex_carrier_ops http_ops = {
    .counters = http_counters,
    .submit = http_submit,
    .run = http_run,
    .ready = http_ready,
    .in_flight = http_in_flight,
    .drain = http_drain,
    .destroy = http_destroy,
};

/* A config string of its own, NULL when absent or empty. */
static char *dup_or_null(const char *s)
{
    return s && *s ? flex_strdup(s) : NULL;
}

struct flex_carrier *flex_http_carrier_new(const struct flex_cfg *cfg,
                                           const struct flex_cfg_carrier *cc, flex_carrier_cb cb,
                                           void *arg)
{
    static bool global;
    if (!global) { /* once per process, on the dispatcher's thread before any other use */
        curl_global_init(CURL_GLOBAL_DEFAULT);
        global = true;
    }
    struct http_carrier *h = flex_calloc(1, sizeof(*h));
    flex_aimd_reset(&h->aimd, 20, flex_mono_ns());
    h->max_parts = cfg->engine.max_parts >= 1 && cfg->engine.max_parts <= FLEX_SMS_MAX_PARTS
                       ? cfg->engine.max_parts
                       : FLEX_SMS_MAX_PARTS;
    h->sms = flex_malloc(sizeof(*h->sms));
    h->base.ops = &http_ops;
    flex_strlcpy(h->base.name, cc->name, sizeof(h->base.name));
    h->base.cb = cb;
    h->base.arg = arg;
    h->log = (struct flex_log_ctx){.component = "http", .id = h->base.name};
    h->json = cc->profile == FLEX_HTTP_JSON;
    if (h->json) { /* the URL as it is, the names and paths of the config */
        h->messages_url = dup_or_null(cc->url);
        h->auth_header = dup_or_null(cc->auth_header);
        h->j_to = dup_or_null(cc->json_to);
        h->j_from = dup_or_null(cc->json_from);
        h->j_body = dup_or_null(cc->json_body);
        h->j_callback = dup_or_null(cc->json_callback);
        h->j_id = dup_or_null(cc->json_id);
        h->j_code = dup_or_null(cc->json_error_code);
        h->j_message = dup_or_null(cc->json_error_message);
    } else {
        size_t ul = strlen(cc->url);
        while (ul > 0 && cc->url[ul - 1] == '/')
            ul--;
        size_t need = ul + strlen(cc->account_sid) + 64;
        h->messages_url = flex_malloc(need);
        snprintf(h->messages_url, need, "%.*s/2010-04-01/Accounts/%s/Messages.json", (int)ul,
                 cc->url, cc->account_sid);
    }
    h->sid = dup_or_null(cc->account_sid);
    h->token = dup_or_null(cc->auth_token);
    h->status_callback = dup_or_null(cc->status_callback);
    h->ca = dup_or_null(cc->tls_ca);
    h->verify = cc->tls_verify;
    h->window = cc->window ? cc->window : 64;
    h->connect_ms = (long)cc->connect_timeout_ms;
    h->timeout_ms = (long)cc->response_timeout_ms;
    h->throttle_timeout_ns = cc->throttle_timeout_ms * 1000000ULL;
    h->reconnect_max_ns = cc->reconnect_max_ms * 1000000ULL;
    h->ambiguous_retry = cc->ambiguous_retry;
    h->rng = flex_mono_ns() | 1;
    h->spare = flex_calloc(h->window, sizeof(*h->spare));
    h->multi = curl_multi_init();
    curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)h->window);
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)h->window);
    h->headers = curl_slist_append(NULL, "Accept: application/json");
    h->headers = curl_slist_append(h->headers, "User-Agent: flexd/" FLEX_VERSION);
    h->headers = curl_slist_append(h->headers, "Expect:"); /* no 100-continue round trip */
    if (h->json)
        h->headers = curl_slist_append(h->headers, "Content-Type: application/json");
    if (h->auth_header) /* a secret: in the request only, never logged */
        h->headers = curl_slist_append(h->headers, h->auth_header);
    char host[256] = "";
    const char *hb = strstr(cc->url, "://");
    if (hb)
        snprintf(host, sizeof(host), "%.*s", (int)strcspn(hb + 3, ":/?#"), hb + 3);
    if (strncmp(cc->url, "http:", 5) == 0 && !flex_cfgval_is_loopback(host))
        flex_log(FLEX_LOG_WARN, lctx(h), 0,
                 "plain http to %s: credentials and every text cross the network in clear", host);
    if (!h->verify && strncmp(cc->url, "https:", 6) == 0)
        flex_log(FLEX_LOG_WARN, lctx(h), 0,
                 "tls_verify = false: the carrier's certificate is not checked");
    return &h->base;
}

/* ---- webhooks --------------------------------------------------------------- */

static const char *field(const struct flex_webhook_form *f, const char *k, size_t *len)
{
    const struct flex_webhook_param *p = flex_webhook_form_get(f, k);
    *len = p ? p->value_len : 0;
    return p ? p->value : NULL;
}

static void copy_number(char out[21], const char *v, size_t len)
{
    size_t n = len < 20 ? len : 20;
    memcpy(out, v, n);
    out[n] = '\0';
}

int flex_http_webhook_event(bool inbound, const struct flex_webhook_form *f,
                            struct flex_carrier_event *ev)
{
    memset(ev, 0, offsetof(struct flex_carrier_event, keys));
    size_t n;
    const char *sid = field(f, "MessageSid", &n);
    if (!inbound) {
        size_t sl;
        const char *st = field(f, "MessageStatus", &sl);
        if (!sid || n == 0 || n >= FLEX_CARRIER_KEY_SZ || !st)
            return FLEX_E_INVAL;
        static const struct {
            const char *name;
            int final; /* 1 delivered, 2 not delivered, 0 on its way */
        } states[] = {{"delivered", 1},
                      {"undelivered", 2},
                      {"failed", 2},
                      {"canceled", 2},
                      {"queued", 0},
                      {"accepted", 0},
                      {"sending", 0},
                      {"sent", 0},
                      {"scheduled", 0},
                      {"receiving", 0},
                      {"received", 0},
                      {"read", 0},
                      /* some parts of a longer text reached the handset: final, and
                       * the patient has the message (its first part at least) */
                      {"partially_delivered", 1}};
        int final = -1;
        for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
            if (strlen(states[i].name) == sl && memcmp(states[i].name, st, sl) == 0)
                final = states[i].final;
        if (final < 0)
            return FLEX_E_INVAL;
        if (final == 0)
            return 0; /* not final: the job waits for the final one */
        ev->kind = FLEX_CEV_RECEIPT;
        ev->nkeys = 1;
        flex_http_id_key(sid, n, ev->keys[0]);
        ev->delivered = final == 1;
        ev->state = final == 1 ? "delivered" : "undelivered";
        size_t el;
        const char *e = field(f, "ErrorCode", &el);
        ev->err = e && el > 0 && el < 10 ? (uint32_t)strtoul(e, NULL, 10) : 0;
        return 1;
    }
    size_t fl, tl, bl;
    const char *from = field(f, "From", &fl), *to = field(f, "To", &tl),
               *body = field(f, "Body", &bl);
    if (!from || fl == 0 || fl > 20 || !to || tl > 20 || !body)
        return FLEX_E_INVAL;
    ev->kind = FLEX_CEV_INBOUND;
    copy_number(ev->from, from, fl);
    copy_number(ev->to, to, tl);
    ev->text = body; /* NUL-terminated in the form's arena */
    return 1;
}
