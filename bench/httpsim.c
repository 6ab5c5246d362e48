/*
 * httpsim: a Twilio-style HTTP SMS carrier simulator for tests and benchmarks.
 *
 *   httpsim [--listen 127.0.0.1:8085] [--account-sid ACtest] [--auth-token testtoken]
 *           [--callback-delay-ms N] [--throttle-mps N] [--fail-rate P] [--log FILE]
 *           [--stats FILE] [--mo-file FILE] [--mo-url URL] [--max-seconds N]
 *           [--callback-sent] [--undelivered-rate P] [--callback-retries N]
 *           [--mo-to NUMBER] [--threads N]
 *
 * The Messages API: POST {base}/2010-04-01/Accounts/{sid}/Messages.json with
 * form fields To, From, Body and StatusCallback, under HTTP basic auth
 * (account sid : auth token).  Answers as Twilio does: 201 and the message
 * as JSON (sid "SM" + 32 hex digits, status "queued"); 401 (20003) for
 * wrong credentials; 404 (20404) for another account's path; 400 for bad
 * input (21604 no To, 21211 invalid To, 21603 no From, 21212 invalid
 * From, 21602 no Body, 21617 a Body over 1,600 characters, 21609 a bad
 * StatusCallback; 20001, this simulator's own, for a malformed form or a
 * Body that is not UTF-8); 429 (20429) with Retry-After above
 * --throttle-mps (GCRA, burst 1% of the rate); 500 (20500) for a
 * --fail-rate fraction; 503 (20503) for every message with --unavailable (an
 * outage); 413 for a body over 16 KiB.
 *
 * Status callbacks: --callback-delay-ms after a message is accepted, a
 * POST to its StatusCallback with MessageSid, MessageStatus "delivered"
 * (--undelivered-rate P: "undelivered" with ErrorCode 30003 for that
 * fraction), To, From, AccountSid (and SmsSid, SmsStatus, ApiVersion, as
 * Twilio sends), signed with X-Twilio-Signature (engine/base/webhook.h: key the
 * auth token, URL the callback URL exactly).  --callback-sent sends
 * "sent" at once before the final one.  One thread sends them, over
 * http:// only (an https:// StatusCallback is refused with 21609): at most
 * 64 in flight, each on a kept-alive connection of its own as Twilio's are
 * (no pipelining), the rest in a timer heap ordered by due time.  It is its
 * own small HTTP/1.1 client on epoll (the answers framed by
 * engine/base/httpresp.h): with libcurl multi, the sender took ~45 us of
 * CPU a callback here, two thirds of httpsim's share of a flexbench run;
 * now ~18 (docs/benchmarks.md).  A kept-alive connection the receiver
 * closed as a callback went out is replaced and the callback sent again at once (not a
 * retry, once); a callback answered with a non-2xx status or lost to a
 * network error (a host name that does not resolve included; a host's
 * addresses are tried in turn) or a timeout (3 s to connect, 10 s to
 * answer) is tried again after 0.1 s, 0.2 s, 0.4 s ... (--callback-retries,
 * default 4), then counted failed.  A StatusCallback with a space or a
 * control byte, or a port outside 1-65535, is refused (21609) or given up.
 *
 * --mo-file: lines FROM<TAB>TEXT or FROM<TAB>TO<TAB>TEXT (TO default
 * --mo-to, +12025550100), each POSTed once, signed like a callback, as an
 * inbound message (From, To, Body, MessageSid, AccountSid, NumMedia=0) to
 * --mo-url; without --mo-url, to the first StatusCallback seen with its
 * trailing "/status" replaced by "/inbound", once it is seen.
 *
 * --log: one line per message accepted, as smscsim's:
 *   TO <TAB> FROM <TAB> utf8 <TAB> TEXT <TAB> SID
 * TEXT with \t, \n, \r and \\ escaped.  --stats: a JSON object rewritten
 * every second and at exit (received, unique_destinations, throttled,
 * failed, receipts_sent, callbacks_sent, callbacks_failed, inbound_sent,
 * connections: TCP connections accepted so far, which shows keep-alive
 * reuse; and more).  SIGTERM or SIGINT: stop, write the stats, exit 0.
 *
 * libmicrohttpd serves the API with keep-alive: --threads 2 (default) is a
 * pool of two epoll threads, --threads 1 one epoll thread.  Ceiling,
 * measured with bench/bench_httpsim.c (libcurl multi in one thread, 16
 * kept-alive connections, 150,000 POSTs, 201s counted) on the 2-core
 * development VM, 2026-11-30, four alternating runs each:
 *   build/bench/bench_httpsim 150000 16 build/httpsim --threads 2
 *     29,968 / 37,090 / 37,792 / 34,331 req/s, 13.3-15.4 us CPU a request
 *   build/bench/bench_httpsim 150000 16 build/httpsim --threads 1
 *     25,783 / 36,208 / 35,673 / 34,486 req/s, 13.3-14.7 us CPU a request
 * Over ten alternating pairs in three sessions the pool was the faster in
 * eight, by up to 20% (about the noise of this VM), for the same CPU a
 * request (while another build ran, both spent 15-25 us): hence the
 * default.  httpsim used about half a core: the load generator is the
 * limit, and at ~14 us a request httpsim alone would take ~70,000 req/s a
 * core.  17 TCP
 * connections were counted for 150,000 requests (16 and the bench's
 * readiness probe).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "e164.h"
#include "hash.h"
#include "mem.h"
#include "ratelimit.h"
#include "simcommon.h"
#include "sms.h"
#include "str.h"
#include "utf.h"
#include "webhook.h"

#include "httpsim.h"

#define MAX_BODY_CHARS 1600  /* Twilio's cap on a message body */
#define RESP_CAP (32 * 1024) /* an answer of the API */

/* ---- small helpers --------------------------------------------------- */

/* A bounded output buffer: appends stop at |cap| - 1 and set |over|. */
struct sbuf {
    char *p;
    size_t len, cap;
    bool over;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->over || b->cap - b->len <= n) {
        b->over = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s)); /* our own constant strings only */
}

/* |n| bytes at |s| as a JSON string, quotes included. */
static void sb_json(struct sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    sb_put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        size_t run = i;
        while (run < n && (unsigned char)s[run] >= 0x20 && s[run] != '"' && s[run] != '\\')
            run++;
        sb_put(b, s + i, run - i);
        if (run == n)
            break;
        unsigned char c = (unsigned char)s[run];
        if (c == '"' || c == '\\')
            sb_put(b, (const char[]){'\\', (char)c}, 2);
        else if (c == '\n')
            sb_put(b, "\\n", 2);
        else if (c == '\r')
            sb_put(b, "\\r", 2);
        else if (c == '\t')
            sb_put(b, "\\t", 2);
        else
            sb_put(b, (const char[]){'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]}, 6);
        i = run + 1;
    }
    sb_put(b, "\"", 1);
}

/* ---- the message log and the destinations seen ------------------------ */

static void log_text(FILE *f, const char *text, size_t len)
{
    /* Plain runs in one write each, as smscsim does. */
    size_t i = 0;
    while (i < len) {
        size_t run = i;
        while (run < len && text[run] != '\t' && text[run] != '\n' && text[run] != '\r' &&
               text[run] != '\\')
            run++;
        fwrite(text + i, 1, run - i, f);
        if (run == len)
            break;
        char c = text[run];
        fputs(c == '\t' ? "\\t" : c == '\n' ? "\\n" : c == '\r' ? "\\r" : "\\\\", f);
        i = run + 1;
    }
}

/* Under |lock|. */

/* ---- the Messages API (libmicrohttpd's threads) ------------------------ */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body,
                             size_t len, const char *hname, const char *hval)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
    if (hname)
        MHD_add_response_header(r, hname, hval);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* Twilio's error shape: {"code", "message", "more_info", "status"}. */
static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, unsigned code,
                                   const char *msg, const char *hname, const char *hval)
{
    char buf[1024], tmp[160];
    struct sbuf b = {buf, 0, sizeof(buf), false};
    snprintf(tmp, sizeof(tmp), "{\"code\": %u, \"message\": ", code);
    sb_str(&b, tmp);
    sb_json(&b, msg, strlen(msg));
    snprintf(tmp, sizeof(tmp),
             ", \"more_info\": \"https://www.twilio.com/docs/errors/%u\", \"status\": %u}", code,
             status);
    sb_str(&b, tmp);
    return reply(c, status, buf, b.len, hname, hval);
}

static enum MHD_Result bad_request(struct sim *s, struct MHD_Connection *c, unsigned code,
                                   const char *msg)
{
    add(&s->st.rejected, 1);
    return reply_error(c, 400, code, msg, NULL, NULL);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct sim *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        add(&s->st.connections, 1);
        *socket_ctx = flex_calloc(1, sizeof(struct conn_ctx));
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && *socket_ctx) {
        struct conn_ctx *x = *socket_ctx;
        flex_free(x->buf);
        flex_free(x);
        *socket_ctx = NULL;
    }
}

/* "Authorization: Basic base64(sid:token)", the scheme in any case. */
static bool authorized(struct sim *s, struct MHD_Connection *c)
{
    const char *v;
    size_t n;
    if (MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION,
                                      strlen(MHD_HTTP_HEADER_AUTHORIZATION), &v, &n) != MHD_YES ||
        n < 6 || strncasecmp(v, "Basic ", 6) != 0)
        return false;
    for (v += 6, n -= 6; n > 0 && *v == ' '; v++, n--)
        ;
    return n == s->auth_len && memcmp(v, s->auth, n) == 0;
}

/* Whether |url| (MHD's path, no query) is {base}/2010-04-01/Accounts/
 * {our sid}/Messages.json; |*other| when it is another account's. */
static bool route(struct sim *s, const char *url, bool *other)
{
    static const char head[] = "/2010-04-01/Accounts/", tail[] = "/Messages.json";
    const char *p = strstr(url, head);
    *other = false;
    if (!p)
        return false;
    p += sizeof(head) - 1;
    const char *slash = strchr(p, '/');
    if (!slash || strcmp(slash, tail) != 0)
        return false;
    size_t n = strlen(s->o.account_sid);
    *other = (size_t)(slash - p) != n || memcmp(p, s->o.account_sid, n) != 0;
    return !*other;
}

static void body_append(struct conn_ctx *x, const char *data, size_t n)
{
    if (x->too_big || n > FLEX_WEBHOOK_MAX_BODY - x->len) {
        x->too_big = true; /* the rest is read and dropped; 413 at the end */
        return;
    }
    if (x->len + n > x->cap) {
        x->cap = x->len + n < 1024 ? 1024 : FLEX_WEBHOOK_MAX_BODY;
        x->buf = flex_realloc(x->buf, x->cap);
    }
    memcpy(x->buf + x->len, data, n);
    x->len += n;
}

/* What a valid request carries (pointers into the parsed form). */
struct msg {
    const struct flex_webhook_param *to, *from, *body, *cb;
    unsigned segments;
};

static bool valid_from(const struct flex_webhook_param *p)
{
    if (p->value_len > MAX_NUMBER)
        return false;
    if (flex_e164_is_normal(p->value, p->value_len))
        return true;
    size_t digits = strspn(p->value, "0123456789"), alnum = 0;
    if (digits == p->value_len) /* a short code */
        return digits >= 3 && digits <= 8;
    for (size_t i = 0; i < p->value_len; i++) /* an alphanumeric sender id */
        alnum += (p->value[i] >= 'A' && p->value[i] <= 'Z') ||
                 (p->value[i] >= 'a' && p->value[i] <= 'z') || p->value[i] == ' ' ||
                 (p->value[i] >= '0' && p->value[i] <= '9');
    return alnum == p->value_len && p->value_len <= 11 && digits < p->value_len;
}

/* Segments as Twilio counts them: the engine's own splitter, or for a
 * text beyond its 10 parts, 67 characters a part. */
static unsigned count_segments(const char *text, size_t len, size_t chars)
{
    struct flex_sms sms;
    struct flex_text_error terr;
    if (flex_sms_encode(&sms, text, len, FLEX_SMS_MAX_PARTS, &terr) == 0)
        return sms.nparts;
    return (unsigned)((chars + 66) / 67);
}

static unsigned refuse(char *why, size_t whysz, unsigned code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Returns |code| with the message in |why|. */
static unsigned refuse(char *why, size_t whysz, unsigned code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whysz, fmt, ap);
    va_end(ap);
    return code;
}

static unsigned validate_numbers(struct msg *m, char *why, size_t whysz)
{
    if (!m->to || m->to->value_len == 0)
        return refuse(why, whysz, 21604, "A 'To' phone number is required.");
    if (m->to->value_len > MAX_NUMBER || !flex_e164_is_normal(m->to->value, m->to->value_len))
        return refuse(why, whysz, 21211, "The 'To' number %.32s is not a valid phone number.",
                      m->to->value);
    if (!m->from || m->from->value_len == 0)
        return refuse(why, whysz, 21603, "A 'From' phone number is required.");
    if (!valid_from(m->from))
        return refuse(why, whysz, 21212,
                      "The 'From' number %.32s is not a valid phone number, shortcode, or "
                      "alphanumeric sender ID.",
                      m->from->value);
    return 0;
}

/* Twilio's checks, in its order.  Returns 0 or the error code with |why|. */
static unsigned validate(const struct flex_webhook_form *f, struct msg *m, char *why, size_t whysz)
{
    m->to = flex_webhook_form_get(f, "To");
    m->from = flex_webhook_form_get(f, "From");
    m->body = flex_webhook_form_get(f, "Body");
    m->cb = flex_webhook_form_get(f, "StatusCallback");
    unsigned code = validate_numbers(m, why, whysz);
    if (code)
        return code;
    if (!m->body || m->body->value_len == 0)
        return refuse(why, whysz, 21602, "Message body is required.");
    struct flex_text_error terr;
    if (flex_utf8_validate(m->body->value, m->body->value_len, &terr) != 0)
        return refuse(why, whysz, 20001, "Body is not valid UTF-8 (byte %zu).", terr.offset);
    size_t chars = 0;
    for (size_t i = 0; i < m->body->value_len; i++)
        chars += ((unsigned char)m->body->value[i] & 0xC0) != 0x80;
    if (chars > MAX_BODY_CHARS)
        return refuse(why, whysz, 21617,
                      "The concatenated message body exceeds the 1600 character limit.");
    if (m->cb && m->cb->value_len == 0)
        m->cb = NULL;
    bool cb_bytes_ok = true; /* (a space or control byte would break the request line) */
    for (size_t i = 0; m->cb && i < m->cb->value_len; i++)
        cb_bytes_ok &= (unsigned char)m->cb->value[i] > 0x20 && m->cb->value[i] != 0x7f;
    if (m->cb &&
        (m->cb->value_len > MAX_URL || !cb_bytes_ok || strncmp(m->cb->value, "http://", 7) != 0))
        return refuse(why, whysz, 21609, "%s",
                      strncmp(m->cb->value, "https://", 8) == 0
                          ? "The StatusCallback URL is https://: httpsim calls back over http:// "
                            "only."
                          : "The StatusCallback URL is not a valid URL.");
    m->segments = count_segments(m->body->value, m->body->value_len, chars);
    return 0;
}

static double rand01(struct sim *s)
{
    return (double)(sim_xorshift(&s->rng) >> 11) * 0x1.0p-53; /* under |lock| */
}

void new_sid(struct sim *s, char sid[35])
{
    /* relaxed: only uniqueness matters. */
    uint64_t n = atomic_fetch_add_explicit(&s->sid_next, 1, memory_order_relaxed);
    snprintf(sid, 35, "SM%016llx%016llx", (unsigned long long)s->sid_prefix, (unsigned long long)n);
}

static struct job *status_job(const struct msg *m, const char *sid, const char *status, bool final,
                              uint64_t due_ns)
{
    struct job *j = flex_calloc(1, sizeof(*j));
    j->due_ns = due_ns;
    j->kind = JOB_STATUS;
    j->status = status;
    j->final = final;
    memcpy(j->sid, sid, sizeof(j->sid));
    flex_strlcpy(j->to, m->to->value, sizeof(j->to));
    flex_strlcpy(j->from, m->from->value, sizeof(j->from));
    j->url = flex_strndup(m->cb->value, m->cb->value_len);
    return j;
}

/* Under |lock|: gives |j| to the sender.  True when the sender must be
 * woken (the queue was empty: it has taken everything before). */
static bool hand_over(struct sim *s, struct job *j)
{
    if (s->nincoming == s->incoming_cap) {
        s->incoming_cap = s->incoming_cap ? s->incoming_cap * 2 : 1024;
        s->incoming = flex_realloc(s->incoming, s->incoming_cap * sizeof(*s->incoming));
    }
    s->incoming[s->nincoming++] = j;
    return s->nincoming == 1;
}

/* Under |lock|: without --mo-url, inbound texts go to the first
 * StatusCallback ending in "/status", with "/inbound" in its place. */
static bool derive_mo_url(struct sim *s, const struct flex_webhook_param *cb)
{
    static const char st[] = "/status", in[] = "/inbound";
    size_t base = cb->value_len - (sizeof(st) - 1);
    if (!s->mo_derive || cb->value_len < sizeof(st) - 1 || memcmp(cb->value + base, st, 7) != 0 ||
        base + sizeof(in) > sizeof(s->mo_url))
        return false;
    memcpy(s->mo_url, cb->value, base);
    memcpy(s->mo_url + base, in, sizeof(in));
    s->mo_derive = false;
    return true;
}

/* Under |lock|. */
static void log_message(struct sim *s, const struct msg *m, const char *sid)
{
    fwrite(m->to->value, 1, m->to->value_len, s->log);
    fputc('\t', s->log);
    fwrite(m->from->value, 1, m->from->value_len, s->log);
    fputs("\tutf8\t", s->log);
    log_text(s->log, m->body->value, m->body->value_len);
    fputc('\t', s->log);
    fputs(sid, s->log);
    fputc('\n', s->log);
}

/* 201 and the message, as Twilio's JSON has it. */
static enum MHD_Result reply_created(struct sim *s, struct MHD_Connection *c, const struct msg *m,
                                     const char *sid)
{
    char buf[RESP_CAP], date[48], tmp[512];
    struct tm tm;
    time_t t = time(NULL);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", gmtime_r(&t, &tm));
    struct sbuf b = {buf, 0, sizeof(buf), false};
    const char *acct = s->o.account_sid; /* checked: letters and digits */
    snprintf(tmp, sizeof(tmp),
             "{\"account_sid\": \"%s\", \"api_version\": \"2010-04-01\", \"body\": ", acct);
    sb_str(&b, tmp);
    sb_json(&b, m->body->value, m->body->value_len);
    snprintf(tmp, sizeof(tmp),
             ", \"date_created\": \"%s\", \"date_sent\": null, \"date_updated\": \"%s\", "
             "\"direction\": \"outbound-api\", \"error_code\": null, \"error_message\": null, "
             "\"from\": ",
             date, date);
    sb_str(&b, tmp);
    sb_json(&b, m->from->value, m->from->value_len);
    snprintf(
        tmp, sizeof(tmp),
        ", \"messaging_service_sid\": null, \"num_media\": \"0\", \"num_segments\": \"%u\", "
        "\"price\": null, \"price_unit\": \"USD\", \"sid\": \"%s\", \"status\": \"queued\", "
        "\"subresource_uris\": {\"media\": \"/2010-04-01/Accounts/%s/Messages/%s/Media.json\"}, "
        "\"to\": ",
        m->segments, sid, acct, sid);
    sb_str(&b, tmp);
    sb_json(&b, m->to->value, m->to->value_len);
    snprintf(tmp, sizeof(tmp), ", \"uri\": \"/2010-04-01/Accounts/%s/Messages/%s.json\"}", acct,
             sid);
    sb_str(&b, tmp);
    return reply(c, 201, buf, b.len, NULL, NULL);
}

static enum MHD_Result accept_message(struct sim *s, struct MHD_Connection *c, const struct msg *m)
{
    char sid[35];
    new_sid(s, sid);
    struct job *sent = NULL, *fin = NULL;
    if (m->cb) {
        uint64_t now = sim_now_ns();
        if (s->o.callback_sent)
            sent = status_job(m, sid, "sent", false, now);
        fin = status_job(m, sid, "delivered", true, now + s->o.callback_delay_ms * 1000000ULL);
    }
    bool wake = false;
    pthread_mutex_lock(&s->lock);
    if (fin && s->o.undelivered_rate > 0 && rand01(s) < s->o.undelivered_rate) {
        fin->status = "undelivered";
        fin->error = true;
    }
    sim_destset_add(&s->dests, m->to->value, m->to->value_len);
    if (s->log)
        log_message(s, m, sid);
    if (sent)
        wake |= hand_over(s, sent);
    if (fin)
        wake |= hand_over(s, fin);
    if (m->cb)
        wake |= derive_mo_url(s, m->cb);
    pthread_mutex_unlock(&s->lock);
    if (wake)
        sender_wake(s);
    add(&s->st.received, 1);
    return reply_created(s, c, m, sid);
}

/* A complete, authorized POST to our Messages resource. */
static enum MHD_Result submit(struct sim *s, struct MHD_Connection *c, const struct conn_ctx *x)
{
    struct flex_webhook_form f; /* ~18 KiB: MHD's threads have the default 8 MiB stacks */
    struct flex_webhook_error err;
    char why[256];
    if (flex_webhook_form_parse(&f, x->buf ? x->buf : "", x->len, &err) < 0)
        return bad_request(s, c, 20001, err.reason);
    struct msg m;
    unsigned code = validate(&f, &m, why, sizeof(why));
    if (!code && s->o.unsubscribed && strlen(s->o.unsubscribed) == m.to->value_len &&
        memcmp(s->o.unsubscribed, m.to->value, m.to->value_len) == 0)
        code = refuse(why, sizeof(why), 21610, "Attempt to send to unsubscribed recipient");
    if (code)
        return bad_request(s, c, code, why);
    if (s->o.unavailable) {
        add(&s->st.throttled, 1);
        return reply_error(c, 503, 20503, "Service Unavailable", NULL, NULL);
    }
    uint64_t wait = 0;
    bool fail = false;
    pthread_mutex_lock(&s->lock);
    if (s->o.throttle_mps > 0)
        wait = flex_gcra_take(&s->gcra, &s->gcra_tat, sim_now_ns(), 1);
    if (!wait && s->o.fail_rate > 0)
        fail = rand01(s) < s->o.fail_rate;
    pthread_mutex_unlock(&s->lock);
    if (wait) {
        char secs[24];
        snprintf(secs, sizeof(secs), "%llu", (unsigned long long)((wait + 999999999) / 1000000000));
        add(&s->st.throttled, 1);
        return reply_error(c, 429, 20429, "Too Many Requests", MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }
    if (fail) {
        add(&s->st.failed, 1);
        return reply_error(c, 500, 20500, "Internal Server Error", NULL, NULL);
    }
    return accept_message(s, c, &m);
}

static enum MHD_Result respond(struct sim *s, struct MHD_Connection *c, const struct conn_ctx *x,
                               const char *url, const char *method)
{
    bool other;
    if (!authorized(s, c)) {
        add(&s->st.unauthorized, 1);
        return reply_error(c, 401, 20003, "Authenticate", MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                           "Basic realm=\"Twilio API\"");
    }
    if (!route(s, url, &other)) {
        add(&s->st.rejected, 1);
        return reply_error(c, 404, 20404,
                           other ? "The requested resource belongs to another account"
                                 : "The requested resource was not found",
                           NULL, NULL);
    }
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
        add(&s->st.rejected, 1);
        return reply_error(c, 405, 20004, "Method not allowed", MHD_HTTP_HEADER_ALLOW, "POST");
    }
    if (x->too_big) {
        add(&s->st.rejected, 1);
        return reply_error(c, 413, 20001, "Request body over 16 KiB", NULL, NULL);
    }
    return submit(s, c, x);
}

/* libmicrohttpd's access handler: called once with the headers, once per
 * piece of body, and once more at its end (|*upload_size| 0). */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_ctx)
{
    struct sim *s = cls;
    (void)version;
    if (!*req_ctx) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        struct conn_ctx *x = ci ? ci->socket_context : NULL;
        if (!x)
            return MHD_NO;
        x->len = 0;
        x->too_big = false;
        *req_ctx = x;
        add(&s->st.requests, 1);
        const char *cl =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > FLEX_WEBHOOK_MAX_BODY) {
            add(&s->st.rejected, 1); /* answered before the body: MHD closes after */
            return reply_error(c, 413, 20001, "Request body over 16 KiB", NULL, NULL);
        }
        return MHD_YES;
    }
    struct conn_ctx *x = *req_ctx;
    if (*upload_size) {
        body_append(x, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    return respond(s, c, x, url, method);
}

/* ---- --mo-file ----------------------------------------------------------- */

/* |num| with a '+' in front if it has none, into |out|; false if too long. */
static bool plus_number(const char *num, char *out, size_t outsz)
{
    int n = snprintf(out, outsz, "%s%s", num[0] == '+' ? "" : "+", num);
    return n > 1 && (size_t)n < outsz && n <= MAX_NUMBER;
}

/* "FROM<TAB>TEXT" or "FROM<TAB>TO<TAB>TEXT" (TO: digits, '+' first
 * allowed), as smscsim reads them. */
static int mo_line(struct sim *s, char *line)
{
    char from[MAX_NUMBER + 2], to[MAX_NUMBER + 2];
    line[strcspn(line, "\r\n")] = '\0';
    char *tab = strchr(line, '\t');
    if (!tab || tab == line)
        return 0;
    *tab = '\0';
    char *text = tab + 1, *tab2 = strchr(text, '\t'), *t = text + (text[0] == '+');
    const char *dst = s->o.mo_to;
    if (tab2 && tab2 > t && strspn(t, "0123456789") == (size_t)(tab2 - t)) {
        *tab2 = '\0';
        dst = text;
        text = tab2 + 1;
    }
    if (!plus_number(line, from, sizeof(from)) || !plus_number(dst, to, sizeof(to)))
        return -1;
    s->mo = flex_realloc(s->mo, (s->nmo + 1) * sizeof(*s->mo));
    s->mo[s->nmo++] = (struct mo){flex_strdup(from), flex_strdup(to), flex_strdup(text)};
    return 0;
}

static int load_mo(struct sim *s, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "httpsim: cannot open --mo-file %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[2048];
    unsigned lineno = 0;
    while (fgets(line, sizeof(line), f))
        if (++lineno, mo_line(s, line) != 0)
            fprintf(stderr, "httpsim: --mo-file %s:%u: number too long, line skipped\n", path,
                    lineno);
    fclose(f);
    return 0;
}

/* ---- stats, options, main -------------------------------------------------- */

static void write_stats(struct sim *s)
{
    if (!s->o.stats_path)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", s->o.stats_path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    pthread_mutex_lock(&s->lock);
    size_t dests = s->dests.count;
    pthread_mutex_unlock(&s->lock);
    struct stats *st = &s->st;
    fprintf(f,
            "{\"received\":%llu,\"unique_destinations\":%zu,\"throttled\":%llu,\"failed\":%llu,"
            "\"receipts_sent\":%llu,\"callbacks_sent\":%llu,\"callbacks_failed\":%llu,"
            "\"inbound_sent\":%llu,\"connections\":%llu,\"requests\":%llu,\"rejected\":%llu,"
            "\"unauthorized\":%llu,\"callbacks_retried\":%llu,\"callbacks_pending\":%llu,"
            "\"inbound_failed\":%llu}\n",
            (unsigned long long)get(&st->received), dests, (unsigned long long)get(&st->throttled),
            (unsigned long long)get(&st->failed), (unsigned long long)get(&st->receipts_sent),
            (unsigned long long)get(&st->callbacks_sent),
            (unsigned long long)get(&st->callbacks_failed),
            (unsigned long long)get(&st->inbound_sent), (unsigned long long)get(&st->connections),
            (unsigned long long)get(&st->requests), (unsigned long long)get(&st->rejected),
            (unsigned long long)get(&st->unauthorized),
            (unsigned long long)get(&st->callbacks_retried), (unsigned long long)get(&st->pending),
            (unsigned long long)get(&st->inbound_failed));
    fclose(f);
    rename(tmp, s->o.stats_path);
}

static const char usage_text[] =
    "usage: httpsim [--listen 127.0.0.1:8085] [--account-sid ACtest] [--auth-token testtoken]\n"
    "               [--callback-delay-ms N] [--throttle-mps N] [--fail-rate P] [--log FILE]\n"
    "               [--stats FILE] [--mo-file FILE] [--mo-url URL] [--max-seconds N]\n"
    "               [--callback-sent] [--undelivered-rate P] [--callback-retries N]\n"
    "               [--mo-to NUMBER] [--threads N] [--unsubscribed NUMBER] [--unavailable]\n";

static bool opts_valid(const struct opts *o)
{
    size_t sid = strlen(o->account_sid), tok = strlen(o->auth_token);
    bool ok = sid > 0 && sid <= 64 &&
              strspn(o->account_sid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                     "0123456789") == sid;
    ok = ok && tok > 0 && tok <= 128 && o->fail_rate >= 0 && o->fail_rate <= 1 &&
         o->undelivered_rate >= 0 && o->undelivered_rate <= 1 && o->throttle_mps >= 0 &&
         o->threads >= 1 && o->threads <= 64 && o->callback_retries <= 20;
    if (ok && o->mo_url)
        ok = strlen(o->mo_url) <= MAX_URL && strncmp(o->mo_url, "http://", 7) == 0 &&
             !strpbrk(o->mo_url, " \t\r\n");
    return ok && strlen(o->mo_to) < MAX_NUMBER;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"account-sid", required_argument, NULL, 'a'},
        {"auth-token", required_argument, NULL, 'k'},
        {"callback-delay-ms", required_argument, NULL, 'd'},
        {"throttle-mps", required_argument, NULL, 't'},
        {"fail-rate", required_argument, NULL, 'f'},
        {"log", required_argument, NULL, 'L'},
        {"stats", required_argument, NULL, 'S'},
        {"mo-file", required_argument, NULL, 'm'},
        {"mo-url", required_argument, NULL, 'u'},
        {"mo-to", required_argument, NULL, 'T'},
        {"unsubscribed", required_argument, NULL, 'O'},
        {"max-seconds", required_argument, NULL, 'x'},
        {"callback-sent", no_argument, NULL, 's'},
        {"undelivered-rate", required_argument, NULL, 'U'},
        {"callback-retries", required_argument, NULL, 'r'},
        {"threads", required_argument, NULL, 'j'},
        {"unavailable", no_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'l': o->listen = optarg; break;
        case 'a': o->account_sid = optarg; break;
        case 'k': o->auth_token = optarg; break;
        case 'd': o->callback_delay_ms = strtoul(optarg, NULL, 10); break;
        case 't': o->throttle_mps = strtod(optarg, NULL); break;
        case 'N': o->unavailable = true; break;
        case 'f': o->fail_rate = strtod(optarg, NULL); break;
        case 'L': o->log_path = optarg; break;
        case 'S': o->stats_path = optarg; break;
        case 'm': o->mo_file = optarg; break;
        case 'u': o->mo_url = optarg; break;
        case 'T': o->mo_to = optarg; break;
        case 'O': o->unsubscribed = optarg; break;
        case 'x': o->max_seconds = strtoul(optarg, NULL, 10); break;
        case 's': o->callback_sent = true; break;
        case 'U': o->undelivered_rate = strtod(optarg, NULL); break;
        case 'r': o->callback_retries = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'j': o->threads = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'h': fputs(usage_text, stdout); exit(0);
        default: fputs(usage_text, stderr); return -1;
        }
    }
    if (optind != argc || !opts_valid(o)) {
        fputs(usage_text, stderr);
        return -1;
    }
    return 0;
}

/* Everything but the threads: the log, --mo-file, the credentials. */
static int sim_init(struct sim *s)
{
    pthread_mutex_init(&s->lock, NULL);
    s->rng = sim_now_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
    s->rng = flex_mix64(s->rng) | 1;
    s->sid_prefix = sim_xorshift(&s->rng);
    uint64_t k0 = sim_xorshift(&s->rng);
    sim_destset_init(&s->dests, k0, sim_xorshift(&s->rng));
    flex_gcra_init(&s->gcra, s->o.throttle_mps,
                   s->o.throttle_mps > 100 ? (uint32_t)(s->o.throttle_mps / 100) : 1);
    char creds[200];
    int n = snprintf(creds, sizeof(creds), "%s:%s", s->o.account_sid, s->o.auth_token);
    s->auth_len = (size_t)EVP_EncodeBlock((unsigned char *)s->auth, (unsigned char *)creds, n);
    if (s->o.log_path) {
        if (!(s->log = fopen(s->o.log_path, "w"))) {
            fprintf(stderr, "httpsim: cannot open --log %s: %s\n", s->o.log_path, strerror(errno));
            return -1;
        }
        setvbuf(s->log, NULL, _IOFBF, 1 << 20);
    }
    if (s->o.mo_file && load_mo(s, s->o.mo_file) != 0)
        return -1;
    if (s->o.mo_url)
        flex_strlcpy(s->mo_url, s->o.mo_url, sizeof(s->mo_url));
    s->mo_derive = !s->o.mo_url && s->nmo > 0;
    return sender_init(s);
}

static void sim_free(struct sim *s)
{
    sender_free(s);
    for (size_t i = 0; i < s->nmo; i++) {
        flex_free(s->mo[i].from);
        flex_free(s->mo[i].to);
        flex_free(s->mo[i].text);
    }
    flex_free(s->mo);
    sim_destset_free(&s->dests);
    if (s->log)
        fclose(s->log);
    pthread_mutex_destroy(&s->lock);
    flex_free(s);
}

static struct MHD_Daemon *start_mhd(struct sim *s, int lfd)
{
    /* The pool option only when there is a pool: MHD warns about a size
     * of 0 or 1. */
    struct MHD_OptionItem pool[] = {
        {s->o.threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, s->o.threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, s,
        MHD_OPTION_LISTEN_SOCKET, lfd, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_CONNECTION_LIMIT, 10000u, MHD_OPTION_ARRAY,
        pool, MHD_OPTION_END);
    if (!d)
        fprintf(stderr, "httpsim: MHD_start_daemon() failed on %s\n", s->o.listen);
    return d;
}

/* Until SIGTERM, SIGINT or --max-seconds: the stats and the log each
 * second. */
static void run(struct sim *s, const sigset_t *sigs)
{
    uint64_t start = sim_now_ns(), limit = s->o.max_seconds * 1000000000ULL;
    for (;;) {
        struct timespec ts = {1, 0};
        uint64_t now = sim_now_ns();
        if (limit && now - start + 1000000000ULL > limit) {
            uint64_t left = limit > now - start ? limit - (now - start) : 0;
            ts = (struct timespec){(time_t)(left / 1000000000ULL), (long)(left % 1000000000ULL)};
        }
        int sig = sigtimedwait(sigs, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT)
            return;
        write_stats(s);
        pthread_mutex_lock(&s->lock);
        if (s->log)
            fflush(s->log); /* readers follow it while we run */
        pthread_mutex_unlock(&s->lock);
        if (limit && sim_now_ns() - start >= limit)
            return;
    }
}

int main(int argc, char **argv)
{
    struct sim *s = flex_calloc(1, sizeof(*s));
    s->epfd = s->wake = -1;
    s->o = (struct opts){.listen = "127.0.0.1:8085",
                         .account_sid = "ACtest",
                         .auth_token = "testtoken",
                         .mo_to = "+12025550100",
                         .callback_retries = 4,
                         .threads = 2};
    if (parse_args(argc, argv, &s->o) != 0) {
        flex_free(s);
        return 2;
    }
    int lfd = -1;
    if (sim_init(s) != 0 ||
        (lfd = sim_listen_on("httpsim", s->o.listen, SOCK_NONBLOCK, 1024)) < 0) {
        sim_free(s);
        return 1;
    }
    /* Signals go to this thread alone: the others inherit the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_create(&s->thread, NULL, sender_main, s);
    s->mhd = start_mhd(s, lfd);
    if (s->mhd)
        run(s, &sigs);
    if (s->mhd)
        MHD_stop_daemon(s->mhd); /* no API thread runs after this */
    else
        close(lfd);
    /* relaxed: pthread_join() orders the rest. */
    atomic_store_explicit(&s->stop, true, memory_order_relaxed);
    sender_wake(s);
    pthread_join(s->thread, NULL);
    write_stats(s);
    int rc = s->mhd ? 0 : 1;
    sim_free(s);
    return rc;
}
