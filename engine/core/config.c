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
#include "config_int.h"
#include "e164.h"
#include "err.h"
#include "utf.h"
#include "intent.h"
#include "log.h"
#include "tmpl.h"

_Atomic(struct flex_cfg *) flex_cfg_current;
struct flex_qsbr flex_cfg_qsbr;

#define MAX_FILE_SIZE (1 << 20)
#define SECRET_MAX 4096

/* ---- the key table -------------------------------------------------- */

const struct cfg_kind_desc cfg_kinds[K_NKINDS] = {
    [K_ENGINE] = {"engine", false},     [K_REDIS] = {"redis", false},
    [K_HTTP] = {"http", false},         [K_ROUTE] = {"route", false},
    [K_QUIET] = {"quiet_hours", false}, [K_KEYWORDS] = {"keywords", false},
    [K_CARRIER] = {"carrier", true},    [K_LOCATION] = {"location", true},
    [K_TEMPLATE] = {"template", true},  [K_RETENTION] = {"retention", false},
};

#define E(f) offsetof(struct flex_cfg, f)
#define C(f) offsetof(struct flex_cfg_carrier, f)
#define L(f) offsetof(struct flex_cfg_location, f)
#define KW(l) E(keyword_lists.text[l])
#define DAY_MS 86400000.0
_Static_assert(FLEX_CFG_KW_LISTS == FLEX_KW_N, "one [keywords] key per list");

const struct cfg_row cfg_rows[] = {
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
    {K_ENGINE, "inbound_parts_kb", T_UINT, E(engine.inbound_parts_kb), "16384", 1, 1048576,
     F_RELOAD},
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
    {K_HTTP, "admin_listen", T_HOSTPORT, E(http.admin_listen), NULL, 0, 0, F_IMMUT},
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
    {K_CARRIER, "ton", T_TON, C(ton_strict), "lenient", 0, 0, F_SMPP | F_RELOAD},
    {K_CARRIER, "throttle_timeout", T_DURATION, C(throttle_timeout_ms), "30s", 1000, 3600e3,
     F_HTTP | F_RELOAD},
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
#define NROWS (sizeof(cfg_rows) / sizeof(cfg_rows[0]))
const size_t cfg_nrows = NROWS;
_Static_assert(NROWS <= 128, "row masks are 128 bits");

/* ---- diagnostics ---------------------------------------------------- */

/* Errors are gathered, then reported sorted: the file's by line, then the
 * -D options' by position. */
struct cfg_diagnostic {
    const char *file;
    unsigned line;
    unsigned seq;
    char *msg;
};

static void vdiag(struct cfg_parser *p, bool error, const char *file, unsigned line,
                  const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

/* One diagnostic, an error ("warning: " first when |error| is false). */
static void vdiag(struct cfg_parser *p, bool error, const char *file, unsigned line,
                  const char *fmt, va_list ap)
{
    char msg[512];
    int o = error ? 0 : snprintf(msg, sizeof(msg), "warning: ");
    vsnprintf(msg + o, sizeof(msg) - (size_t)o, fmt, ap);
    p->nerr += error;
    if (p->ndiags == p->capdiags) {
        p->capdiags = p->capdiags ? p->capdiags * 2 : 16;
        p->diags = flex_realloc(p->diags, p->capdiags * sizeof(*p->diags));
    }
    p->diags[p->ndiags] =
        (struct cfg_diagnostic){file, line, (unsigned)p->ndiags, flex_strdup(msg)};
    p->ndiags++;
}

void cfg_diag(struct cfg_parser *p, const char *file, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(p, true, file, line, fmt, ap);
    va_end(ap);
}

void cfg_warn(struct cfg_parser *p, const char *file, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(p, false, file, line, fmt, ap);
    va_end(ap);
}

static int diag_cmp(const void *a, const void *b)
{
    const struct cfg_diagnostic *x = a, *y = b;
    int xd = strcmp(x->file, "-D") == 0, yd = strcmp(y->file, "-D") == 0;
    if (xd != yd)
        return xd - yd;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void diag_flush(struct cfg_parser *p)
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

/* ---- sections and keys -------------------------------------------- */

/* A value quoted in a message: at most 60 bytes, control bytes as '?'. */
static const char *shown(const char *v, char buf[64])
{
    size_t i = 0;
    for (; i < 60 && v[i]; i++)
        buf[i] = ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) ? '?' : v[i];
    if (v[i])
        buf[i - 3] = buf[i - 2] = buf[i - 1] = '.';
    buf[i] = '\0';
    return buf;
}

const char *cfg_sect_label(const struct cfg_sect *s, char buf[96])
{
    if (cfg_kinds[s->kind].named)
        snprintf(buf, 96, "[%s %s]", cfg_kinds[s->kind].name, s->name);
    else
        snprintf(buf, 96, "[%s]", cfg_kinds[s->kind].name);
    return buf;
}

static size_t sect_add(struct cfg_parser *p, uint8_t kind, const char *name, const char *file,
                       unsigned line)
{
    if (p->nsects == p->capsects) {
        p->capsects = p->capsects ? p->capsects * 2 : 16;
        p->sects = flex_realloc(p->sects, p->capsects * sizeof(*p->sects));
    }
    p->sects[p->nsects] = (struct cfg_sect){.kind = kind, .name = name, .file = file, .line = line};
    return p->nsects++;
}

long cfg_sect_find(const struct cfg_parser *p, int kind, const char *name)
{
    for (size_t i = 0; i < p->nsects; i++)
        if (p->sects[i].kind == kind &&
            (!cfg_kinds[kind].named || strcmp(p->sects[i].name, name) == 0))
            return (long)i;
    return -1;
}

static void kv_add(struct cfg_parser *p, size_t sect, const char *key, const char *val,
                   const char *file, unsigned line)
{
    if (p->nkvs == p->capkvs) {
        p->capkvs = p->capkvs ? p->capkvs * 2 : 64;
        p->kvs = flex_realloc(p->kvs, p->capkvs * sizeof(*p->kvs));
    }
    p->kvs[p->nkvs++] = (struct cfg_kv){sect, key, val, file, line};
}

const struct cfg_row *cfg_row_find(int kind, const char *key)
{
    for (size_t i = 0; i < NROWS; i++)
        if (cfg_rows[i].kind == kind && strcmp(cfg_rows[i].key, key) == 0)
            return &cfg_rows[i];
    return NULL;
}

/* ---- lexing the file ----------------------------------------------- */

const char *cfg_trim(const char *s, const char *e, const char **end)
{
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
    *end = e;
    return s;
}

static long lex_header_kind(struct cfg_parser *p, int kind, const char *nm, const char *ne,
                            unsigned line)
{
    size_t nlen = (size_t)(ne - nm);
    if (!cfg_kinds[kind].named) {
        if (nlen) {
            cfg_diag(p, p->file, line, "section [%s] takes no name", cfg_kinds[kind].name);
            return -1;
        }
        long i = cfg_sect_find(p, kind, NULL);
        if (p->sects[i].in_file) {
            cfg_diag(p, p->file, line, "duplicate section [%s] (first at line %u)",
                     cfg_kinds[kind].name, p->sects[i].line);
            return -1;
        }
        p->sects[i].in_file = true;
        p->sects[i].line = line;
        return i;
    }
    if (!flex_cfgval_name_ok(nm, nlen)) {
        cfg_diag(p, p->file, line, "section [%s] needs a NAME of 1-64 letters, digits, '_' or '-'",
                 cfg_kinds[kind].name);
        return -1;
    }
    char *name = flex_arena_strndup(p->a, nm, nlen);
    long i = cfg_sect_find(p, kind, name);
    if (i >= 0) {
        cfg_diag(p, p->file, line, "duplicate section [%s %s] (first at line %u)",
                 cfg_kinds[kind].name, name, p->sects[i].line);
        return -1;
    }
    if (p->nsects >= MAX_SECTIONS) {
        cfg_diag(p, p->file, line, "too many sections (at most %d)", MAX_SECTIONS);
        return -1;
    }
    return (long)sect_add(p, (uint8_t)kind, name, p->file, line);
}

static const char *nearest_kind(const char *word)
{
    const char *names[K_NKINDS];
    for (int k = 0; k < K_NKINDS; k++)
        names[k] = cfg_kinds[k].name;
    return flex_cfgval_nearest(word, names, K_NKINDS);
}

/* The key of |kind| nearest |key|, for "did you mean". */
static const char *nearest_key(int kind, const char *key)
{
    const char *names[NROWS];
    size_t n = 0;
    for (size_t r = 0; r < NROWS; r++)
        if (cfg_rows[r].kind == kind)
            names[n++] = cfg_rows[r].key;
    return flex_cfgval_nearest(key, names, n);
}

/* "[kind]" or "[kind NAME]"; returns the section index or -1. */
static long lex_header(struct cfg_parser *p, const char *s, const char *e, unsigned line)
{
    const char *rb = memchr(s, ']', (size_t)(e - s));
    if (!rb || rb + 1 != e) {
        cfg_diag(p, p->file, line, "bad section header (expected [section] or [section NAME])");
        return -1;
    }
    const char *ie;
    const char *in = cfg_trim(s + 1, rb, &ie);
    const char *sp = in;
    while (sp < ie && *sp != ' ' && *sp != '\t')
        sp++;
    const char *ne;
    const char *nm = cfg_trim(sp, ie, &ne);
    int kind = -1;
    for (int k = 0; k < K_NKINDS; k++)
        if ((size_t)(sp - in) == strlen(cfg_kinds[k].name) &&
            memcmp(in, cfg_kinds[k].name, (size_t)(sp - in)) == 0)
            kind = k;
    if (kind < 0) {
        char word[48];
        snprintf(word, sizeof(word), "%.*s", (int)(sp - in > 40 ? 40 : sp - in), in);
        const char *near = nearest_kind(word);
        cfg_diag(p, p->file, line, "unknown section [%.*s]%s%s%s",
                 (int)(ie - in > 60 ? 60 : ie - in), in, near ? " (did you mean [" : "",
                 near ? near : "", near ? "]?)" : "");
        return -1;
    }
    return lex_header_kind(p, kind, nm, ne, line);
}

/* Unquotes a "double-quoted" value (\" \\ \n \t escapes) into the arena. */
static const char *lex_value(struct cfg_parser *p, const char *v, const char *ve, unsigned line)
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
            cfg_diag(p, p->file, line, "unescaped '\"' inside a quoted value");
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
static void lex_kv(struct cfg_parser *p, long cur, const char *s, const char *e, unsigned line)
{
    const char *eq = memchr(s, '=', (size_t)(e - s));
    if (!eq) {
        cfg_diag(p, p->file, line, "expected KEY = VALUE");
        return;
    }
    const char *ke, *ve;
    const char *k = cfg_trim(s, eq, &ke);
    const char *v = cfg_trim(eq + 1, e, &ve);
    if (!key_ok(k, (size_t)(ke - k))) {
        cfg_diag(p, p->file, line, "bad key name (expected lower-case letters, digits, '_')");
        return;
    }
    if (cur == -2) {
        cfg_diag(p, p->file, line, "key '%.*s' outside any section", (int)(ke - k), k);
        return;
    }
    if (cur < 0)
        return; /* the bad header was reported; do not cascade */
    const char *key = flex_arena_strndup(p->a, k, (size_t)(ke - k));
    /* A section's keys are contiguous in kvs: scan back through them. */
    for (size_t i = p->nkvs; i-- > 0 && p->kvs[i].sect == (size_t)cur;) {
        if (strcmp(p->kvs[i].key, key) == 0) {
            cfg_diag(p, p->file, line, "duplicate key '%s' (first at line %u)", key,
                     p->kvs[i].line);
            return;
        }
    }
    kv_add(p, (size_t)cur, key, lex_value(p, v, ve, line), p->file, line);
}

static void lex_file(struct cfg_parser *p, const char *text, size_t len)
{
    long cur = -2;
    unsigned line = 0;
    const char *s = text, *end = text + len;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *le = nl ? nl : end;
        line++;
        if (memchr(s, '\0', (size_t)(le - s))) {
            cfg_diag(p, p->file, line, "NUL byte in line");
        } else {
            const char *te;
            const char *t = cfg_trim(s, le, &te);
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
static void lex_override(struct cfg_parser *p, const char *text, unsigned pos)
{
    const char *eq = strchr(text, '=');
    const char *dot = eq ? memchr(text, '.', (size_t)(eq - text)) : NULL;
    if (!eq || !dot) {
        cfg_diag(p, "-D", pos, "expected SECTION.KEY=VALUE or SECTION.NAME.KEY=VALUE");
        return;
    }
    int kind = -1;
    for (int k = 0; k < K_NKINDS; k++)
        if ((size_t)(dot - text) == strlen(cfg_kinds[k].name) &&
            memcmp(text, cfg_kinds[k].name, (size_t)(dot - text)) == 0)
            kind = k;
    if (kind < 0) {
        char word[48];
        snprintf(word, sizeof(word), "%.*s", (int)(dot - text > 40 ? 40 : dot - text), text);
        const char *near = nearest_kind(word);
        cfg_diag(p, "-D", pos, "unknown section '%s'%s%s%s", word, near ? " (did you mean " : "",
                 near ? near : "", near ? "?)" : "");
        return;
    }
    const char *key = dot + 1;
    long si;
    if (cfg_kinds[kind].named) {
        const char *dot2 = memchr(key, '.', (size_t)(eq - key));
        if (!dot2 || !flex_cfgval_name_ok(key, (size_t)(dot2 - key))) {
            cfg_diag(p, "-D", pos, "expected %s.NAME.KEY=VALUE", cfg_kinds[kind].name);
            return;
        }
        char *name = flex_arena_strndup(p->a, key, (size_t)(dot2 - key));
        key = dot2 + 1;
        si = cfg_sect_find(p, kind, name);
        if (si < 0)
            si = (long)sect_add(p, (uint8_t)kind, name, "-D", pos);
    } else {
        si = cfg_sect_find(p, kind, NULL);
    }
    if (!key_ok(key, (size_t)(eq - key))) {
        cfg_diag(p, "-D", pos, "bad key name '%.*s'", (int)(eq - key > 40 ? 40 : eq - key), key);
        return;
    }
    const char *k = flex_arena_strndup(p->a, key, (size_t)(eq - key));
    const char *v = flex_arena_strdup(p->a, eq + 1);
    for (size_t i = 0; i < p->nkvs; i++) {
        if (p->kvs[i].sect == (size_t)si && strcmp(p->kvs[i].key, k) == 0) {
            p->kvs[i] = (struct cfg_kv){(size_t)si, k, v, "-D", pos};
            return;
        }
    }
    kv_add(p, (size_t)si, k, v, "-D", pos);
}

/* ---- typed values ------------------------------------------------- */

/* Reads an "@file" secret into the arena; returns NULL with |why| set. */
static const char *read_secret(struct cfg_parser *p, const char *path, char *why, size_t whysz)
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
static const char *secret_value(struct cfg_parser *p, const char *v, char *why, size_t whysz)
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

static int set_phone(const char *v, const char **dst, struct cfg_parser *p, char *why, size_t whysz)
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

static int set_template(struct cfg_parser *p, struct flex_cfg_template *t, const char *v, char *why,
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

static int set_string(struct cfg_parser *p, const struct cfg_row *r, const char *v, void *dst,
                      char *why, size_t whysz)
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
static int set_keywords(struct cfg_parser *p, const struct cfg_row *r, const char *v, void *dst,
                        char *why, size_t whysz)
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

static int list_entry(struct cfg_parser *p, const struct cfg_row *r, const char *t, size_t len,
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
static int set_list(struct cfg_parser *p, const struct cfg_row *r, const char *v,
                    struct flex_cfg_list *dst, char *why, size_t whysz)
{
    size_t cap = 1, n = 0;
    for (const char *q = v; *q; q++)
        cap += *q == ',';
    const char **arr = flex_arena_calloc(p->a, (cap + 1) * sizeof(*arr));
    for (const char *s = v;;) {
        const char *comma = strchr(s, ',');
        const char *te;
        const char *t = cfg_trim(s, comma ? comma : s + strlen(s), &te);
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

static int set_simple(struct cfg_parser *p, const struct cfg_row *r, const char *v, void *dst,
                      char *why, size_t whysz)
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
    case T_TON:
        if (strcmp(v, "lenient") == 0 || strcmp(v, "strict") == 0) {
            *(bool *)dst = v[0] == 's';
            return 0;
        }
        snprintf(why, whysz, "expected lenient or strict");
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

static int set_value(struct cfg_parser *p, const struct cfg_row *r, void *base, const char *v,
                     const char *file, unsigned line, char *why, size_t whysz)
{
    void *dst = (char *)base + r->off;
    int rc;
    switch (r->type) {
    case T_STR: { /* a location's name goes into every text: UTF-8, no controls */
        struct flex_text_error terr;
        size_t n = strlen(v), bad = n;
        const char *what = "not UTF-8";
        if (flex_utf8_validate(v, n, &terr) != 0)
            bad = terr.offset;
        for (size_t i = 0; bad == n && i < n; i++)
            if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
                bad = i, what = "a control character";
        if (bad < n) {
            snprintf(why, whysz, "%s at byte %zu (save the file as UTF-8)", what, bad + 1);
            return FLEX_E_INVAL;
        }
        return set_string(p, r, v, dst, why, whysz);
    }
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

static void *sect_base(struct cfg_parser *p, const struct cfg_sect *s)
{
    switch (s->kind) {
    case K_CARRIER: return &p->cfg->carriers[s->index];
    case K_LOCATION: return &p->cfg->locations[s->index];
    case K_TEMPLATE: return &p->cfg->templates[s->index];
    default: return p->cfg;
    }
}

static bool empty_allowed(const struct cfg_row *r)
{
    return !(r->flags & F_REQ) && (r->type == T_STR || r->type == T_SECRET ||
                                   r->type == T_HTTPURL || r->type == T_KEYWORDS);
}

/* An empty list value replaces its default with no entries (confirm_drops
 * = nothing dropped); other empty values keep the default. */
static bool empty_sets(const struct cfg_row *r)
{
    return r->type == T_LIST || r->type == T_ALLOW;
}

static void apply_one(struct cfg_parser *p, struct cfg_sect *s, const struct cfg_row *r,
                      const char *v, const char *file, unsigned line)
{
    char why[200] = "", lab[96], sh[64];
    if (v[0] == '\0' && !empty_sets(r)) {
        if (!empty_allowed(r))
            cfg_diag(p, file, line, "%s %s must not be empty", cfg_sect_label(s, lab), r->key);
        s->set[ROW_WORD((size_t)(r - cfg_rows))] |= ROW_BIT((size_t)(r - cfg_rows));
        return;
    }
    if (set_value(p, r, sect_base(p, s), v, file, line, why, sizeof(why)) != 0) {
        char red[256];
        bool url = r->type == T_REDISURL || r->type == T_HTTPURL;
        if (url) /* a password in it (user:pass@host): never quoted */
            flex_cfgval_redact_url(v, red, sizeof(red));
        if (r->flags & F_SENS)
            cfg_diag(p, file, line, "%s %s: %s", cfg_sect_label(s, lab), r->key, why);
        else if (url)
            cfg_diag(p, file, line, "%s %s = '%s': %s", cfg_sect_label(s, lab), r->key,
                     shown(red, sh), why);
        else
            cfg_diag(p, file, line, "%s %s = '%s': %s", cfg_sect_label(s, lab), r->key,
                     shown(v, sh), why);
    }
    s->set[ROW_WORD((size_t)(r - cfg_rows))] |= ROW_BIT((size_t)(r - cfg_rows));
}

static void alloc_items(struct cfg_parser *p)
{
    struct flex_cfg *c = p->cfg;
    for (size_t i = 0; i < p->nsects; i++) {
        struct cfg_sect *s = &p->sects[i];
        s->index = s->kind == K_CARRIER    ? c->ncarriers++
                   : s->kind == K_LOCATION ? c->nlocations++
                   : s->kind == K_TEMPLATE ? c->ntemplates++
                                           : 0;
    }
    c->carriers = flex_arena_calloc(p->a, (c->ncarriers + 1) * sizeof(*c->carriers));
    c->locations = flex_arena_calloc(p->a, (c->nlocations + 1) * sizeof(*c->locations));
    c->templates = flex_arena_calloc(p->a, (c->ntemplates + 1) * sizeof(*c->templates));
    for (size_t i = 0; i < p->nsects; i++) {
        struct cfg_sect *s = &p->sects[i];
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

static void apply_all(struct cfg_parser *p)
{
    alloc_items(p);
    for (size_t i = 0; i < p->nsects; i++) {
        struct cfg_sect *s = &p->sects[i];
        for (size_t r = 0; r < NROWS; r++)
            if (cfg_rows[r].kind == s->kind && cfg_rows[r].dflt) {
                char why[200];
                if (set_value(p, &cfg_rows[r], sect_base(p, s), cfg_rows[r].dflt, s->file, s->line,
                              why, sizeof(why)) != 0)
                    cfg_diag(p, s->file, s->line, "internal: bad default for %s: %s",
                             cfg_rows[r].key, why);
            }
    }
    for (size_t i = 0; i < p->nkvs; i++) {
        struct cfg_kv *kv = &p->kvs[i];
        struct cfg_sect *s = &p->sects[kv->sect];
        const struct cfg_row *r = cfg_row_find(s->kind, kv->key);
        char lab[96];
        const char *near = r ? NULL : nearest_key(s->kind, kv->key);
        if (!r)
            cfg_diag(p, kv->file, kv->line, "unknown key '%s' in %s%s%s%s", kv->key,
                     cfg_sect_label(s, lab), near ? " (did you mean " : "", near ? near : "",
                     near ? "?)" : "");
        else
            apply_one(p, s, r, kv->val, kv->file, kv->line);
    }
}

/* ---- public API --------------------------------------------------- */

int flex_cfg_parse(struct flex_cfg **out, const char *name, const char *text, size_t len,
                   const struct flex_cfg_override *ov, size_t nov, flex_cfg_diag_cb cb, void *arg)
{
    struct flex_cfg *cfg = flex_calloc(1, sizeof(*cfg));
    struct cfg_parser p = {.cfg = cfg, .a = &cfg->_arena, .cb = cb, .arg = arg};
    cfg->_arena._chunk_size = 16384;
    p.file = cfg->path = flex_arena_strdup(p.a, name);
    for (int k = 0; k < K_NKINDS; k++)
        if (!cfg_kinds[k].named)
            sect_add(&p, (uint8_t)k, NULL, p.file, 0);
    lex_file(&p, text, len);
    for (size_t i = 0; i < nov; i++)
        lex_override(&p, ov[i].text, (unsigned)i + 1);
    apply_all(&p);
    cfg_check_all(&p);
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

/* ---- the snapshot in force ----------------------------------------- */

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
