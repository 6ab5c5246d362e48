#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cfgval.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "tls.h"

/*
 * The transport is Flex's own: a socket (TCP or unix), with OpenSSL on it
 * for rediss://, and hiredis's RESP reader (redisReader) to parse what
 * comes back.  hiredis 0.14, Debian's, has no TLS, and its redisContext
 * owns the socket; keeping only its reader (and its printf-like command
 * formatter, for flex_store_appendf) gives TLS without giving up the RESP
 * code that hiredis does well.  The socket is non-blocking and every wait
 * is a poll() bounded by the store's timeout.
 */
#define READ_CHUNK 65536
#define IO_TIMEOUT_MS 30000 /* replies may be slow under load, never silent for long */
#define OUT_KEEP (4u << 20) /* an output buffer larger than this is freed once sent */

struct flex_store {
    int fd;
    SSL *ssl; /* rediss://; NULL in clear */
    redisReader *reader;
    char *out; /* RESP of the commands appended and not yet sent */
    size_t outlen, outoff, outcap;
    int timeout_ms;      /* one read or write waits at most this long... */
    int64_t deadline_ms; /* ...or, while connecting, until this (monotonic; 0 none) */
    bool failed;         /* the connection is unusable: reconnect */
    char errstr[200];
    char reply_err[160];        /* the last error reply (EXECABORT aside: its cause) */
    uint64_t appended, replied; /* commands sent, replies read */
    uint64_t refusals;          /* error replies that say "not now" (flex_reply_is_transient) */
    char where[300];            /* the URL without its password, for messages */
    char rbuf[READ_CHUNK];
};

/* Splits a redis://, rediss:// or unix:// URL (checked by
 * flex_cfgval_redis_url). */
struct url {
    char host[256];
    int port;
    char user[128]; /* a Redis 6 ACL user ("" the default user) */
    char password[256];
    int db;
    bool unix_socket, tls;
};

static int parse_url(const char *u, struct url *out)
{
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (strncmp(u, "unix://", 7) == 0) {
        const char *q = strchr(u + 7, '?');
        size_t n = q ? (size_t)(q - u - 7) : strlen(u + 7);
        if (n == 0 || n >= sizeof(out->host))
            return FLEX_E_INVAL;
        memcpy(out->host, u + 7, n);
        out->unix_socket = true;
        if (q && strncmp(q, "?db=", 4) == 0)
            out->db = atoi(q + 4);
        return 0;
    }
    const char *p;
    if (strncmp(u, "redis://", 8) == 0)
        p = u + 8;
    else if (strncmp(u, "rediss://", 9) == 0)
        p = u + 9, out->tls = true;
    else
        return FLEX_E_INVAL;
    const char *at = strchr(p, '@'), *slash;
    for (const char *q = at; q && (q = strchr(q + 1, '@')) != NULL && q < p + strcspn(p, "/");)
        at = q; /* the last '@' before the path: a password may hold one */
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        if ((size_t)(at - pw) >= sizeof(out->password) ||
            (colon && (size_t)(colon - p) >= sizeof(out->user)))
            return FLEX_E_INVAL;
        if (colon)
            memcpy(out->user, p, (size_t)(colon - p));
        memcpy(out->password, pw, (size_t)(at - pw));
        p = at + 1;
    }
    slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    const char *colon, *host = p;
    size_t hn;
    if (*p == '[') { /* an IPv6 address: [::1]:6380 */
        const char *close = memchr(p, ']', hl);
        if (!close)
            return FLEX_E_INVAL;
        host = p + 1;
        hn = (size_t)(close - host);
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = memchr(p, ':', hl);
        hn = colon ? (size_t)(colon - p) : hl;
    }
    if (hn == 0 || hn >= sizeof(out->host))
        return FLEX_E_INVAL;
    memcpy(out->host, host, hn);
    if (colon)
        out->port = atoi(colon + 1);
    if (out->port < 1 || out->port > 65535)
        return FLEX_E_INVAL;
    if (slash && slash[1])
        out->db = atoi(slash + 1);
    return 0;
}

/* ---- the connection ------------------------------------------------- */

/* The first failure is the one reported; the store is unusable after it. */
static void fail(struct flex_store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct flex_store *s, const char *fmt, ...)
{
    if (s->failed)
        return;
    s->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errstr, sizeof(s->errstr), fmt, ap);
    va_end(ap);
}

static void tls_fail(struct flex_store *s, const char *doing, int e)
{
    char why[160];
    if (e == SSL_ERROR_ZERO_RETURN)
        snprintf(why, sizeof(why), "the server closed the connection");
    else if (e == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0)
        snprintf(why, sizeof(why), "%s", errno ? strerror(errno) : "the connection was closed");
    else
        flex_tls_reason(s->ssl, why, sizeof(why));
    ERR_clear_error();
    fail(s, "TLS %s redis at %s: %s", doing, s->where, why);
}

/* How long the next wait may take: what is left of the connect's deadline,
 * else the store's timeout. */
static int wait_budget(const struct flex_store *s)
{
    if (!s->deadline_ms)
        return s->timeout_ms;
    int64_t left = s->deadline_ms - flex_mono_ms();
    return left > 0 ? (int)left : 0;
}

/* Waits until the socket is ready for |ev|, within the budget. */
static int wait_fd(struct flex_store *s, short ev, const char *doing)
{
    int ms = wait_budget(s);
    struct pollfd pf = {.fd = s->fd, .events = ev};
    int r;
    do
        r = poll(&pf, 1, ms);
    while (r < 0 && errno == EINTR);
    if (r == 0) {
        fail(s, "redis at %s: no %s in %d ms", s->where, doing, s->timeout_ms);
        return -1;
    }
    if (r < 0) {
        fail(s, "redis at %s: poll: %s", s->where, strerror(errno));
        return -1;
    }
    return 0; /* POLLERR and POLLHUP: the next read or write says what */
}

/* One write of at most |n| bytes; the number written, or -1. */
static ssize_t io_write(struct flex_store *s, const char *buf, size_t n)
{
    if (n > INT_MAX)
        n = INT_MAX;
    for (;;) {
        if (s->ssl) {
            ERR_clear_error();
            errno = 0;
            int r = SSL_write(s->ssl, buf, (int)n);
            if (r > 0)
                return r;
            int e = SSL_get_error(s->ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                tls_fail(s, "write to", e);
                return -1;
            }
            if (wait_fd(s, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, "progress writing") != 0)
                return -1;
            continue;
        }
        ssize_t r = send(s->fd, buf, n, MSG_NOSIGNAL);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            fail(s, "write to redis at %s: %s", s->where, strerror(errno));
            return -1;
        }
        if (wait_fd(s, POLLOUT, "progress writing") != 0)
            return -1;
    }
}

/* One read into s->rbuf; the number of bytes, or -1 (closed counts). */
static ssize_t io_read(struct flex_store *s)
{
    for (;;) {
        if (s->ssl) {
            ERR_clear_error();
            errno = 0;
            int r = SSL_read(s->ssl, s->rbuf, (int)sizeof(s->rbuf));
            if (r > 0)
                return r;
            int e = SSL_get_error(s->ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                tls_fail(s, "read from", e);
                return -1;
            }
            if (wait_fd(s, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, "reply") != 0)
                return -1;
            continue;
        }
        ssize_t r = recv(s->fd, s->rbuf, sizeof(s->rbuf), 0);
        if (r > 0)
            return r;
        if (r == 0) {
            fail(s, "redis at %s closed the connection", s->where);
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            fail(s, "read from redis at %s: %s", s->where, strerror(errno));
            return -1;
        }
        if (wait_fd(s, POLLIN, "reply") != 0)
            return -1;
    }
}

/* Sends everything appended. */
static int flush_out(struct flex_store *s)
{
    while (s->outoff < s->outlen) {
        ssize_t w = io_write(s, s->out + s->outoff, s->outlen - s->outoff);
        if (w < 0)
            return -1;
        s->outoff += (size_t)w;
    }
    s->outoff = s->outlen = 0;
    if (s->outcap > OUT_KEEP) { /* one huge batch need not pin its buffer */
        flex_free(s->out);
        s->out = NULL;
        s->outcap = 0;
    }
    return 0;
}

/* Room for |need| more bytes at the end of the output. */
static char *out_reserve(struct flex_store *s, size_t need)
{
    if (s->outlen + need > s->outcap) {
        size_t cap = s->outcap ? s->outcap : 16384;
        while (cap < s->outlen + need)
            cap *= 2;
        s->out = flex_realloc(s->out, cap);
        s->outcap = cap;
    }
    return s->out + s->outlen;
}

static void set_options(int fd, bool tcp)
{
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    if (!tcp)
        return;
    int idle = 15, intvl = 5, cnt = 3; /* a dead peer found in about 30 s */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

/* A non-blocking connect of |fd| to |sa|, at most |ms|: 0 or an errno. */
static int connect_within(int fd, const struct sockaddr *sa, socklen_t len, int ms)
{
    if (connect(fd, sa, len) == 0)
        return 0;
    if (errno != EINPROGRESS) /* EAGAIN: a full unix backlog, no ports left: not in progress */
        return errno;
    struct pollfd pf = {.fd = fd, .events = POLLOUT};
    int r;
    do
        r = poll(&pf, 1, ms);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return ETIMEDOUT;
    int err = 0;
    socklen_t el = sizeof(err);
    if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
        return errno;
    return err;
}

/* Opens the socket; returns 0, or a negative errno with the reason. */
static int dial(struct flex_store *s, const struct url *u, char *why, size_t whysz)
{
    if (u->unix_socket) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(u->host) >= sizeof(sa.sun_path)) {
            snprintf(why, whysz, "redis socket path too long: %s", u->host);
            return FLEX_E_INVAL;
        }
        memcpy(sa.sun_path, u->host, strlen(u->host) + 1);
        s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int err = s->fd < 0
                      ? errno
                      : connect_within(s->fd, (struct sockaddr *)&sa, sizeof(sa), wait_budget(s));
        if (err) {
            snprintf(why, whysz, "cannot connect to redis at %s: %s", s->where, strerror(err));
            return -err;
        }
        set_options(s->fd, false);
        return 0;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai, *a;
    char port[8];
    snprintf(port, sizeof(port), "%d", u->port);
    int gai = getaddrinfo(u->host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(why, whysz, "cannot resolve redis host %s: %s", u->host, gai_strerror(gai));
        return -EHOSTUNREACH;
    }
    int err = ECONNREFUSED;
    for (a = ai; a; a = a->ai_next) {
        s->fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (s->fd < 0) {
            err = errno;
            continue;
        }
        err = connect_within(s->fd, a->ai_addr, a->ai_addrlen, wait_budget(s));
        if (err == 0)
            break;
        close(s->fd);
        s->fd = -1;
    }
    freeaddrinfo(ai);
    if (s->fd < 0) {
        snprintf(why, whysz, "cannot connect to redis at %s: %s", s->where, strerror(err));
        return -err;
    }
    set_options(s->fd, true);
    return 0;
}

/* The TLS handshake, the certificate checked against |p|->tls_ca (or the
 * system store) and the host name or address dialled. */
static int tls_start(struct flex_store *s, const struct url *u, const struct flex_store_params *p,
                     char *why, size_t whysz)
{
    char reason[256];
    SSL_CTX *ctx =
        flex_tls_client_ctx(p->tls_ca, p->tls_cert, p->tls_key, true, reason, sizeof(reason));
    if (!ctx) {
        snprintf(why, whysz, "redis TLS: %s", reason);
        return FLEX_E_INVAL;
    }
    s->ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the SSL holds its own reference */
    if (!s->ssl || SSL_set_fd(s->ssl, s->fd) != 1 ||
        flex_tls_client_peer(s->ssl, u->host, true) != 0) {
        snprintf(why, whysz, "redis TLS: cannot set up the connection");
        return FLEX_E_INVAL;
    }
    SSL_set_mode(s->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_connect(s->ssl);
        if (r == 1)
            return 0;
        int e = SSL_get_error(s->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            if (wait_fd(s, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, "TLS handshake") != 0)
                break;
            continue;
        }
        tls_fail(s, "handshake with", e);
        break;
    }
    /* A plain port reads the TLS hello as the start of a command and waits:
     * the handshake times out */
    snprintf(why, whysz, "%s%s", s->errstr,
             strstr(s->errstr, "no TLS handshake") ? " (a port without TLS? use redis://)" : "");
    return -ECONNREFUSED;
}

/* AUTH and SELECT, then PING: one round trip that proves the connection
 * speaks RESP (a plain client on a TLS port is closed by Redis here, and
 * said so, instead of at the caller's first command). */
static int setup(struct flex_store *s, const struct url *u, bool no_client_cert, char *why,
                 size_t whysz)
{
    int n = 0;
    if (u->password[0]) { /* AUTH user password: a Redis 6 ACL user */
        const char *argv[] = {"AUTH", u->user, u->password};
        size_t lens[] = {4, strlen(u->user), strlen(u->password)};
        bool user = u->user[0] != '\0';
        flex_store_append(s, user ? 3 : 2, user ? argv : (const char *[]){"AUTH", u->password},
                          user ? lens : (const size_t[]){4, lens[2]});
        n++;
    }
    if (u->db) {
        flex_store_appendf(s, "SELECT %d", u->db);
        n++;
    }
    flex_store_appendf(s, "PING");
    for (int i = 0; i <= n; i++) {
        redisReply *r;
        if (flex_store_reply(s, &r) != 0) {
            /* Redis closes or resets a connection that does not start
             * with TLS on its TLS port; with TLS 1.3 it refuses a client
             * without a certificate after the handshake, with an alert
             * or, if we write first, a reset */
            const char *hint = "";
            if (!u->tls && (strstr(s->errstr, "closed") || strstr(s->errstr, "reset")))
                hint = " (a TLS port? use rediss://)";
            else if (u->tls && no_client_cert)
                hint = " (if Redis requires client certificates: [redis] tls_cert and tls_key)";
            snprintf(why, whysz, "%s%s", s->errstr, hint);
            return -ECONNREFUSED;
        }
        bool bad = r->type == REDIS_REPLY_ERROR;
        /* A PING answered by an error still proves the connection speaks
         * RESP: Redis loading its data (or busy with a script, or a replica
         * without its master) takes commands later, and the callers treat
         * those errors as passing. */
        if (bad && i == n &&
            (strncmp(r->str, "LOADING", 7) == 0 || strncmp(r->str, "BUSY", 4) == 0 ||
             strncmp(r->str, "MASTERDOWN", 10) == 0))
            bad = false;
        if (bad && i == 0 && u->password[0])
            /* Redis's own reason (WRONGPASS...) names no secret; something
             * else answering AUTH might quote it */
            snprintf(why, whysz, "redis AUTH%s%s failed: %.100s", u->user[0] ? " as " : "", u->user,
                     strstr(r->str, u->password) ? "refused" : r->str);
        else if (bad)
            snprintf(why, whysz, "redis at %s refused %s: %.100s", s->where,
                     i < n ? "SELECT" : "PING", r->str);
        freeReplyObject(r);
        if (bad) {
            flex_store_settle(s);
            return FLEX_E_INVAL;
        }
    }
    return 0;
}

/* Redis in clear on another machine: the password and every patient's
 * number and text cross the network readable.  Said at the first
 * connection of the process and then at most once a minute. */
static void warn_plaintext(const struct url *u)
{
    static _Atomic int64_t last_ms; /* relaxed: a rate limit, not an ordering */
    if (u->tls || u->unix_socket || flex_cfgval_is_loopback(u->host))
        return;
    int64_t now = (int64_t)time(NULL) * 1000,
            was = atomic_load_explicit(&last_ms, memory_order_relaxed);
    if (was && now - was < 60000)
        return;
    atomic_store_explicit(&last_ms, now, memory_order_relaxed);
    static const struct flex_log_ctx ctx = {.component = "store"};
    flex_log(FLEX_LOG_WARN, &ctx, 0,
             "redis at %s without TLS: its password and every patient's number and text cross "
             "the network in clear (use rediss://)",
             u->host);
}

int flex_store_connect(struct flex_store **out, const struct flex_store_params *p, int timeout_ms,
                       char *why, size_t whysz)
{
    struct url u;
    if (!p->url || parse_url(p->url, &u) != 0) {
        snprintf(why, whysz, "bad redis url");
        return FLEX_E_INVAL;
    }
    warn_plaintext(&u);
    struct flex_store *s = flex_calloc(1, sizeof(*s));
    s->fd = -1;
    s->timeout_ms = timeout_ms;
    flex_cfgval_redact_url(p->url, s->where, sizeof(s->where));
    s->deadline_ms = flex_mono_ms() + timeout_ms;
    s->reader = redisReaderCreate();
    int rc = s->reader ? dial(s, &u, why, whysz) : -ENOMEM;
    if (!s->reader)
        snprintf(why, whysz, "out of memory");
    if (rc == 0 && u.tls)
        rc = tls_start(s, &u, p, why, whysz);
    if (rc == 0)
        rc = setup(s, &u, !(p->tls_cert && p->tls_cert[0]), why, whysz);
    if (rc != 0) {
        flex_store_del(s);
        return rc;
    }
    s->timeout_ms = IO_TIMEOUT_MS;
    s->deadline_ms = 0;
    *out = s;
    return 0;
}

void flex_store_del(struct flex_store *s)
{
    if (!s)
        return;
    if (s->ssl) {
        if (!s->failed)
            SSL_shutdown(s->ssl); /* close_notify, without waiting for the peer's */
        SSL_free(s->ssl);
        ERR_clear_error();
    }
    if (s->fd >= 0)
        close(s->fd);
    if (s->reader)
        redisReaderFree(s->reader);
    flex_free(s->out);
    flex_free(s);
}

/* ---- commands and replies ------------------------------------------- */

static char *put_len(char *p, char tag, size_t v)
{
    char tmp[24];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    *p++ = tag;
    while (n)
        *p++ = tmp[--n];
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* The command in RESP, formatted here: hiredis formats each argument's
 * header with its own printf-like sdscatfmt, which showed in the profile
 * of every thread that writes much (docs/benchmarks.md). */
void flex_store_append(struct flex_store *s, int argc, const char **argv, const size_t *lens)
{
    size_t need = 32;
    for (int i = 0; i < argc; i++)
        need += lens[i] + 32;
    char *start = out_reserve(s, need);
    char *p = put_len(start, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        p = put_len(p, '$', lens[i]);
        memcpy(p, argv[i], lens[i]);
        p += lens[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    s->outlen += (size_t)(p - start);
    s->appended++;
}

void flex_store_appendf(struct flex_store *s, const char *fmt, ...)
{
    va_list ap;
    char *cmd = NULL;
    va_start(ap, fmt);
    int n = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (n <= 0 || !cmd) { /* a bad format is the caller's bug; out of memory aborts */
        fail(s, "cannot format a redis command");
        redisFreeCommand(cmd);
        return;
    }
    memcpy(out_reserve(s, (size_t)n), cmd, (size_t)n);
    s->outlen += (size_t)n;
    s->appended++;
    redisFreeCommand(cmd);
}

int flex_store_reply(struct flex_store *s, struct redisReply **r)
{
    void *reply = NULL;
    while (!s->failed) {
        if (redisReaderGetReply(s->reader, &reply) != REDIS_OK) {
            fail(s, "bad reply from redis at %s: %s", s->where, s->reader->errstr);
            break;
        }
        if (reply)
            break;
        if (flush_out(s) != 0)
            break;
        ssize_t n = io_read(s);
        if (n < 0)
            break;
        if (redisReaderFeed(s->reader, s->rbuf, (size_t)n) != REDIS_OK)
            fail(s, "redis reader: %s", s->reader->errstr);
    }
    if (!reply)
        return -1;
    *r = reply;
    s->replied++;
    const redisReply *rr = reply;
    if (rr->type == REDIS_REPLY_ERROR && rr->str && strncmp(rr->str, "EXECABORT", 9) != 0)
        snprintf(s->reply_err, sizeof(s->reply_err), "%s", rr->str);
    s->refusals += flex_reply_is_transient(rr);
    return 0;
}

void flex_store_free_reply(struct redisReply *r)
{
    if (r)
        freeReplyObject(r);
}

int flex_store_drain(struct flex_store *s, int n)
{
    int errors = 0;
    for (int i = 0; i < n; i++) {
        redisReply *r;
        if (flex_store_reply(s, &r) != 0)
            return -1;
        errors += r->type == REDIS_REPLY_ERROR;
        freeReplyObject(r);
    }
    return errors;
}

size_t flex_store_pending(const struct flex_store *s)
{
    return (size_t)(s->appended - s->replied);
}

int flex_store_settle(struct flex_store *s)
{
    return flex_store_drain(s, (int)flex_store_pending(s));
}

int flex_store_script_load(struct flex_store *s, const char *src, char sha[41])
{
    const char *argv[] = {"SCRIPT", "LOAD", src};
    size_t lens[] = {6, 4, strlen(src)};
    flex_store_append(s, 3, argv, lens);
    redisReply *r;
    if (flex_store_reply(s, &r) != 0)
        return -1;
    int rc = r->type == REDIS_REPLY_STRING && r->len == 40 ? 0 : -1;
    if (rc == 0)
        snprintf(sha, 41, "%.40s", r->str);
    freeReplyObject(r);
    return rc;
}

const char *flex_store_error(const struct flex_store *s)
{
    return s->failed ? s->errstr : s->reply_err[0] ? s->reply_err : "no error";
}

bool flex_reply_is_error(const struct redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR;
}

/* Errors of the server's state, not of the command: Redis out of memory
 * (maxmemory), a read-only replica, a failed save that stops writes, the
 * data set loading, a script running too long, a master down or without
 * enough replicas, a script gone after a flush or restart. */
bool flex_reply_is_transient(const struct redisReply *r)
{
    static const char *const kinds[] = {"OOM ",        "READONLY ", "MISCONF ",
                                        "LOADING ",    "BUSY ",     "MASTERDOWN ",
                                        "NOREPLICAS ", "TRYAGAIN ", "NOSCRIPT "};
    if (!r || r->type != REDIS_REPLY_ERROR || !r->str)
        return false;
    const char *e = r->str;
    /* an EXEC the server refused as it ran (Redis 7 checks its state again
     * then): "EXECABORT Transaction discarded because of: OOM ..." */
    static const char abort_[] = "EXECABORT Transaction discarded because of: ";
    if (strncmp(e, abort_, sizeof(abort_) - 1) == 0)
        e += sizeof(abort_) - 1;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strncmp(e, kinds[i], strlen(kinds[i])) == 0)
            return true;
    return false;
}

uint64_t flex_store_refusals(const struct flex_store *s)
{
    return s->refusals;
}

bool flex_reply_is_nil(const struct redisReply *r)
{
    return !r || r->type == REDIS_REPLY_NIL;
}

long long flex_reply_integer(const struct redisReply *r)
{
    if (!r)
        return 0;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return 0;
}

const char *flex_reply_str(const struct redisReply *r, size_t *len)
{
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS &&
               r->type != REDIS_REPLY_ERROR)) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = r->len;
    return r->str;
}

size_t flex_reply_count(const struct redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
}

struct redisReply *flex_reply_at(const struct redisReply *r, size_t i)
{
    return r && r->type == REDIS_REPLY_ARRAY && i < r->elements ? r->element[i] : NULL;
}
