#include "store.h"

#include <errno.h>
#include <stdatomic.h>
#include <hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfgval.h"
#include "err.h"
#include "log.h"
#include "mem.h"

struct flex_store {
    redisContext *ctx;
    char *fmt; /* RESP of the command being appended (flex_store_append) */
    size_t fmtcap;
    char reply_err[160];        /* the last error reply (EXECABORT aside: its cause) */
    uint64_t appended, replied; /* commands sent, replies read */
};

/* Splits a redis:// or unix:// URL. */
struct url {
    char host[256];
    int port;
    char user[128]; /* a Redis 6 ACL user ("" the default user) */
    char password[256];
    int db;
    bool unix_socket;
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
    if (strncmp(u, "redis://", 8) != 0)
        return FLEX_E_INVAL;
    const char *p = u + 8, *at = strchr(p, '@'), *slash;
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
    const char *colon = memchr(p, ':', hl);
    size_t hn = colon ? (size_t)(colon - p) : hl;
    if (hn == 0 || hn >= sizeof(out->host))
        return FLEX_E_INVAL;
    memcpy(out->host, p, hn);
    if (colon)
        out->port = atoi(colon + 1);
    if (slash && slash[1])
        out->db = atoi(slash + 1);
    return 0;
}

static int setup(struct flex_store *s, const struct url *u, char *why, size_t whysz)
{
    redisReply *r;
    if (u->password[0]) { /* AUTH user password: a Redis 6 ACL user */
        r = u->user[0] ? redisCommand(s->ctx, "AUTH %s %s", u->user, u->password)
                       : redisCommand(s->ctx, "AUTH %s", u->password);
        bool bad = !r || r->type == REDIS_REPLY_ERROR;
        /* Redis's own reason (WRONGPASS...) names no secret */
        snprintf(why, whysz, "redis AUTH%s%s failed: %.100s", u->user[0] ? " as " : "", u->user,
                 r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
        if (r)
            freeReplyObject(r);
        if (bad)
            return FLEX_E_INVAL;
        why[0] = '\0';
    }
    if (u->db) {
        r = redisCommand(s->ctx, "SELECT %d", u->db);
        bool bad = !r || r->type == REDIS_REPLY_ERROR;
        if (r)
            freeReplyObject(r);
        if (bad) {
            snprintf(why, whysz, "redis SELECT %d failed", u->db);
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
    if (u->unix_socket || flex_cfgval_is_loopback(u->host))
        return;
    int64_t now = (int64_t)time(NULL) * 1000,
            was = atomic_load_explicit(&last_ms, memory_order_relaxed);
    if (was && now - was < 60000)
        return;
    atomic_store_explicit(&last_ms, now, memory_order_relaxed);
    static const struct flex_log_ctx ctx = {NULL, "store", NULL};
    flex_log(FLEX_LOG_WARN, &ctx, 0,
             "redis at %s without TLS: its password and every patient's number and text cross "
             "the network in clear",
             u->host);
}

int flex_store_connect(struct flex_store **out, const char *url, int timeout_ms, char *why,
                       size_t whysz)
{
    struct url u;
    if (parse_url(url, &u) != 0) {
        snprintf(why, whysz, "bad redis url");
        return FLEX_E_INVAL;
    }
    warn_plaintext(&u);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *ctx = u.unix_socket ? redisConnectUnixWithTimeout(u.host, tv)
                                      : redisConnectWithTimeout(u.host, u.port, tv);
    if (!ctx || ctx->err) {
        char shown[512];
        flex_cfgval_redact_url(url, shown, sizeof(shown));
        snprintf(why, whysz, "cannot connect to redis at %s: %s", shown,
                 ctx ? ctx->errstr : "out of memory");
        int rc = ctx && ctx->err == REDIS_ERR_IO ? -ECONNREFUSED : FLEX_E_INVAL;
        if (ctx)
            redisFree(ctx);
        return rc;
    }
    /* Replies may be slow under load, never silent for long. */
    struct timeval rtv = {30, 0};
    redisSetTimeout(ctx, rtv);
    redisEnableKeepAlive(ctx);
    struct flex_store *s = flex_calloc(1, sizeof(*s));
    s->ctx = ctx;
    int rc = setup(s, &u, why, whysz);
    if (rc) {
        flex_store_del(s);
        return rc;
    }
    *out = s;
    return 0;
}

void flex_store_del(struct flex_store *s)
{
    if (!s)
        return;
    if (s->ctx)
        redisFree(s->ctx);
    flex_free(s->fmt);
    flex_free(s);
}

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
    if (need > s->fmtcap) {
        s->fmtcap = need * 2;
        s->fmt = flex_realloc(s->fmt, s->fmtcap);
    }
    char *p = put_len(s->fmt, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        p = put_len(p, '$', lens[i]);
        memcpy(p, argv[i], lens[i]);
        p += lens[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    if (redisAppendFormattedCommand(s->ctx, s->fmt, (size_t)(p - s->fmt)) == REDIS_OK)
        s->appended++;
}

void flex_store_appendf(struct flex_store *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (redisvAppendCommand(s->ctx, fmt, ap) == REDIS_OK)
        s->appended++;
    va_end(ap);
}

int flex_store_reply(struct flex_store *s, struct redisReply **r)
{
    void *reply = NULL;
    if (redisGetReply(s->ctx, &reply) != REDIS_OK || !reply)
        return -1;
    *r = reply;
    s->replied++;
    const redisReply *rr = reply;
    if (rr->type == REDIS_REPLY_ERROR && rr->str && strncmp(rr->str, "EXECABORT", 9) != 0)
        snprintf(s->reply_err, sizeof(s->reply_err), "%s", rr->str);
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
    return s->ctx->err ? s->ctx->errstr : s->reply_err[0] ? s->reply_err : "no error";
}

bool flex_reply_is_error(const struct redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR;
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
