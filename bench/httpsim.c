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
 * --fail-rate fraction; 413 for a body over 16 KiB.
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
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "e164.h"
#include "hash.h"
#include "httpresp.h"
#include "mem.h"
#include "ratelimit.h"
#include "simcommon.h"
#include "sms.h"
#include "str.h"
#include "utf.h"
#include "webhook.h"

#define INFLIGHT 64         /* callbacks in flight at once */
#define MAX_NUMBER 32       /* To and From bytes kept */
#define MAX_URL 2048        /* a StatusCallback */
#define MAX_BODY_CHARS 1600 /* Twilio's cap on a message body */
#define RESP_CAP (32 * 1024)
#define MAX_AUTHORITY 255 /* host[:port] of a webhook URL */
#define MAX_DESTS 16      /* webhook hosts resolved and kept */
#define MAX_ADDRS 4       /* addresses of a host kept, tried in turn */

struct opts {
    const char *listen, *account_sid, *auth_token;
    unsigned long callback_delay_ms, max_seconds;
    double throttle_mps, fail_rate, undelivered_rate;
    const char *log_path, *stats_path, *mo_file, *mo_url, *mo_to;
    const char *unsubscribed; /* a To answered 21610 (the recipient replied STOP to us) */
    bool callback_sent;
    unsigned callback_retries, threads;
};

enum job_kind { JOB_STATUS, JOB_INBOUND };

/* One webhook to POST: a status callback or an inbound text. */
struct job {
    uint64_t due_ns;
    enum job_kind kind;
    unsigned attempt;
    bool final;         /* a status callback that ends the message */
    bool error;         /* ... with ErrorCode 30003 */
    const char *status; /* static: "sent", "delivered", "undelivered" */
    char sid[35];
    char to[MAX_NUMBER + 1], from[MAX_NUMBER + 1];
    const char *text; /* inbound: the --mo-file line's (lives as long as the sim) */
    char *url;        /* owned */
};

struct heap_ent {
    uint64_t due_ns, seq; /* seq: FIFO among equal due times */
    struct job *job;
};

/* Where a webhook goes: an http:// URL's host and port, resolved once. */
struct dest {
    char authority[MAX_AUTHORITY + 1]; /* host[:port] as the URL has it: the Host header */
    struct sockaddr_storage addr[MAX_ADDRS];
    socklen_t addrlen[MAX_ADDRS];
    unsigned naddr, cur; /* the one connected to, the next after a refusal */
};

enum conn_state { C_CLOSED, C_IDLE, C_CONNECTING, C_SENDING, C_READING };

/* A connection to one dest, and the one webhook it carries at a time (as
 * Twilio's do: no pipelining).  INFLIGHT of them: a free one is a free
 * place for a webhook; an idle one keeps its socket for the next webhook
 * to the same dest. */
struct conn {
    int fd;
    enum conn_state state;
    int dest;          /* index in |dests| (the socket's) */
    bool reused;       /* the socket carried a webhook before this one */
    bool stale;        /* its dest was replaced: closed once its webhook is done */
    struct job *job;   /* the webhook (C_CONNECTING .. C_READING) */
    uint64_t deadline; /* connect within 3 s, answer within 10 s */
    size_t wlen, woff, rlen;
    char wbuf[MAX_URL + 1024 + FLEX_WEBHOOK_MAX_BODY]; /* the request (a body: 16 KiB at most) */
    char rbuf[FLEX_HTTPRESP_HEAD_MAX + FLEX_HTTPRESP_BODY_MAX + 4096]; /* an answer, whole */
};

struct mo {
    char *from, *to, *text;
};

/* Counters: written by the API threads and the sender, read by the stats
 * writer; each stands alone, so relaxed throughout. */
struct stats {
    _Atomic uint64_t requests, received, throttled, failed, rejected, unauthorized, connections;
    _Atomic uint64_t callbacks_sent, receipts_sent, callbacks_failed, callbacks_retried;
    _Atomic uint64_t inbound_sent, inbound_failed, pending;
};

/* A request's body, per TCP connection (requests on one connection come
 * one after another). */
struct conn_ctx {
    char *buf;
    size_t len, cap;
    bool too_big;
};

struct sim {
    struct opts o;
    struct MHD_Daemon *mhd;
    char auth[512]; /* "ACtest:testtoken" in Base64, as the Authorization header has it */
    size_t auth_len;
    uint64_t sid_prefix;
    _Atomic uint64_t sid_next;
    struct stats st;

    pthread_mutex_t lock; /* everything below, up to the sender's own part */
    struct flex_gcra gcra;
    uint64_t gcra_tat, rng;
    FILE *log;
    struct sim_destset dests; /* distinct destinations */
    struct job **incoming;    /* handed to the sender */
    size_t nincoming, incoming_cap;
    bool mo_derive;           /* no --mo-url: from the first StatusCallback */
    char mo_url[MAX_URL + 1]; /* known: where inbound texts go */

    /* The sender's (its thread only, but for |wake| and |stop|). */
    int epfd, wake; /* its epoll set; an eventfd the API threads wake it with */
    atomic_bool stop;
    pthread_t thread;
    struct conn *conns; /* INFLIGHT */
    unsigned busy;      /* conns carrying a webhook */
    struct dest dests_[MAX_DESTS];
    unsigned ndests, next_dest; /* (the next to replace when all are taken) */
    struct job **spare;         /* the sender's half of |incoming| */
    size_t spare_cap;
    struct heap_ent *heap;
    size_t nheap, heap_cap;
    uint64_t heap_seq;
    struct mo *mo;
    size_t nmo;
    bool mo_queued;
    struct flex_webhook_form form; /* the one being sent */
};

/* ---- small helpers --------------------------------------------------- */

static void add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed); /* a counter alone */
}

static uint64_t get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed); /* a counter alone */
}

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

/* ---- the timer heap (sender thread) ------------------------------------ */

static bool ent_before(const struct heap_ent *a, const struct heap_ent *b)
{
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void heap_push(struct sim *s, struct job *j, uint64_t due_ns)
{
    if (s->nheap == s->heap_cap) {
        s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 1024;
        s->heap = flex_realloc(s->heap, s->heap_cap * sizeof(*s->heap));
    }
    struct heap_ent e = {due_ns, s->heap_seq++, j};
    size_t i = s->nheap++;
    while (i > 0 && ent_before(&e, &s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = e;
}

static struct job *heap_pop(struct sim *s)
{
    struct job *top = s->heap[0].job;
    struct heap_ent last = s->heap[--s->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->nheap)
            break;
        if (c + 1 < s->nheap && ent_before(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!ent_before(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->nheap > 0)
        s->heap[i] = last;
    return top;
}

static void job_free(struct job *j)
{
    flex_free(j->url);
    flex_free(j);
}

/* ---- the Messages API (libmicrohttpd's threads) ------------------------ */

static void sender_wake(struct sim *s);

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

static void new_sid(struct sim *s, char sid[35])
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

/* ---- webhooks out (the sender thread) ----------------------------------- */

/* The job's fields in |s->form|, as Twilio posts them.  Returns 0 or a
 * FLEX_E_* code (a field over the form's caps). */
static int build_form(struct sim *s, const struct job *j)
{
    const char *kv[12][2];
    unsigned n = 0;
#define KV(k, v) (kv[n][0] = (k), kv[n][1] = (v), n++)
    if (j->kind == JOB_STATUS) {
        KV("SmsSid", j->sid), KV("SmsStatus", j->status), KV("MessageStatus", j->status);
        KV("To", j->to), KV("MessageSid", j->sid), KV("AccountSid", s->o.account_sid);
        KV("From", j->from), KV("ApiVersion", "2010-04-01");
        if (j->error)
            KV("ErrorCode", "30003");
    } else {
        KV("SmsMessageSid", j->sid), KV("NumMedia", "0"), KV("SmsSid", j->sid);
        KV("SmsStatus", "received"), KV("Body", j->text), KV("To", j->to);
        KV("NumSegments", "1"), KV("MessageSid", j->sid), KV("AccountSid", s->o.account_sid);
        KV("From", j->from), KV("ApiVersion", "2010-04-01");
    }
#undef KV
    flex_webhook_form_init(&s->form);
    for (unsigned i = 0; i < n; i++) {
        int rc =
            flex_webhook_form_add(&s->form, kv[i][0], strlen(kv[i][0]), kv[i][1], strlen(kv[i][1]));
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* |url|'s dest (resolved on first use; the oldest replaced when
 * MAX_DESTS are known) and where its path starts; -1 when it is not an
 * http:// URL with a host and a port 1-65535 (never reachable), -2 when the
 * host does not resolve now (tried again, as a network error). */
static int find_dest(struct sim *s, const char *url, const char **path)
{
    if (strncasecmp(url, "http://", 7) != 0)
        return -1;
    const char *host = url + 7;
    size_t n = strcspn(host, "/?#");
    *path = host + n;
    if (n == 0 || n > MAX_AUTHORITY || memchr(host, '@', n))
        return -1;
    for (unsigned i = 0; i < s->ndests; i++)
        if (strlen(s->dests_[i].authority) == n && memcmp(s->dests_[i].authority, host, n) == 0)
            return (int)i;
    char name[MAX_AUTHORITY + 1], *port = NULL;
    memcpy(name, host, n);
    name[n] = '\0';
    char *h = name;
    if (h[0] == '[') { /* [v6]:port */
        char *end = strchr(h, ']');
        if (!end || (end[1] && end[1] != ':'))
            return -1;
        *end = '\0';
        port = end[1] ? end + 2 : NULL;
        h++;
    } else if ((port = strrchr(h, ':'))) {
        *port++ = '\0';
    }
    if (port && (!*port || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port) ||
                 atoi(port) < 1 || atoi(port) > 65535))
        return -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(h, port ? port : "80", &hints, &ai) != 0 || !ai)
        return -2;
    unsigned i = s->ndests < MAX_DESTS ? s->ndests++ : s->next_dest++ % MAX_DESTS;
    struct dest *d = &s->dests_[i];
    for (unsigned c = 0; c < INFLIGHT; c++) /* sockets to the dest replaced: not kept */
        if (s->conns[c].state == C_IDLE && s->conns[c].dest == (int)i) {
            close(s->conns[c].fd);
            s->conns[c].fd = -1;
            s->conns[c].state = C_CLOSED;
        } else if (s->conns[c].state != C_CLOSED && s->conns[c].dest == (int)i) {
            s->conns[c].stale = true;
        }
    memcpy(d->authority, host, n);
    d->authority[n] = '\0';
    d->naddr = d->cur = 0;
    for (struct addrinfo *a = ai; a && d->naddr < MAX_ADDRS; a = a->ai_next)
        if (a->ai_addrlen <= sizeof(d->addr[0])) {
            memcpy(&d->addr[d->naddr], a->ai_addr, a->ai_addrlen);
            d->addrlen[d->naddr++] = a->ai_addrlen;
        }
    freeaddrinfo(ai);
    return d->naddr ? (int)i : -2;
}

static void sender_wake(struct sim *s)
{
    uint64_t one = 1;
    ssize_t r = write(s->wake, &one, sizeof(one)); /* (full: a wake-up is pending anyway) */
    (void)r;
}

static void conn_close(struct sim *s, struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd); /* (leaves the epoll set with it) */
    c->fd = -1;
    c->state = C_CLOSED;
    c->reused = c->stale = false;
    (void)s;
}

static void give_up(struct sim *s, struct job *j, const char *why)
{
    uint64_t n = j->kind == JOB_INBOUND
                     ? atomic_fetch_add_explicit(&s->st.inbound_failed, 1, memory_order_relaxed)
                     : atomic_fetch_add_explicit(&s->st.callbacks_failed, 1, memory_order_relaxed);
    if (n < 5) /* the first few say why; the counters tell the rest */
        fprintf(stderr, "httpsim: POST %s given up after %u tries: %s\n", j->url, j->attempt + 1,
                why);
    job_free(j);
}

/* A webhook done: counted, or tried again after 0.1 s, 0.2 s, 0.4 s ...
 * |status| 0: no answer (|why| says what happened). */
static void settle(struct sim *s, struct job *j, int status, const char *why)
{
    if (status >= 200 && status < 300) {
        add(j->kind == JOB_INBOUND ? &s->st.inbound_sent : &s->st.callbacks_sent, 1);
        if (j->final)
            add(&s->st.receipts_sent, 1);
        job_free(j);
    } else if (j->attempt < s->o.callback_retries) {
        unsigned shift = j->attempt < 6 ? j->attempt : 6;
        j->attempt++;
        add(&s->st.callbacks_retried, 1);
        heap_push(s, j, sim_now_ns() + (100000000ULL << shift));
    } else {
        char what[64];
        snprintf(what, sizeof(what), "HTTP %d", status);
        give_up(s, j, status ? what : why);
    }
}

/* |c|'s webhook done (settle()). */
static void finish(struct sim *s, struct conn *c, int status, const char *why)
{
    struct job *j = c->job;
    c->job = NULL;
    s->busy--;
    settle(s, j, status, why);
}

/* Writes what is left of the request; false when the socket failed. */
static bool conn_send(struct conn *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true; /* the rest when it can take it (EPOLLOUT) */
        if (n <= 0)
            return false;
        c->woff += (size_t)n;
    }
    c->state = C_READING;
    return true;
}

/* A new socket to |c->dest|, in the epoll set for good (edge-triggered,
 * in and out: no epoll_ctl per webhook). */
static bool conn_open(struct sim *s, struct conn *c)
{
    struct dest *d = &s->dests_[c->dest];
    const struct sockaddr_storage *addr = &d->addr[d->cur % d->naddr];
    c->woff = c->rlen = 0; /* (the request from its start: a reused socket may have taken some) */
    c->fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return false;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        conn_close(s, c);
        return false;
    }
    c->reused = false;
    if (connect(c->fd, (const struct sockaddr *)addr, d->addrlen[d->cur % d->naddr]) == 0) {
        c->state = C_SENDING;
    } else if (errno == EINPROGRESS) {
        c->state = C_CONNECTING;
    } else {
        d->cur++; /* refused: the host's next address next time */
        conn_close(s, c);
        return false;
    }
    return true;
}

/* Sends the request in |c->wbuf| on |c|'s socket, or a new one; false
 * when no socket could be had (|c| closed). */
static bool conn_go(struct sim *s, struct conn *c)
{
    c->woff = c->rlen = 0;
    if (c->state == C_IDLE) {
        c->reused = true;
        c->state = C_SENDING;
        if (conn_send(c)) {
            c->deadline = sim_now_ns() + 10000000000ULL;
            return true;
        }
        conn_close(s, c); /* the server closed it while idle: a new one */
    }
    if (!conn_open(s, c))
        return false;
    if (c->state == C_SENDING && !conn_send(c)) {
        conn_close(s, c);
        return false;
    }
    c->deadline = sim_now_ns() + (c->state == C_CONNECTING ? 3000000000ULL : 10000000000ULL);
    return true;
}

/* A free conn for |dest|: an idle one to it, else a closed one, else an
 * idle one to another dest (closed first). */
static struct conn *conn_for(struct sim *s, int dest)
{
    struct conn *closed = NULL, *other = NULL;
    for (unsigned i = 0; i < INFLIGHT; i++) {
        struct conn *c = &s->conns[i];
        if (c->state == C_IDLE && c->dest == dest)
            return c;
        if (c->state == C_CLOSED && !closed)
            closed = c;
        if (c->state == C_IDLE && !other)
            other = c;
    }
    if (!closed && other)
        conn_close(s, closed = other);
    return closed;
}

/* Starts |j|: signed, encoded, on its way.  False when it cannot start
 * (|why|): a body over the form's caps, or a URL httpsim cannot reach. */
static bool start(struct sim *s, struct job *j, const char **why)
{
    char sig[FLEX_WEBHOOK_SIG_BUFSZ];
    const char *tok = s->o.auth_token, *path;
    *why = "the body does not fit the form's caps";
    if (build_form(s, j) != 0 ||
        flex_webhook_sign(tok, strlen(tok), j->url, strlen(j->url), &s->form, sig) <= 0)
        return false;
    *why = "not an http:// URL httpsim can reach";
    int dest = find_dest(s, j->url, &path);
    if (dest == -2) { /* the name did not resolve: tried again later */
        settle(s, j, 0, "the host name did not resolve");
        return true;
    }
    if (dest < 0)
        return false;
    struct conn *c = conn_for(s, dest);
    c->dest = dest;
    int h = snprintf(c->wbuf, sizeof(c->wbuf),
                     "POST %s%.*s HTTP/1.1\r\nHost: %s\r\nUser-Agent: TwilioProxy/1.1\r\n"
                     "Accept: */*\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     "X-Twilio-Signature: %s\r\nContent-Length: ",
                     *path == '/' ? "" : "/", (int)strcspn(path, "#"), path,
                     s->dests_[dest].authority, sig);
    /* the body after the head: its length written in once known */
    char *body = c->wbuf + h + 16;
    int n = h > 0 && (size_t)h + 16 < sizeof(c->wbuf)
                ? flex_webhook_form_encode(&s->form, body, sizeof(c->wbuf) - (size_t)h - 16)
                : -1;
    *why = "the request does not fit httpsim's buffer";
    if (n < 0)
        return false;
    char cl[16];
    int cn = snprintf(cl, sizeof(cl), "%d\r\n\r\n", n);
    memmove(c->wbuf + h + cn, body, (size_t)n);
    memcpy(c->wbuf + h, cl, (size_t)cn);
    c->wlen = (size_t)(h + cn + n);
    c->job = j;
    s->busy++;
    if (!conn_go(s, c)) /* (no socket: tried again later, as a webhook lost) */
        finish(s, c, 0, strerror(errno));
    return true;
}

/* What the socket of a webhook in flight says: connected, room to write,
 * bytes to read, closed. */
static void conn_event(struct sim *s, struct conn *c, uint32_t events)
{
    if (c->state == C_IDLE || c->state == C_CLOSED) { /* an idle socket closed or spoke */
        if (c->state == C_IDLE && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
            conn_close(s, c);
        return;
    }
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof(err);
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
            s->dests_[c->dest].cur++; /* the host's next address next time */
            conn_close(s, c);
            finish(s, c, 0, strerror(err ? err : errno));
            return;
        }
        c->state = C_SENDING;
        c->deadline = sim_now_ns() + 10000000000ULL; /* connected: the answer within 10 s */
    }
    if (c->state == C_SENDING && !conn_send(c)) {
        conn_close(s, c);
        finish(s, c, 0, "the connection failed while sending");
        return;
    }
    /* (an answer before the request is all sent, such as a 413, is read
     * too: the edge that brought it comes once) */
    bool sent = c->state == C_READING;
    if (!sent && !(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        return;
    /* Edge-triggered: read until the answer is whole (then nothing more
     * comes: one request at a time; a close is an edge of its own) or the
     * socket has nothing more. */
    bool eof = false;
    struct flex_httpresp r;
    long taken = FLEX_HTTPRESP_MORE;
    while (c->rlen < sizeof(c->rbuf)) {
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
        if (n > 0) {
            c->rlen += (size_t)n;
            taken = flex_httpresp_parse(c->rbuf, c->rlen, false, &r);
            if (taken != FLEX_HTTPRESP_MORE)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        eof = true; /* closed, or reset */
        taken = flex_httpresp_parse(c->rbuf, c->rlen, true, &r);
        break;
    }
    if (taken == FLEX_HTTPRESP_MORE && c->rlen < sizeof(c->rbuf))
        return;
    if (taken > 0 && (size_t)taken == c->rlen && !r.close && !eof && !c->stale && sent) {
        c->state = C_IDLE; /* kept for the next webhook to the dest */
        finish(s, c, r.status, NULL);
        return;
    }
    /* A kept-alive socket the server closed before answering (its idle
     * timeout crossed the request): the webhook again on a new one, as
     * HTTP clients do, not counted as a retry. */
    bool again = eof && c->rlen == 0 && c->reused && !c->stale;
    conn_close(s, c);
    if (taken > 0) /* answered, and the server closes (or said more than asked) */
        finish(s, c, r.status, NULL);
    else if (again && conn_go(s, c))
        return;
    else
        finish(s, c, 0,
               taken == FLEX_HTTPRESP_BAD                                  ? "a malformed answer"
               : taken == FLEX_HTTPRESP_MORE && c->rlen == sizeof(c->rbuf) ? "an answer too long"
                                                                           : "connection closed");
}

/* Webhooks past their deadline: failed (and tried again, as a lost one). */
static void expire(struct sim *s, uint64_t now)
{
    for (unsigned i = 0; i < INFLIGHT && s->busy; i++) {
        struct conn *c = &s->conns[i];
        if (c->job && now >= c->deadline) {
            conn_close(s, c);
            finish(s, c, 0, "timed out");
        }
    }
}

/* Every --mo-file line, to |url| (the sender's own copy). */
static void queue_mo(struct sim *s, const char *url)
{
    uint64_t now = sim_now_ns();
    for (size_t i = 0; i < s->nmo; i++) {
        struct job *j = flex_calloc(1, sizeof(*j));
        j->due_ns = now;
        j->kind = JOB_INBOUND;
        new_sid(s, j->sid);
        flex_strlcpy(j->from, s->mo[i].from, sizeof(j->from));
        flex_strlcpy(j->to, s->mo[i].to, sizeof(j->to));
        j->text = s->mo[i].text;
        j->url = flex_strdup(url);
        heap_push(s, j, now);
    }
}

/* Takes what the API threads handed over (swapping the two arrays, so the
 * lock is held for a few stores), and the inbound URL once known. */
static void drain(struct sim *s)
{
    char url[MAX_URL + 1] = "";
    pthread_mutex_lock(&s->lock);
    struct job **batch = s->incoming;
    size_t n = s->nincoming, cap = s->incoming_cap;
    s->incoming = s->spare;
    s->incoming_cap = s->spare_cap;
    s->nincoming = 0;
    if (!s->mo_queued && s->mo_url[0]) {
        memcpy(url, s->mo_url, sizeof(url));
        s->mo_queued = true;
    }
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < n; i++)
        heap_push(s, batch[i], batch[i]->due_ns);
    s->spare = batch;
    s->spare_cap = cap;
    if (url[0] && s->nmo > 0)
        queue_mo(s, url);
}

/* How long to wait: until the next due job if a conn is free, the next
 * deadline of one in flight, at most a second. */
static int next_timeout_ms(const struct sim *s, uint64_t now)
{
    uint64_t due = now + 1000000000ULL;
    if (s->nheap > 0 && s->busy < INFLIGHT && s->heap[0].due_ns < due)
        due = s->heap[0].due_ns;
    for (unsigned i = 0; i < INFLIGHT && s->busy; i++)
        if (s->conns[i].job && s->conns[i].deadline < due)
            due = s->conns[i].deadline;
    return due <= now ? 0 : (int)((due - now + 999999) / 1000000);
}

static void *sender_main(void *arg)
{
    struct sim *s = arg;
    struct epoll_event evs[INFLIGHT + 1];
    /* relaxed: the flag orders nothing; pthread_join() does. */
    while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
        drain(s);
        uint64_t now = sim_now_ns();
        while (s->nheap > 0 && s->busy < INFLIGHT && s->heap[0].due_ns <= now) {
            struct job *j = heap_pop(s);
            const char *why;
            if (!start(s, j, &why))
                give_up(s, j, why);
        }
        expire(s, now);
        /* relaxed: a gauge for the stats file. */
        atomic_store_explicit(&s->st.pending, s->nheap + s->busy, memory_order_relaxed);
        int n = epoll_wait(s->epfd, evs, INFLIGHT + 1, next_timeout_ms(s, now));
        for (int i = 0; i < n; i++) {
            if (!evs[i].data.ptr) { /* the API threads' wake-up */
                uint64_t v;
                ssize_t r = read(s->wake, &v, sizeof(v));
                (void)r;
                continue;
            }
            conn_event(s, evs[i].data.ptr, evs[i].events);
        }
    }
    return NULL;
}

static int sender_init(struct sim *s)
{
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (s->epfd < 0 || s->wake < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wake, &ev) != 0) {
        fprintf(stderr, "httpsim: epoll/eventfd: %s\n", strerror(errno));
        return -1;
    }
    s->conns = flex_calloc(INFLIGHT, sizeof(struct conn));
    for (unsigned i = 0; i < INFLIGHT; i++)
        s->conns[i].fd = -1;
    return 0;
}

static void sender_free(struct sim *s)
{
    for (unsigned i = 0; s->conns && i < INFLIGHT; i++) {
        struct conn *c = &s->conns[i];
        if (c->job)
            job_free(c->job);
        conn_close(s, c);
    }
    flex_free(s->conns);
    while (s->nheap > 0)
        job_free(heap_pop(s));
    flex_free(s->heap);
    for (size_t i = 0; i < s->nincoming; i++)
        job_free(s->incoming[i]);
    flex_free(s->incoming);
    flex_free(s->spare);
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->wake >= 0)
        close(s->wake);
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
    "               [--mo-to NUMBER] [--threads N] [--unsubscribed NUMBER]\n";

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
