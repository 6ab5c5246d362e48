#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfgval.h"
#include "e164.h"
#include "err.h"
#include "hash.h"
#include "intent.h"
#include "log.h"
#include "tmpl.h"
#include "tz.h"

_Atomic(struct flex_cfg *) flex_cfg_current;
struct flex_qsbr flex_cfg_qsbr;

#define MAX_FILE_SIZE (1 << 20)
#define MAX_SECTIONS 4096
#define SECRET_MAX 4096

/* ---- the key table -------------------------------------------------- */

enum kind {
    K_ENGINE,
    K_REDIS,
    K_HTTP,
    K_ROUTE,
    K_QUIET,
    K_KEYWORDS,
    K_CARRIER,
    K_LOCATION,
    K_TEMPLATE,
    K_RETENTION,
    K_NKINDS
};

static const struct {
    const char *name;
    bool named;
} kinds[K_NKINDS] = {
    [K_ENGINE] = {"engine", false},     [K_REDIS] = {"redis", false},
    [K_HTTP] = {"http", false},         [K_ROUTE] = {"route", false},
    [K_QUIET] = {"quiet_hours", false}, [K_KEYWORDS] = {"keywords", false},
    [K_CARRIER] = {"carrier", true},    [K_LOCATION] = {"location", true},
    [K_TEMPLATE] = {"template", true},  [K_RETENTION] = {"retention", false},
};

enum vtype {
    T_STR,
    T_SECRET,
    T_BOOL,
    T_UINT,
    T_DOUBLE,
    T_DURATION,
    T_HHMM,
    T_LOGLEVEL,
    T_CTYPE,
    T_TZ,
    T_PHONE,
    T_ROUTE,
    T_REDISURL,
    T_HTTPURL,
    T_HOSTPORT,
    T_TMPL,
    T_AMBIGUOUS,
    T_PROFILE,
    T_NAME,     /* 0-40 of [A-Za-z0-9._-]: goes into Redis commands as one word */
    T_KEYWORDS, /* one [keywords] list: engine/text/intent.h syntax */
    T_LIST,     /* comma-separated names (template kinds) -> struct flex_cfg_list */
    T_ALLOW     /* comma-separated numbers or "+DIGITS" prefixes -> struct flex_cfg_list */
};

/* Row flags.  RELOADABLE keys take effect on reload; IMMUTABLE ones need a
 * restart (a reload that changes one keeps the old value and says so);
 * SENSITIVE values are never echoed in messages. */
#define F_REQ 0x01
#define F_SMPP 0x02 /* applies to smpp carriers only */
#define F_HTTP 0x04 /* applies to http carriers only */
#define F_SENS 0x08
#define F_RELOAD 0x10
#define F_IMMUT 0x20
#define F_TWILIO 0x40 /* http: profile twilio only */
#define F_JSONP 0x80  /* http: profile json only */

struct row {
    uint8_t kind;
    const char *key;
    uint8_t type;
    size_t off;
    const char *dflt; /* NULL: no default (0/NULL) */
    double min, max;
    unsigned flags;
};

#define E(f) offsetof(struct flex_cfg, f)
#define C(f) offsetof(struct flex_cfg_carrier, f)
#define L(f) offsetof(struct flex_cfg_location, f)
#define KW(l) E(keyword_lists.text[l])
#define DAY_MS 86400000.0
_Static_assert(FLEX_CFG_KW_LISTS == FLEX_KW_N, "one [keywords] key per list");

static const struct row rows[] = {
    {K_ENGINE, "drain_timeout", T_DURATION, E(engine.drain_timeout_ms), "30", 0, 3600e3, F_RELOAD},
    {K_ENGINE, "audit_log", T_STR, E(engine.audit_log), "", 0, 0, F_IMMUT},
    {K_ENGINE, "audit_key", T_SECRET, E(engine.audit_key), "", 0, 0, F_SENS | F_IMMUT},
    {K_ENGINE, "log_level", T_LOGLEVEL, E(engine.log_level), "info", 0, 0, F_RELOAD},
    {K_ENGINE, "log_unmasked", T_BOOL, E(engine.log_unmasked), "false", 0, 0, F_RELOAD},
    {K_ENGINE, "message_validity", T_DURATION, E(engine.message_validity_ms), "24h", 60e3,
     30 * DAY_MS, F_RELOAD},
    {K_ENGINE, "max_parts", T_UINT, E(engine.max_parts), "6", 1, 10, F_RELOAD},
    {K_ENGINE, "claim_idle", T_DURATION, E(engine.claim_idle_ms), "60s", 1000, DAY_MS, F_RELOAD},
    {K_ENGINE, "cap_per_day", T_UINT, E(engine.cap_per_day), "1", 0, 100, F_RELOAD},
    {K_ENGINE, "cap_per_week", T_UINT, E(engine.cap_per_week), "3", 0, 100, F_RELOAD},
    {K_ENGINE, "recall_send_time", T_HHMM, E(engine.recall_send_min), "10:00", 0, 0, F_RELOAD},
    {K_ENGINE, "number_mps", T_DOUBLE, E(engine.number_mps), "0", 0, 1e6, F_RELOAD},
    {K_ENGINE, "consumer", T_NAME, E(engine.consumer), "", 0, 40, F_IMMUT},
    {K_ENGINE, "reply_context_days", T_UINT, E(engine.reply_context_days), "30", 1, 3650, F_RELOAD},
    {K_ENGINE, "history_days", T_UINT, E(engine.history_days), "30", 0, 3650, F_RELOAD},
    {K_ENGINE, "autoreply_per_day", T_UINT, E(engine.autoreply_per_day), "3", 0, 100, F_RELOAD},
    {K_ENGINE, "confirm_drops", T_LIST, E(engine.confirm_drops), "reminder_72h, reminder_24h", 0, 0,
     F_RELOAD},
    {K_ENGINE, "allow_only", T_ALLOW, E(engine.allow_only), "", 0, 0, F_RELOAD},
    {K_REDIS, "url", T_REDISURL, E(redis.url), "redis://127.0.0.1:6379/0", 0, 0, F_IMMUT},
    {K_REDIS, "tls_ca", T_STR, E(redis.tls_ca), "", 0, 0, F_IMMUT},
    {K_REDIS, "tls_cert", T_STR, E(redis.tls_cert), "", 0, 0, F_IMMUT},
    {K_REDIS, "tls_key", T_STR, E(redis.tls_key), "", 0, 0, F_IMMUT},
    {K_RETENTION, "inbound_days", T_UINT, E(retention.inbound_days), "30", 1, 3650, F_RELOAD},
    {K_RETENTION, "deadletter_days", T_UINT, E(retention.deadletter_days), "14", 1, 3650, F_RELOAD},
    {K_RETENTION, "optout_log_days", T_UINT, E(retention.optout_log_days), "90", 1, 3650, F_RELOAD},
    {K_RETENTION, "staff_days", T_UINT, E(retention.staff_days), "30", 1, 3650, F_RELOAD},
    {K_RETENTION, "status_days", T_UINT, E(retention.status_days), "3", 1, 30, F_RELOAD},
    {K_RETENTION, "job_history_days", T_UINT, E(retention.job_history_days), "30", 1, 3650,
     F_RELOAD},
    {K_RETENTION, "idempotency_days", T_UINT, E(retention.idempotency_days), "30", 1, 3650,
     F_RELOAD},
    {K_HTTP, "listen", T_HOSTPORT, E(http.listen), "127.0.0.1:9100", 0, 0, F_IMMUT},
    {K_ROUTE, "default", T_ROUTE, E(route._default_src), NULL, 0, 0, F_REQ | F_RELOAD},
    {K_QUIET, "enabled", T_BOOL, E(quiet_hours.enabled), "true", 0, 0, F_RELOAD},
    {K_QUIET, "start", T_HHMM, E(quiet_hours.start_min), "21:00", 0, 0, F_RELOAD},
    {K_QUIET, "end", T_HHMM, E(quiet_hours.end_min), "08:00", 0, 0, F_RELOAD},
    {K_KEYWORDS, "optout", T_KEYWORDS, KW(FLEX_KW_OPTOUT), NULL, 0, 0, F_RELOAD},
    {K_KEYWORDS, "optin", T_KEYWORDS, KW(FLEX_KW_OPTIN), NULL, 0, 0, F_RELOAD},
    {K_KEYWORDS, "help", T_KEYWORDS, KW(FLEX_KW_HELP), NULL, 0, 0, F_RELOAD},
    {K_KEYWORDS, "confirm", T_KEYWORDS, KW(FLEX_KW_CONFIRM), NULL, 0, 0, F_RELOAD},
    {K_KEYWORDS, "reschedule", T_KEYWORDS, KW(FLEX_KW_RESCHEDULE), NULL, 0, 0, F_RELOAD},
    {K_KEYWORDS, "emergency", T_KEYWORDS, KW(FLEX_KW_EMERGENCY), NULL, 0, 0, F_RELOAD},
    {K_KEYWORDS, "frontdesk_optout", T_KEYWORDS, KW(FLEX_KW_FRONTDESK_OPTOUT), NULL, 0, 0,
     F_RELOAD},
    {K_CARRIER, "type", T_CTYPE, C(type), NULL, 0, 0, F_REQ},
    {K_CARRIER, "enabled", T_BOOL, C(enabled), "true", 0, 0, F_RELOAD},
    {K_CARRIER, "mps", T_DOUBLE, C(mps), "0", 0, 1e6, F_RELOAD},
    {K_CARRIER, "host", T_STR, C(host), NULL, 0, 0, F_REQ | F_SMPP | F_RELOAD},
    {K_CARRIER, "port", T_UINT, C(port), "2775", 1, 65535, F_SMPP | F_RELOAD},
    {K_CARRIER, "system_id", T_STR, C(system_id), NULL, 1, 15, F_REQ | F_SMPP | F_RELOAD},
    {K_CARRIER, "password", T_SECRET, C(password), NULL, 0, 8, F_REQ | F_SMPP | F_SENS | F_RELOAD},
    {K_CARRIER, "tls", T_BOOL, C(tls), "false", 0, 0, F_SMPP | F_RELOAD},
    {K_CARRIER, "tls_verify", T_BOOL, C(tls_verify), "true", 0, 0, F_RELOAD},
    {K_CARRIER, "window", T_UINT, C(window), "64", 1, 4096, F_RELOAD},
    {K_CARRIER, "binds", T_UINT, C(binds), "1", 1, 16, F_SMPP | F_RELOAD},
    {K_CARRIER, "tls_ca", T_STR, C(tls_ca), NULL, 0, 0, F_RELOAD},
    {K_CARRIER, "connect_timeout", T_DURATION, C(connect_timeout_ms), "5s", 100, 300e3, F_RELOAD},
    {K_CARRIER, "response_timeout", T_DURATION, C(response_timeout_ms), "10s", 100, 300e3,
     F_RELOAD},
    {K_CARRIER, "enquire_link", T_DURATION, C(enquire_link_ms), "30s", 1000, 3600e3,
     F_SMPP | F_RELOAD},
    {K_CARRIER, "reconnect_max", T_DURATION, C(reconnect_max_ms), "30s", 1000, 3600e3, F_RELOAD},
    {K_CARRIER, "ambiguous", T_AMBIGUOUS, C(ambiguous_retry), "fail", 0, 0, F_RELOAD},
    {K_CARRIER, "url", T_HTTPURL, C(url), NULL, 0, 0, F_REQ | F_HTTP | F_RELOAD},
    {K_CARRIER, "account_sid", T_STR, C(account_sid), NULL, 1, 64,
     F_REQ | F_HTTP | F_TWILIO | F_RELOAD},
    {K_CARRIER, "auth_token", T_SECRET, C(auth_token), NULL, 1, 128,
     F_REQ | F_HTTP | F_TWILIO | F_SENS | F_RELOAD},
    {K_CARRIER, "status_callback", T_HTTPURL, C(status_callback), NULL, 0, 0, F_HTTP | F_RELOAD},
    {K_CARRIER, "webhook_url", T_HTTPURL, C(webhook_url), NULL, 0, 0, F_HTTP | F_TWILIO | F_RELOAD},
    {K_CARRIER, "profile", T_PROFILE, C(profile), "twilio", 0, 0, F_HTTP | F_RELOAD},
    {K_CARRIER, "auth_header", T_SECRET, C(auth_header), NULL, 0, 1024,
     F_HTTP | F_JSONP | F_SENS | F_RELOAD},
    {K_CARRIER, "json_to", T_STR, C(json_to), "to", 1, 64, F_HTTP | F_JSONP | F_RELOAD},
    {K_CARRIER, "json_from", T_STR, C(json_from), "from", 1, 64, F_HTTP | F_JSONP | F_RELOAD},
    {K_CARRIER, "json_body", T_STR, C(json_body), "body", 1, 64, F_HTTP | F_JSONP | F_RELOAD},
    {K_CARRIER, "json_callback", T_STR, C(json_callback), NULL, 0, 64, F_HTTP | F_JSONP | F_RELOAD},
    {K_CARRIER, "json_id", T_STR, C(json_id), "id", 1, 128, F_HTTP | F_JSONP | F_RELOAD},
    {K_CARRIER, "json_error_code", T_STR, C(json_error_code), "error.code", 1, 128,
     F_HTTP | F_JSONP | F_RELOAD},
    {K_CARRIER, "json_error_message", T_STR, C(json_error_message), "error.message", 1, 128,
     F_HTTP | F_JSONP | F_RELOAD},
    {K_LOCATION, "name", T_STR, L(name), NULL, 1, 80, F_REQ | F_RELOAD},
    {K_LOCATION, "timezone", T_TZ, L(timezone), NULL, 0, 0, F_REQ | F_RELOAD},
    {K_LOCATION, "phone", T_PHONE, L(phone), NULL, 0, 0, F_REQ | F_RELOAD},
    {K_LOCATION, "route", T_ROUTE, L(_route_src), NULL, 0, 0, F_RELOAD},
    {K_LOCATION, "paused", T_BOOL, L(paused), "false", 0, 0, F_RELOAD},
    {K_LOCATION, "mps", T_DOUBLE, L(mps), "0", 0, 1e6, F_RELOAD},
    {K_TEMPLATE, "body", T_TMPL, offsetof(struct flex_cfg_template, body), NULL, 0, 0,
     F_REQ | F_RELOAD},
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))
_Static_assert(NROWS <= 128, "row masks are 128 bits");
#define ROW_BIT(r) (1ULL << ((r) % 64))
#define ROW_WORD(r) ((r) / 64)

/* Templates the engine itself sends; a config without them cannot run. */
static const char *const required_templates[] = {
    "reminder_72h",   "reminder_24h",   "reminder_2h",   "recall_due",
    "recall_overdue", "optout_confirm", "optin_confirm", "help",
};

/* ---- parser state ------------------------------------------------- */

/* One section instance: a singleton (always present, maybe not in the file)
 * or one named section. */
struct sect {
    uint8_t kind;
    bool in_file; /* header seen (singletons) */
    const char *name;
    const char *file;
    unsigned line;
    size_t index;    /* into the kind's array (named kinds) */
    uint64_t set[2]; /* rows given a value (a bit per row) */
};

/* One "key = value", from the file or a -D option. */
struct kv {
    size_t sect;
    const char *key;
    const char *val;
    const char *file;
    unsigned line;
};

/* Errors are gathered, then reported sorted: the file's by line, then the
 * -D options' by position. */
struct diagnostic {
    const char *file;
    unsigned line;
    unsigned seq;
    char *msg;
};

struct parser {
    struct diagnostic *diags;
    size_t ndiags, capdiags;
    struct flex_cfg *cfg;
    struct flex_arena *a;
    const char *file;
    unsigned last_line;
    flex_cfg_diag_cb cb;
    void *arg;
    unsigned nerr;
    struct sect *sects;
    size_t nsects, capsects;
    struct kv *kvs;
    size_t nkvs, capkvs;
    bool kw_bad; /* a [keywords] list was refused: do not build them again */
};

static void diag(struct parser *p, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void vdiag(struct parser *p, bool error, const char *file, unsigned line, const char *fmt,
                  va_list ap) __attribute__((format(printf, 5, 0)));

/* One diagnostic, an error ("warning: " first when |error| is false). */
static void vdiag(struct parser *p, bool error, const char *file, unsigned line, const char *fmt,
                  va_list ap)
{
    char msg[512];
    int o = error ? 0 : snprintf(msg, sizeof(msg), "warning: ");
    vsnprintf(msg + o, sizeof(msg) - (size_t)o, fmt, ap);
    p->nerr += error;
    if (p->ndiags == p->capdiags) {
        p->capdiags = p->capdiags ? p->capdiags * 2 : 16;
        p->diags = flex_realloc(p->diags, p->capdiags * sizeof(*p->diags));
    }
    p->diags[p->ndiags] = (struct diagnostic){file, line, (unsigned)p->ndiags, flex_strdup(msg)};
    p->ndiags++;
}

static void diag(struct parser *p, const char *file, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(p, true, file, line, fmt, ap);
    va_end(ap);
}

/* A diagnostic that does not refuse the configuration: "warning: ..." */
static void warn(struct parser *p, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void warn(struct parser *p, const char *file, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(p, false, file, line, fmt, ap);
    va_end(ap);
}

static int diag_cmp(const void *a, const void *b)
{
    const struct diagnostic *x = a, *y = b;
    int xd = strcmp(x->file, "-D") == 0, yd = strcmp(y->file, "-D") == 0;
    if (xd != yd)
        return xd - yd;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void diag_flush(struct parser *p)
{
    if (p->ndiags > 1)
        qsort(p->diags, p->ndiags, sizeof(*p->diags), diag_cmp);
    for (size_t i = 0; i < p->ndiags; i++) {
        if (p->cb)
            p->cb(p->arg, p->diags[i].file, p->diags[i].line, p->diags[i].msg);
        flex_free(p->diags[i].msg);
    }
    flex_free(p->diags);
}

/* A value quoted in a message: at most 60 bytes, control bytes as '?'. */
static const char *shown(const char *v, char buf[64])
{
    size_t i = 0;
    for (; v[i] && i < 60; i++)
        buf[i] = ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) ? '?' : v[i];
    if (v[i])
        buf[i - 3] = buf[i - 2] = buf[i - 1] = '.';
    buf[i] = '\0';
    return buf;
}

static const char *sect_label(const struct sect *s, char buf[96])
{
    if (kinds[s->kind].named)
        snprintf(buf, 96, "[%s %s]", kinds[s->kind].name, s->name);
    else
        snprintf(buf, 96, "[%s]", kinds[s->kind].name);
    return buf;
}

static size_t sect_add(struct parser *p, uint8_t kind, const char *name, const char *file,
                       unsigned line)
{
    if (p->nsects == p->capsects) {
        p->capsects = p->capsects ? p->capsects * 2 : 16;
        p->sects = flex_realloc(p->sects, p->capsects * sizeof(*p->sects));
    }
    p->sects[p->nsects] = (struct sect){.kind = kind, .name = name, .file = file, .line = line};
    return p->nsects++;
}

static long sect_find(const struct parser *p, int kind, const char *name)
{
    for (size_t i = 0; i < p->nsects; i++)
        if (p->sects[i].kind == kind && (!kinds[kind].named || strcmp(p->sects[i].name, name) == 0))
            return (long)i;
    return -1;
}

static void kv_add(struct parser *p, size_t sect, const char *key, const char *val,
                   const char *file, unsigned line)
{
    if (p->nkvs == p->capkvs) {
        p->capkvs = p->capkvs ? p->capkvs * 2 : 64;
        p->kvs = flex_realloc(p->kvs, p->capkvs * sizeof(*p->kvs));
    }
    p->kvs[p->nkvs++] = (struct kv){sect, key, val, file, line};
}

static const struct row *row_find(int kind, const char *key)
{
    for (size_t i = 0; i < NROWS; i++)
        if (rows[i].kind == kind && strcmp(rows[i].key, key) == 0)
            return &rows[i];
    return NULL;
}

/* ---- lexing the file ----------------------------------------------- */

static const char *trim(const char *s, const char *e, const char **end)
{
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
    *end = e;
    return s;
}

static long lex_header_kind(struct parser *p, int kind, const char *nm, const char *ne,
                            unsigned line)
{
    size_t nlen = (size_t)(ne - nm);
    if (!kinds[kind].named) {
        if (nlen) {
            diag(p, p->file, line, "section [%s] takes no name", kinds[kind].name);
            return -1;
        }
        long i = sect_find(p, kind, NULL);
        if (p->sects[i].in_file) {
            diag(p, p->file, line, "duplicate section [%s] (first at line %u)", kinds[kind].name,
                 p->sects[i].line);
            return -1;
        }
        p->sects[i].in_file = true;
        p->sects[i].line = line;
        return i;
    }
    if (!flex_cfgval_name_ok(nm, nlen)) {
        diag(p, p->file, line, "section [%s] needs a NAME of 1-64 letters, digits, '_' or '-'",
             kinds[kind].name);
        return -1;
    }
    char *name = flex_arena_strndup(p->a, nm, nlen);
    long i = sect_find(p, kind, name);
    if (i >= 0) {
        diag(p, p->file, line, "duplicate section [%s %s] (first at line %u)", kinds[kind].name,
             name, p->sects[i].line);
        return -1;
    }
    if (p->nsects >= MAX_SECTIONS) {
        diag(p, p->file, line, "too many sections (at most %d)", MAX_SECTIONS);
        return -1;
    }
    return (long)sect_add(p, (uint8_t)kind, name, p->file, line);
}

static const char *nearest_kind(const char *word)
{
    const char *names[K_NKINDS];
    for (int k = 0; k < K_NKINDS; k++)
        names[k] = kinds[k].name;
    return flex_cfgval_nearest(word, names, K_NKINDS);
}

/* The key of |kind| nearest |key|, for "did you mean". */
static const char *nearest_key(int kind, const char *key)
{
    const char *names[NROWS];
    size_t n = 0;
    for (size_t r = 0; r < NROWS; r++)
        if (rows[r].kind == kind)
            names[n++] = rows[r].key;
    return flex_cfgval_nearest(key, names, n);
}

/* "[kind]" or "[kind NAME]"; returns the section index or -1. */
static long lex_header(struct parser *p, const char *s, const char *e, unsigned line)
{
    const char *rb = memchr(s, ']', (size_t)(e - s));
    if (!rb || rb + 1 != e) {
        diag(p, p->file, line, "bad section header (expected [section] or [section NAME])");
        return -1;
    }
    const char *ie;
    const char *in = trim(s + 1, rb, &ie);
    const char *sp = in;
    while (sp < ie && *sp != ' ' && *sp != '\t')
        sp++;
    const char *ne;
    const char *nm = trim(sp, ie, &ne);
    int kind = -1;
    for (int k = 0; k < K_NKINDS; k++)
        if ((size_t)(sp - in) == strlen(kinds[k].name) &&
            memcmp(in, kinds[k].name, (size_t)(sp - in)) == 0)
            kind = k;
    if (kind < 0) {
        char word[48];
        snprintf(word, sizeof(word), "%.*s", (int)(sp - in > 40 ? 40 : sp - in), in);
        const char *near = nearest_kind(word);
        diag(p, p->file, line, "unknown section [%.*s]%s%s%s", (int)(ie - in > 60 ? 60 : ie - in),
             in, near ? " (did you mean [" : "", near ? near : "", near ? "]?)" : "");
        return -1;
    }
    return lex_header_kind(p, kind, nm, ne, line);
}

/* Unquotes a "double-quoted" value (\" \\ \n \t escapes) into the arena. */
static const char *lex_value(struct parser *p, const char *v, const char *ve, unsigned line)
{
    size_t len = (size_t)(ve - v);
    if (len < 2 || v[0] != '"' || ve[-1] != '"')
        return flex_arena_strndup(p->a, v, len);
    char *out = flex_arena_alloc(p->a, len);
    size_t o = 0;
    for (const char *q = v + 1; q < ve - 1; q++) {
        if (*q == '\\' && q + 1 < ve - 1) {
            q++;
            out[o++] = *q == 'n' ? '\n' : *q == 't' ? '\t' : *q;
        } else if (*q == '"') {
            diag(p, p->file, line, "unescaped '\"' inside a quoted value");
            break;
        } else {
            out[o++] = *q;
        }
    }
    out[o] = '\0';
    return out;
}

static bool key_ok(const char *k, size_t len)
{
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
            return false;
    return true;
}

/* "key = value" inside section |cur| (-1: a bad section, -2: none yet). */
static void lex_kv(struct parser *p, long cur, const char *s, const char *e, unsigned line)
{
    const char *eq = memchr(s, '=', (size_t)(e - s));
    if (!eq) {
        diag(p, p->file, line, "expected KEY = VALUE");
        return;
    }
    const char *ke, *ve;
    const char *k = trim(s, eq, &ke);
    const char *v = trim(eq + 1, e, &ve);
    if (!key_ok(k, (size_t)(ke - k))) {
        diag(p, p->file, line, "bad key name (expected lower-case letters, digits, '_')");
        return;
    }
    if (cur == -2) {
        diag(p, p->file, line, "key '%.*s' outside any section", (int)(ke - k), k);
        return;
    }
    if (cur < 0)
        return; /* the bad header was reported; do not cascade */
    const char *key = flex_arena_strndup(p->a, k, (size_t)(ke - k));
    /* A section's keys are contiguous in kvs: scan back through them. */
    for (size_t i = p->nkvs; i-- > 0 && p->kvs[i].sect == (size_t)cur;) {
        if (strcmp(p->kvs[i].key, key) == 0) {
            diag(p, p->file, line, "duplicate key '%s' (first at line %u)", key, p->kvs[i].line);
            return;
        }
    }
    kv_add(p, (size_t)cur, key, lex_value(p, v, ve, line), p->file, line);
}

static void lex_file(struct parser *p, const char *text, size_t len)
{
    long cur = -2;
    unsigned line = 0;
    const char *s = text, *end = text + len;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *le = nl ? nl : end;
        line++;
        if (memchr(s, '\0', (size_t)(le - s))) {
            diag(p, p->file, line, "NUL byte in line");
        } else {
            const char *te;
            const char *t = trim(s, le, &te);
            if (t == te || *t == '#' || *t == ';')
                ; /* blank or comment */
            else if (*t == '[')
                cur = lex_header(p, t, te, line);
            else
                lex_kv(p, cur, t, te, line);
        }
        s = nl ? nl + 1 : end;
    }
    p->last_line = line ? line : 1;
}

/* "SECTION[.NAME].KEY=VALUE" from the command line; |pos| counts from 1. */
static void lex_override(struct parser *p, const char *text, unsigned pos)
{
    const char *eq = strchr(text, '=');
    const char *dot = eq ? memchr(text, '.', (size_t)(eq - text)) : NULL;
    if (!eq || !dot) {
        diag(p, "-D", pos, "expected SECTION.KEY=VALUE or SECTION.NAME.KEY=VALUE");
        return;
    }
    int kind = -1;
    for (int k = 0; k < K_NKINDS; k++)
        if ((size_t)(dot - text) == strlen(kinds[k].name) &&
            memcmp(text, kinds[k].name, (size_t)(dot - text)) == 0)
            kind = k;
    if (kind < 0) {
        char word[48];
        snprintf(word, sizeof(word), "%.*s", (int)(dot - text > 40 ? 40 : dot - text), text);
        const char *near = nearest_kind(word);
        diag(p, "-D", pos, "unknown section '%s'%s%s%s", word, near ? " (did you mean " : "",
             near ? near : "", near ? "?)" : "");
        return;
    }
    const char *key = dot + 1;
    long si;
    if (kinds[kind].named) {
        const char *dot2 = memchr(key, '.', (size_t)(eq - key));
        if (!dot2 || !flex_cfgval_name_ok(key, (size_t)(dot2 - key))) {
            diag(p, "-D", pos, "expected %s.NAME.KEY=VALUE", kinds[kind].name);
            return;
        }
        char *name = flex_arena_strndup(p->a, key, (size_t)(dot2 - key));
        key = dot2 + 1;
        si = sect_find(p, kind, name);
        if (si < 0)
            si = (long)sect_add(p, (uint8_t)kind, name, "-D", pos);
    } else {
        si = sect_find(p, kind, NULL);
    }
    if (!key_ok(key, (size_t)(eq - key))) {
        diag(p, "-D", pos, "bad key name '%.*s'", (int)(eq - key > 40 ? 40 : eq - key), key);
        return;
    }
    const char *k = flex_arena_strndup(p->a, key, (size_t)(eq - key));
    const char *v = flex_arena_strdup(p->a, eq + 1);
    for (size_t i = 0; i < p->nkvs; i++) {
        if (p->kvs[i].sect == (size_t)si && strcmp(p->kvs[i].key, k) == 0) {
            p->kvs[i] = (struct kv){(size_t)si, k, v, "-D", pos};
            return;
        }
    }
    kv_add(p, (size_t)si, k, v, "-D", pos);
}

/* ---- typed values ------------------------------------------------- */

/* Reads an "@file" secret into the arena; returns NULL with |why| set. */
static const char *read_secret(struct parser *p, const char *path, char *why, size_t whysz)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whysz, "cannot open secret file: %s", strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & S_IRWXO)) /* the path is no secret */
        flex_log(FLEX_LOG_WARN, NULL, 0,
                 "secret file %s can be read by other users (mode %03o): chmod 600 it", path,
                 (unsigned)(st.st_mode & 0777));
    char *buf = flex_arena_alloc(p->a, SECRET_MAX + 1);
    ssize_t n = read(fd, buf, SECRET_MAX + 1);
    close(fd);
    if (n < 0 || n > SECRET_MAX) {
        snprintf(why, whysz, n < 0 ? "cannot read secret file" : "secret file over %d bytes",
                 SECRET_MAX);
        return NULL;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    if (n == 0 || memchr(buf, '\0', (size_t)n)) {
        snprintf(why, whysz, "secret file is empty or binary");
        return NULL;
    }
    return buf;
}

/* A secret's value: "@/path" (its file's content), "env:NAME" (that
 * environment variable), else the value itself.  NULL with |why| when
 * it cannot be read. */
static const char *secret_value(struct parser *p, const char *v, char *why, size_t whysz)
{
    if (v[0] == '@')
        return read_secret(p, v + 1, why, whysz);
    if (strncmp(v, "env:", 4) == 0) {
        const char *e = getenv(v + 4);
        if (!e || !e[0]) {
            snprintf(why, whysz, "environment variable %.64s is not set", v + 4);
            return NULL;
        }
        return e;
    }
    return v;
}

static int set_phone(const char *v, const char **dst, struct parser *p, char *why, size_t whysz)
{
    size_t len = strlen(v);
    /* US short codes (5-6 digits) are valid senders too. */
    if ((len == 5 || len == 6) && strspn(v, "0123456789") == len) {
        *dst = flex_arena_strdup(p->a, v);
        return 0;
    }
    char out[FLEX_E164_BUFSZ];
    struct flex_e164_error err;
    int rc = flex_e164_normalize(v, len, out, &err);
    if (rc < 0) {
        snprintf(why, whysz, "invalid phone number: %s", err.reason);
        return rc;
    }
    *dst = flex_arena_strdup(p->a, out);
    return 0;
}

static int set_template(struct parser *p, struct flex_cfg_template *t, const char *v, char *why,
                        size_t whysz)
{
    struct flex_tmpl_error err;
    struct flex_tmpl *tm;
    int rc = flex_tmpl_compile(&tm, v, strlen(v), &err);
    if (rc) {
        snprintf(why, whysz, "%s at offset %zu", err.reason, err.offset);
        return rc;
    }
    flex_arena_cleanup_add(p->a, (flex_arena_cleanup_cb)flex_tmpl_del, tm);
    t->body = flex_arena_strdup(p->a, v);
    t->tmpl = tm;
    return 0;
}

static int set_string(struct parser *p, const struct row *r, const char *v, void *dst, char *why,
                      size_t whysz)
{
    size_t len = strlen(v);
    if (r->max > 0 && (len < r->min || len > r->max)) {
        snprintf(why, whysz, "length must be %g to %g characters", r->min, r->max);
        return FLEX_E_RANGE;
    }
    *(const char **)dst = flex_arena_strdup(p->a, v);
    return 0;
}

/* One [keywords] list: checked here, so an error names its line; all of
 * them are compiled together once the file is read (check_keywords). */
static int set_keywords(struct parser *p, const struct row *r, const char *v, void *dst, char *why,
                        size_t whysz)
{
    enum flex_kw_list list = (enum flex_kw_list)((r->off - KW(0)) / sizeof(const char *));
    int rc = flex_keywords_check(list, v, why, whysz);
    if (rc) {
        p->kw_bad = true;
        return rc;
    }
    *(const char **)dst = flex_arena_strdup(p->a, v);
    return 0;
}

/* An engine.allow_only entry into |out|: "+" and 1-15 digits, a number or
 * a prefix (separators dropped), or a whole number in any spelling
 * flex_e164_normalize takes. */
static int allow_entry(const char *s, size_t len, char out[FLEX_E164_BUFSZ], char *why,
                       size_t whysz)
{
    int shown_len = (int)(len > 40 ? 40 : len);
    if (s[0] != '+') {
        struct flex_e164_error err;
        if (flex_e164_normalize(s, len, out, &err) > 0)
            return 0;
        snprintf(why, whysz, "'%.*s': invalid phone number: %s", shown_len, s, err.reason);
        return FLEX_E_INVAL;
    }
    size_t o = 1;
    bool ok = true;
    out[0] = '+';
    for (size_t i = 1; i < len && ok; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            ok = o < FLEX_E164_BUFSZ - 1 && (o > 1 || s[i] != '0');
        else
            ok = memchr(" .-()/", s[i], 6) != NULL; /* the separators of a spelled number */
        if (ok && s[i] >= '0' && s[i] <= '9')
            out[o++] = s[i];
    }
    if (!ok || o < 2) {
        snprintf(why, whysz, "'%.*s': expected + and 1 to 15 digits, not starting with 0",
                 shown_len, s);
        return FLEX_E_INVAL;
    }
    out[o] = '\0';
    return 0;
}

static int list_entry(struct parser *p, const struct row *r, const char *t, size_t len,
                      const char **out, char *why, size_t whysz)
{
    if (r->type == T_ALLOW) {
        char num[FLEX_E164_BUFSZ];
        int rc = allow_entry(t, len, num, why, whysz);
        if (rc == 0)
            *out = flex_arena_strdup(p->a, num);
        return rc;
    }
    if (!flex_cfgval_name_ok(t, len)) {
        snprintf(why, whysz, "'%.*s': a name is 1-64 letters, digits, '_' or '-'",
                 (int)(len > 40 ? 40 : len), t);
        return FLEX_E_INVAL;
    }
    *out = flex_arena_strndup(p->a, t, len);
    return 0;
}

/* T_LIST and T_ALLOW: split at commas, trimmed, empty entries skipped (an
 * empty value is an empty list). */
static int set_list(struct parser *p, const struct row *r, const char *v, struct flex_cfg_list *dst,
                    char *why, size_t whysz)
{
    size_t cap = 1, n = 0;
    for (const char *q = v; *q; q++)
        cap += *q == ',';
    const char **arr = flex_arena_calloc(p->a, (cap + 1) * sizeof(*arr));
    for (const char *s = v;;) {
        const char *comma = strchr(s, ',');
        const char *te;
        const char *t = trim(s, comma ? comma : s + strlen(s), &te);
        if (te > t) {
            int rc = list_entry(p, r, t, (size_t)(te - t), &arr[n], why, whysz);
            if (rc)
                return rc;
            n++;
        }
        if (!comma)
            break;
        s = comma + 1;
    }
    *dst = (struct flex_cfg_list){arr, n};
    return 0;
}

static int set_simple(struct parser *p, const struct row *r, const char *v, void *dst, char *why,
                      size_t whysz)
{
    int rc = 0;
    uint64_t u;
    switch (r->type) {
    case T_BOOL: return flex_cfgval_bool(v, dst, why, whysz);
    case T_UINT:
        rc = flex_cfgval_uint(v, (uint64_t)r->min, (uint64_t)r->max, &u, why, whysz);
        if (rc == 0)
            *(uint32_t *)dst = (uint32_t)u;
        return rc;
    case T_DOUBLE: return flex_cfgval_double(v, r->min, r->max, dst, why, whysz);
    case T_DURATION:
        return flex_cfgval_duration(v, 1000, (uint64_t)r->min, (uint64_t)r->max, dst, why, whysz);
    case T_HHMM: return flex_cfgval_hhmm(v, dst, why, whysz);
    case T_LOGLEVEL:
        rc = flex_log_level_parse(v);
        if (rc < 0) {
            snprintf(why, whysz, "expected debug, info, warn or error");
            return FLEX_E_INVAL;
        }
        *(uint32_t *)dst = (uint32_t)rc;
        return 0;
    case T_AMBIGUOUS:
        if (strcmp(v, "fail") == 0 || strcmp(v, "retry") == 0) {
            *(bool *)dst = v[0] == 'r';
            return 0;
        }
        snprintf(why, whysz, "expected fail or retry");
        return FLEX_E_INVAL;
    case T_PROFILE:
        if (strcmp(v, "twilio") == 0 || strcmp(v, "json") == 0) {
            *(enum flex_http_profile *)dst = v[0] == 't' ? FLEX_HTTP_TWILIO : FLEX_HTTP_JSON;
            return 0;
        }
        snprintf(why, whysz, "expected twilio or json");
        return FLEX_E_INVAL;
    case T_CTYPE:
        if (strcmp(v, "smpp") == 0 || strcmp(v, "http") == 0) {
            *(enum flex_carrier_type *)dst = v[0] == 's' ? FLEX_CARRIER_SMPP : FLEX_CARRIER_HTTP;
            return 0;
        }
        snprintf(why, whysz, "expected smpp or http");
        return FLEX_E_INVAL;
    default: (void)p; return FLEX_E_INVAL;
    }
}

static int set_value(struct parser *p, const struct row *r, void *base, const char *v,
                     const char *file, unsigned line, char *why, size_t whysz)
{
    void *dst = (char *)base + r->off;
    int rc;
    switch (r->type) {
    case T_STR: return set_string(p, r, v, dst, why, whysz);
    case T_NAME:
        if (strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
            strlen(v)) {
            snprintf(why, whysz, "only letters, digits, '.', '_' and '-'");
            return FLEX_E_INVAL;
        }
        return set_string(p, r, v, dst, why, whysz);
    case T_SECRET: {
        const char *s = secret_value(p, v, why, whysz);
        return s ? set_string(p, r, s, dst, why, whysz) : FLEX_E_INVAL;
    }
    case T_REDISURL: { /* it may hold a password: a file or the environment too */
        const char *s = secret_value(p, v, why, whysz);
        if (!s)
            return FLEX_E_INVAL;
        rc = flex_cfgval_redis_url(s, why, whysz);
        if (rc == 0)
            *(const char **)dst = flex_arena_strdup(p->a, s);
        return rc;
    }
    case T_TZ:
    case T_HTTPURL:
    case T_HOSTPORT:
        rc = r->type == T_TZ        ? flex_cfgval_timezone(v, why, whysz)
             : r->type == T_HTTPURL ? flex_cfgval_http_url(v, why, whysz)
                                    : flex_cfgval_hostport(v, why, whysz);
        char near[80];
        if (rc != 0 && r->type == T_TZ && flex_cfgval_zone_suggest(v, near, sizeof(near)))
            snprintf(why + strlen(why), whysz - strlen(why), " (did you mean %s?)", near);
        if (rc == 0)
            *(const char **)dst = flex_arena_strdup(p->a, v);
        return rc;
    case T_PHONE: return set_phone(v, dst, p, why, whysz);
    case T_ROUTE:
        *(struct flex_cfg_src *)dst = (struct flex_cfg_src){flex_arena_strdup(p->a, v), file, line};
        return 0;
    case T_TMPL: return set_template(p, base, v, why, whysz);
    case T_KEYWORDS: return set_keywords(p, r, v, dst, why, whysz);
    case T_LIST:
    case T_ALLOW: return set_list(p, r, v, dst, why, whysz);
    default: return set_simple(p, r, v, dst, why, whysz);
    }
}

/* ---- applying values ---------------------------------------------- */

static void *sect_base(struct parser *p, const struct sect *s)
{
    switch (s->kind) {
    case K_CARRIER: return &p->cfg->carriers[s->index];
    case K_LOCATION: return &p->cfg->locations[s->index];
    case K_TEMPLATE: return &p->cfg->templates[s->index];
    default: return p->cfg;
    }
}

static bool empty_allowed(const struct row *r)
{
    return !(r->flags & F_REQ) && (r->type == T_STR || r->type == T_SECRET ||
                                   r->type == T_HTTPURL || r->type == T_KEYWORDS);
}

/* An empty list value replaces its default with no entries (confirm_drops
 * = nothing dropped); other empty values keep the default. */
static bool empty_sets(const struct row *r)
{
    return r->type == T_LIST || r->type == T_ALLOW;
}

static void apply_one(struct parser *p, struct sect *s, const struct row *r, const char *v,
                      const char *file, unsigned line)
{
    char why[200] = "", lab[96], sh[64];
    if (v[0] == '\0' && !empty_sets(r)) {
        if (!empty_allowed(r))
            diag(p, file, line, "%s %s must not be empty", sect_label(s, lab), r->key);
        s->set[ROW_WORD((size_t)(r - rows))] |= ROW_BIT((size_t)(r - rows));
        return;
    }
    if (set_value(p, r, sect_base(p, s), v, file, line, why, sizeof(why)) != 0) {
        char red[256];
        if (r->type == T_REDISURL) /* a password in it: never quoted */
            flex_cfgval_redact_url(v, red, sizeof(red));
        if (r->flags & F_SENS)
            diag(p, file, line, "%s %s: %s", sect_label(s, lab), r->key, why);
        else if (r->type == T_REDISURL)
            diag(p, file, line, "%s %s = '%s': %s", sect_label(s, lab), r->key, shown(red, sh),
                 why);
        else
            diag(p, file, line, "%s %s = '%s': %s", sect_label(s, lab), r->key, shown(v, sh), why);
    }
    s->set[ROW_WORD((size_t)(r - rows))] |= ROW_BIT((size_t)(r - rows));
}

static void alloc_items(struct parser *p)
{
    struct flex_cfg *c = p->cfg;
    for (size_t i = 0; i < p->nsects; i++) {
        struct sect *s = &p->sects[i];
        s->index = s->kind == K_CARRIER    ? c->ncarriers++
                   : s->kind == K_LOCATION ? c->nlocations++
                   : s->kind == K_TEMPLATE ? c->ntemplates++
                                           : 0;
    }
    c->carriers = flex_arena_calloc(p->a, (c->ncarriers + 1) * sizeof(*c->carriers));
    c->locations = flex_arena_calloc(p->a, (c->nlocations + 1) * sizeof(*c->locations));
    c->templates = flex_arena_calloc(p->a, (c->ntemplates + 1) * sizeof(*c->templates));
    for (size_t i = 0; i < p->nsects; i++) {
        struct sect *s = &p->sects[i];
        if (s->kind == K_CARRIER) {
            c->carriers[s->index].name = s->name;
            c->carriers[s->index]._line = s->line;
        } else if (s->kind == K_LOCATION) {
            c->locations[s->index].id = s->name;
            c->locations[s->index]._line = s->line;
        } else if (s->kind == K_TEMPLATE) {
            c->templates[s->index].name = s->name;
            c->templates[s->index]._line = s->line;
        }
    }
}

static void apply_all(struct parser *p)
{
    alloc_items(p);
    for (size_t i = 0; i < p->nsects; i++) {
        struct sect *s = &p->sects[i];
        for (size_t r = 0; r < NROWS; r++)
            if (rows[r].kind == s->kind && rows[r].dflt) {
                char why[200];
                if (set_value(p, &rows[r], sect_base(p, s), rows[r].dflt, s->file, s->line, why,
                              sizeof(why)) != 0)
                    diag(p, s->file, s->line, "internal: bad default for %s: %s", rows[r].key, why);
            }
    }
    for (size_t i = 0; i < p->nkvs; i++) {
        struct kv *kv = &p->kvs[i];
        struct sect *s = &p->sects[kv->sect];
        const struct row *r = row_find(s->kind, kv->key);
        char lab[96];
        const char *near = r ? NULL : nearest_key(s->kind, kv->key);
        if (!r)
            diag(p, kv->file, kv->line, "unknown key '%s' in %s%s%s%s", kv->key, sect_label(s, lab),
                 near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
        else
            apply_one(p, s, r, kv->val, kv->file, kv->line);
    }
}

/* ---- checks across keys and sections ------------------------------- */

/* Type-specific carrier keys apply to their type only; with no valid type
 * they are not checked at all (the missing type is the error). */
static bool row_applies(const struct row *r, const struct flex_cfg_carrier *c)
{
    if (!(r->flags & (F_SMPP | F_HTTP)))
        return true;
    if (!c || c->type == 0)
        return false;
    if (r->flags & F_SMPP)
        return c->type == FLEX_CARRIER_SMPP;
    if (c->type != FLEX_CARRIER_HTTP)
        return false;
    return (r->flags & F_TWILIO)  ? c->profile == FLEX_HTTP_TWILIO
           : (r->flags & F_JSONP) ? c->profile == FLEX_HTTP_JSON
                                  : true;
}

/* A -D option naming a carrier or location the file does not have makes a
 * new section: fine when it gives the whole section (flexbench adds
 * locations so), a typo when keys are missing.  Says so once, with the
 * nearest name the file has; true when it did. */
static bool check_added(struct parser *p, const struct sect *s)
{
    if (!kinds[s->kind].named || strcmp(s->file, "-D") != 0)
        return false;
    const struct flex_cfg_carrier *c = s->kind == K_CARRIER ? &p->cfg->carriers[s->index] : NULL;
    char missing[200] = "";
    size_t o = 0;
    for (size_t r = 0; r < NROWS; r++)
        if (rows[r].kind == s->kind && (rows[r].flags & F_REQ) &&
            !(s->set[ROW_WORD(r)] & ROW_BIT(r)) &&
            (!c || (c->type ? row_applies(&rows[r], c) : !(rows[r].flags & (F_SMPP | F_HTTP)))) &&
            o < sizeof(missing))
            o += (size_t)snprintf(missing + o, sizeof(missing) - o, "%s%s", o ? ", " : "",
                                  rows[r].key);
    if (!o)
        return false;
    const char *names[MAX_SECTIONS];
    size_t n = 0;
    for (size_t i = 0; i < p->nsects; i++)
        if (p->sects[i].kind == s->kind && strcmp(p->sects[i].file, "-D") != 0)
            names[n++] = p->sects[i].name;
    const char *near = flex_cfgval_nearest(s->name, names, n);
    diag(p, "-D", s->line,
         "[%s %s] is not in %s: a -D option can add one only with all its required keys "
         "(missing: %s)%s%s%s",
         kinds[s->kind].name, s->name, p->file, missing, near ? "; did you mean " : "",
         near ? near : "", near ? "?" : "");
    return true;
}

static void check_required(struct parser *p)
{
    char lab[96];
    for (size_t i = 0; i < p->nsects; i++) {
        struct sect *s = &p->sects[i];
        const struct flex_cfg_carrier *c =
            s->kind == K_CARRIER ? &p->cfg->carriers[s->index] : NULL;
        if (check_added(p, s))
            continue;
        for (size_t r = 0; r < NROWS; r++) {
            const struct row *row = &rows[r];
            if (row->kind != s->kind || !(row->flags & F_REQ) || (s->set[ROW_WORD(r)] & ROW_BIT(r)))
                continue;
            if (s->kind == K_CARRIER && !row_applies(row, c))
                continue;
            if (!kinds[s->kind].named && !s->in_file)
                diag(p, p->file, p->last_line, "missing required section [%s] with key '%s'",
                     kinds[s->kind].name, row->key);
            else
                diag(p, s->file, s->line, "%s: missing required key '%s'%s", sect_label(s, lab),
                     row->key,
                     c && c->type ? (c->type == FLEX_CARRIER_SMPP ? " (smpp)" : " (http)") : "");
        }
    }
    /* A header line is one line, "Name: value" (the value is a secret: not
     * quoted back). */
    for (size_t i = 0; i < p->nsects; i++) {
        struct sect *s = &p->sects[i];
        const struct flex_cfg_carrier *c =
            s->kind == K_CARRIER ? &p->cfg->carriers[s->index] : NULL;
        const char *h = c && c->type == FLEX_CARRIER_HTTP ? c->auth_header : NULL;
        if (h && h[0] && (strpbrk(h, "\r\n") || !strchr(h, ':') || h[0] == ':'))
            diag(p, s->file, s->line, "%s: auth_header must be one header line 'Name: value'",
                 sect_label(s, lab));
    }
    /* Keys given to a carrier of the other type are mistakes, not noise. */
    for (size_t i = 0; i < p->nkvs; i++) {
        struct sect *s = &p->sects[p->kvs[i].sect];
        const struct row *r = row_find(s->kind, p->kvs[i].key);
        const struct flex_cfg_carrier *c =
            s->kind == K_CARRIER ? &p->cfg->carriers[s->index] : NULL;
        bool by_profile =
            r && (r->flags & (F_TWILIO | F_JSONP)) && c && c->type == FLEX_CARRIER_HTTP;
        if (c && c->type && r && !row_applies(r, c))
            diag(p, p->kvs[i].file, p->kvs[i].line, "%s: key '%s' does not apply to a%s carrier%s",
                 sect_label(s, lab), r->key, c->type == FLEX_CARRIER_SMPP ? "n smpp" : "n http",
                 !by_profile                      ? ""
                 : c->profile == FLEX_HTTP_TWILIO ? " of profile twilio"
                                                  : " of profile json");
    }
}

/* Resolves "a, b, c" into carrier indices. */
static void resolve_route(struct parser *p, const struct flex_cfg_src *src,
                          struct flex_cfg_route *out)
{
    out->n = 0;
    if (!src->text)
        return;
    const char *s = src->text;
    for (;;) {
        const char *comma = strchr(s, ',');
        const char *e = comma ? comma : s + strlen(s);
        const char *te;
        const char *t = trim(s, e, &te);
        size_t len = (size_t)(te - t);
        long found = -1;
        for (size_t i = 0; i < p->cfg->ncarriers; i++)
            if (strlen(p->cfg->carriers[i].name) == len &&
                memcmp(p->cfg->carriers[i].name, t, len) == 0)
                found = (long)i;
        if (len == 0) {
            diag(p, src->file, src->line, "route has an empty carrier name");
        } else if (found < 0) {
            diag(p, src->file, src->line, "route names carrier '%.*s', which is not defined",
                 (int)(len > 64 ? 64 : len), t);
        } else if (out->n == FLEX_CFG_MAX_ROUTE) {
            diag(p, src->file, src->line, "route lists more than %d carriers", FLEX_CFG_MAX_ROUTE);
            return;
        } else {
            for (uint16_t k = 0; k < out->n; k++)
                if (out->idx[k] == found)
                    diag(p, src->file, src->line, "route names carrier '%.*s' twice", (int)len, t);
            out->idx[out->n++] = (uint16_t)found;
        }
        if (!comma)
            return;
        s = comma + 1;
    }
}

/* The last "key = value" of singleton section |kind| for |key| (NULL: its
 * first key of any name), from the file or a -D; NULL when not given. */
static const struct kv *kv_get(const struct parser *p, int kind, const char *key)
{
    long si = sect_find(p, kind, NULL);
    const struct kv *found = NULL;
    for (size_t i = 0; i < p->nkvs; i++)
        if (p->kvs[i].sect == (size_t)si && (!key || strcmp(p->kvs[i].key, key) == 0)) {
            found = &p->kvs[i];
            if (!key)
                break;
        }
    return found;
}

static void check_engine(struct parser *p)
{
    const struct flex_cfg *c = p->cfg;
    const struct kv *log = kv_get(p, K_ENGINE, "audit_log");
    const struct kv *key = kv_get(p, K_ENGINE, "audit_key");
    /* Without its key the chain proves nothing: anyone could rewrite it.
     * A key given but refused was reported at its own line.  Never quote
     * the key. */
    if (log && c->engine.audit_log && c->engine.audit_log[0] &&
        !(c->engine.audit_key && c->engine.audit_key[0]) && !(key && key->val[0]))
        diag(p, log->file, log->line, "engine.audit_key is required when engine.audit_log is set");
    /* The default names required templates, already checked as such. */
    const struct kv *drops = kv_get(p, K_ENGINE, "confirm_drops");
    for (size_t i = 0; drops && i < c->engine.confirm_drops.n; i++)
        if (sect_find(p, K_TEMPLATE, c->engine.confirm_drops.v[i]) < 0)
            diag(p, drops->file, drops->line,
                 "engine.confirm_drops names '%s', which is not a [template]",
                 c->engine.confirm_drops.v[i]);
}

/* [redis] TLS files: only with rediss://, a certificate with its key, each
 * readable now (a missing file would otherwise show only as failed
 * connections), a private key not readable by others. */
static void check_redis(struct parser *p)
{
    const struct flex_store_params *r = &p->cfg->redis;
    static const char *const keys[] = {"tls_ca", "tls_cert", "tls_key"};
    const char *vals[] = {r->tls_ca, r->tls_cert, r->tls_key};
    bool tls = r->url && strncmp(r->url, "rediss://", 9) == 0;
    for (int i = 0; i < 3; i++) {
        const struct kv *kv = kv_get(p, K_REDIS, keys[i]);
        if (!kv || !vals[i] || !vals[i][0])
            continue;
        if (!tls) {
            diag(p, kv->file, kv->line, "redis.%s is set but redis.url is not rediss://", keys[i]);
            continue;
        }
        struct stat st;
        if (access(vals[i], R_OK) != 0)
            diag(p, kv->file, kv->line, "redis.%s: cannot read %s: %s", keys[i], vals[i],
                 strerror(errno));
        else if (i == 2 && stat(vals[i], &st) == 0 && (st.st_mode & S_IRWXO))
            flex_log(FLEX_LOG_WARN, NULL, 0,
                     "key file %s can be read by other users (mode %03o): chmod 600 it", vals[i],
                     (unsigned)(st.st_mode & 0777));
    }
    if (tls && !(r->tls_cert && r->tls_cert[0]) != !(r->tls_key && r->tls_key[0])) {
        const struct kv *kv =
            kv_get(p, K_REDIS, r->tls_cert && r->tls_cert[0] ? "tls_cert" : "tls_key");
        if (kv)
            diag(p, kv->file, kv->line, "redis.tls_cert and redis.tls_key go together");
    }
}

static void keywords_free(void *kw)
{
    flex_keywords_del(kw);
}

/* Compiles the [keywords] lists into the snapshot.  Each list was checked
 * at its own line; what fails here is lists that contradict each other
 * (one word both an opt-out and an opt-in). */
static void check_keywords(struct parser *p)
{
    struct flex_cfg *c = p->cfg;
    struct flex_keywords *kw;
    char why[256];
    if (p->kw_bad)
        return;
    if (flex_keywords_new(&kw, c->keyword_lists.text, why, sizeof(why)) != 0) {
        const struct sect *s = &p->sects[sect_find(p, K_KEYWORDS, NULL)];
        const struct kv *kv = kv_get(p, K_KEYWORDS, NULL);
        if (s->in_file || !kv)
            diag(p, s->file, s->in_file ? s->line : p->last_line, "[keywords] %s", why);
        else
            diag(p, kv->file, kv->line, "[keywords] %s", why);
        return;
    }
    flex_arena_cleanup_add(p->a, keywords_free, kw);
    c->keywords = kw;
}

static void check_all(struct parser *p)
{
    struct flex_cfg *c = p->cfg;
    check_required(p);
    size_t enabled = 0;
    for (size_t i = 0; i < c->ncarriers; i++)
        enabled += c->carriers[i].enabled;
    if (enabled > FLEX_CFG_MAX_CARRIERS)
        diag(p, p->file, p->last_line, "%zu carriers enabled: at most %d", enabled,
             FLEX_CFG_MAX_CARRIERS);
    check_engine(p);
    check_redis(p);
    check_keywords(p);
    resolve_route(p, &c->route._default_src, &c->route.def);
    for (size_t i = 0; i < c->nlocations; i++) {
        struct flex_cfg_location *l = &c->locations[i];
        resolve_route(p, &l->_route_src, &l->route);
        /* Read once here, so every thread can use the zone (engine/text/tz.h). */
        if (l->timezone && !(l->tz = flex_tz_get(l->timezone)))
            diag(p, p->file, l->_line, "[location %s]: cannot read time zone '%s'", l->id,
                 l->timezone);
        const char *why, *use = l->timezone ? flex_cfgval_zone_legacy(l->timezone, &why) : NULL;
        if (use)
            warn(p, p->file, l->_line, "[location %s] timezone = %s is %s; use %s", l->id,
                 l->timezone, why, use);
        for (size_t j = 0; j < i; j++) /* replies to a shared number cannot be told apart */
            if (l->phone && c->locations[j].phone && strcmp(l->phone, c->locations[j].phone) == 0)
                warn(p, p->file, l->_line,
                     "[location %s] phone %s is also [location %s]'s: replies to it are "
                     "matched to the practice by what was last sent to the patient",
                     l->id, l->phone, c->locations[j].id);
    }
    for (size_t i = 0; i < sizeof(required_templates) / sizeof(required_templates[0]); i++)
        if (sect_find(p, K_TEMPLATE, required_templates[i]) < 0)
            diag(p, p->file, p->last_line, "missing required section [template %s]",
                 required_templates[i]);
    if (c->quiet_hours.enabled && c->quiet_hours.start_min == c->quiet_hours.end_min) {
        long s = sect_find(p, K_QUIET, NULL);
        diag(p, p->sects[s].file, p->sects[s].line,
             "[quiet_hours] start and end are equal (disable it with enabled = false)");
    }
}

/* ---- public API --------------------------------------------------- */

int flex_cfg_parse(struct flex_cfg **out, const char *name, const char *text, size_t len,
                   const struct flex_cfg_override *ov, size_t nov, flex_cfg_diag_cb cb, void *arg)
{
    struct flex_cfg *cfg = flex_calloc(1, sizeof(*cfg));
    struct parser p = {.cfg = cfg, .a = &cfg->_arena, .cb = cb, .arg = arg};
    cfg->_arena._chunk_size = 16384;
    p.file = cfg->path = flex_arena_strdup(p.a, name);
    for (int k = 0; k < K_NKINDS; k++)
        if (!kinds[k].named)
            sect_add(&p, (uint8_t)k, NULL, p.file, 0);
    lex_file(&p, text, len);
    for (size_t i = 0; i < nov; i++)
        lex_override(&p, ov[i].text, (unsigned)i + 1);
    apply_all(&p);
    check_all(&p);
    diag_flush(&p);
    flex_free(p.sects);
    flex_free(p.kvs);
    if (p.nerr) {
        flex_cfg_del(cfg);
        return FLEX_E_CONFIG;
    }
    *out = cfg;
    return 0;
}

int flex_cfg_load(struct flex_cfg **out, const char *path, const struct flex_cfg_override *ov,
                  size_t nov, flex_cfg_diag_cb cb, void *arg)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = fstat(fd, &st) != 0          ? -errno
             : !S_ISREG(st.st_mode)       ? -EINVAL
             : st.st_size > MAX_FILE_SIZE ? FLEX_E_TOOLONG
                                          : 0;
    if (rc) {
        close(fd);
        return rc;
    }
    char *buf = flex_malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    rc = flex_cfg_parse(out, path, buf, got, ov, nov, cb, arg);
    flex_free(buf);
    return rc;
}

void flex_cfg_del(struct flex_cfg *cfg)
{
    if (!cfg)
        return;
    flex_arena_free(&cfg->_arena);
    flex_free(cfg);
}

const struct flex_cfg_carrier *flex_cfg_carrier_find(const struct flex_cfg *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->ncarriers; i++)
        if (strcmp(cfg->carriers[i].name, name) == 0)
            return &cfg->carriers[i];
    return NULL;
}

const struct flex_cfg_location *flex_cfg_location_find(const struct flex_cfg *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->nlocations; i++)
        if (strcmp(cfg->locations[i].id, id) == 0)
            return &cfg->locations[i];
    return NULL;
}

const struct flex_cfg_template *flex_cfg_template_find(const struct flex_cfg *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->ntemplates; i++)
        if (strcmp(cfg->templates[i].name, name) == 0 && cfg->templates[i].tmpl)
            return &cfg->templates[i];
    return NULL;
}

const struct flex_cfg_route *flex_cfg_route_for(const struct flex_cfg *cfg,
                                                const struct flex_cfg_location *loc)
{
    return loc && loc->route.n ? &loc->route : &cfg->route.def;
}

bool flex_cfg_allowed(const struct flex_cfg *cfg, const char *e164)
{
    const struct flex_cfg_list *l = &cfg->engine.allow_only;
    if (l->n == 0)
        return true;
    if (!e164)
        return false;
    for (size_t i = 0; i < l->n; i++)
        if (strncmp(e164, l->v[i], strlen(l->v[i])) == 0)
            return true;
    return false;
}

const struct flex_cfg_location *flex_cfg_location_by_phone(const struct flex_cfg *cfg,
                                                           const char *e164)
{
    for (size_t i = 0; e164 && i < cfg->nlocations; i++)
        if (cfg->locations[i].phone && strcmp(cfg->locations[i].phone, e164) == 0)
            return &cfg->locations[i];
    return NULL;
}

bool flex_cfg_confirm_drops(const struct flex_cfg *cfg, const char *kind)
{
    for (size_t i = 0; kind && i < cfg->engine.confirm_drops.n; i++)
        if (strcmp(cfg->engine.confirm_drops.v[i], kind) == 0)
            return true;
    return false;
}

/* ---- what a reload changes ----------------------------------------- */

static const struct flex_hash_key secret_key; /* a fixed key: the hash only compares */

/* A row's value as text, for comparing two snapshots.  Secrets become a
 * hash: equal values compare equal, and the text is never shown. */
static void row_text(const struct row *r, const void *base, char *out, size_t n)
{
    const void *v = (const char *)base + r->off;
    const char *str = NULL;
    switch (r->type) {
    case T_STR:
    case T_SECRET:
    case T_REDISURL:
    case T_HOSTPORT:
    case T_HTTPURL:
    case T_TZ:
    case T_NAME:
    case T_PHONE:
    case T_KEYWORDS: str = *(const char *const *)v; break;
    case T_TMPL: str = ((const struct flex_cfg_template *)base)->body; break;
    case T_ROUTE: str = ((const struct flex_cfg_src *)v)->text; break;
    case T_BOOL:
    case T_AMBIGUOUS: snprintf(out, n, "%s", *(const bool *)v ? "true" : "false"); return;
    case T_UINT: snprintf(out, n, "%u", *(const uint32_t *)v); return;
    case T_HHMM:
        snprintf(out, n, "%02u:%02u", *(const uint32_t *)v / 60, *(const uint32_t *)v % 60);
        return;
    case T_LOGLEVEL:
        snprintf(out, n, "%s", flex_log_level_name((enum flex_log_level) * (const uint32_t *)v));
        return;
    case T_DOUBLE: snprintf(out, n, "%g", *(const double *)v); return;
    case T_DURATION: snprintf(out, n, "%llums", (unsigned long long)*(const uint64_t *)v); return;
    case T_PROFILE:
        snprintf(out, n, "%s",
                 *(const enum flex_http_profile *)v == FLEX_HTTP_JSON ? "json" : "twilio");
        return;
    case T_CTYPE:
        snprintf(out, n, "%s",
                 *(const enum flex_carrier_type *)v == FLEX_CARRIER_HTTP ? "http" : "smpp");
        return;
    case T_LIST:
    case T_ALLOW: {
        const struct flex_cfg_list *l = v;
        size_t o = 0;
        out[0] = '\0';
        for (size_t i = 0; i < l->n && o < n; i++)
            o += (size_t)snprintf(out + o, n - o, "%s%s", i ? ", " : "", l->v[i]);
        return;
    }
    default: snprintf(out, n, "?"); return;
    }
    if (r->flags & F_SENS || r->type == T_REDISURL)
        snprintf(
            out, n, "#%016llx", /* compared here, never shown */
            (unsigned long long)flex_siphash24(&secret_key, str ? str : "", str ? strlen(str) : 0));
    else
        snprintf(out, n, "%s", str ? str : "");
}

/* What a reader is told of a changed value: the new one when it is short
 * and no secret, else only that it changed. */
static void row_change(const struct row *r, const char *sect, const char *was, const char *now,
                       flex_cfg_change_cb cb, void *arg)
{
    char line[400];
    bool restart = r->flags & F_IMMUT;
    if (r->flags & F_SENS || r->type == T_REDISURL || strlen(was) > 60 || strlen(now) > 60)
        snprintf(line, sizeof(line), "%s %s changed", sect, r->key);
    else
        snprintf(line, sizeof(line), "%s %s: %s -> %s", sect, r->key, was[0] ? was : "(empty)",
                 now[0] ? now : "(empty)");
    if (restart)
        snprintf(line + strlen(line), sizeof(line) - strlen(line),
                 " needs a restart: the running value stays");
    cb(arg, line, restart);
}

static const void *item_base(const struct flex_cfg *c, int kind, size_t i)
{
    switch (kind) {
    case K_CARRIER: return &c->carriers[i];
    case K_LOCATION: return &c->locations[i];
    case K_TEMPLATE: return &c->templates[i];
    default: return c;
    }
}

static size_t item_count(const struct flex_cfg *c, int kind)
{
    return kind == K_CARRIER    ? c->ncarriers
           : kind == K_LOCATION ? c->nlocations
           : kind == K_TEMPLATE ? c->ntemplates
                                : 1;
}

static const char *item_name(const struct flex_cfg *c, int kind, size_t i)
{
    return kind == K_CARRIER    ? c->carriers[i].name
           : kind == K_LOCATION ? c->locations[i].id
           : kind == K_TEMPLATE ? c->templates[i].name
                                : NULL;
}

static long item_find(const struct flex_cfg *c, int kind, const char *name)
{
    for (size_t i = 0; i < item_count(c, kind); i++)
        if (!name || strcmp(item_name(c, kind, i), name) == 0)
            return (long)i;
    return -1;
}

size_t flex_cfg_diff(struct flex_cfg *now, const struct flex_cfg *was, flex_cfg_change_cb cb,
                     void *arg)
{
    size_t changes = 0;
    char a[512], b[512], sect[96], line[160];
    for (int k = 0; k < K_NKINDS; k++) {
        for (size_t i = 0; i < item_count(now, k); i++) { /* changed or added */
            const char *name = item_name(now, k, i);
            long j = item_find(was, k, name);
            if (name)
                snprintf(sect, sizeof(sect), "[%s %s]", kinds[k].name, name);
            else
                snprintf(sect, sizeof(sect), "[%s]", kinds[k].name);
            if (j < 0) {
                snprintf(line, sizeof(line), "%s added", sect);
                cb(arg, line, false);
                changes++;
                continue;
            }
            for (size_t r = 0; r < NROWS; r++) {
                if (rows[r].kind != k)
                    continue;
                row_text(&rows[r], item_base(now, k, i), a, sizeof(a));
                row_text(&rows[r], item_base(was, k, (size_t)j), b, sizeof(b));
                if (strcmp(a, b) == 0)
                    continue;
                changes++;
                row_change(&rows[r], sect, b, a, cb, arg);
                /* Redis, the audit log, the listener and the consumer name
                 * are set up once: the snapshot keeps what runs (each such
                 * key is a string of a singleton section) */
                if (rows[r].flags & F_IMMUT) {
                    const char *old = *(const char *const *)((const char *)was + rows[r].off);
                    *(const char **)((char *)now + rows[r].off) =
                        old ? flex_arena_strdup(&now->_arena, old) : NULL;
                }
            }
        }
        for (size_t j = 0; kinds[k].named && j < item_count(was, k); j++) /* removed */
            if (item_find(now, k, item_name(was, k, j)) < 0) {
                snprintf(line, sizeof(line), "[%s %s] removed", kinds[k].name,
                         item_name(was, k, j));
                cb(arg, line, false);
                changes++;
            }
    }
    return changes;
}

static void cfg_free_cb(void *ptr)
{
    flex_cfg_del(ptr);
}

void flex_cfg_publish(struct flex_cfg *cfg)
{
    /* acq_rel: release publishes every field of |cfg| to readers that
     * acquire-load flex_cfg_current; acquire makes the old snapshot's
     * contents ours to retire. */
    static uint64_t generation; /* publishers: the main thread only */
    cfg->generation = ++generation;
    struct flex_cfg *old = atomic_exchange_explicit(&flex_cfg_current, cfg, memory_order_acq_rel);
    if (old)
        flex_qsbr_retire(&flex_cfg_qsbr, old, cfg_free_cb);
    flex_qsbr_poll(&flex_cfg_qsbr);
}
