/*
 * What a reload changes (flex_cfg_diff): the snapshot about to be published
 * compared with the running one, row by row of the key table, in words; a
 * restart-only key keeps its running value.
 */
#include "config_int.h"

#include <stdio.h>
#include <string.h>

#include "hash.h"
#include "log.h"

static const struct flex_hash_key secret_key; /* a fixed key: the hash only compares */

/* Whether a row of |type| holds a string (a const char *). */
static bool row_is_str(uint8_t type)
{
    switch (type) {
    case T_STR:
    case T_SECRET:
    case T_REDISURL:
    case T_HOSTPORT:
    case T_HTTPURL:
    case T_TZ:
    case T_NAME:
    case T_PHONE:
    case T_KEYWORDS: return true;
    default: return false;
    }
}

/* A row's value as text, for comparing two snapshots.  Secrets become a
 * hash: equal values compare equal, and the text is never shown. */
static void row_text(const struct cfg_row *r, const void *base, char *out, size_t n)
{
    const void *v = (const char *)base + r->off;
    const char *str = NULL;
    if (row_is_str(r->type))
        str = *(const char *const *)v;
    else if (r->type == T_TMPL)
        str = ((const struct flex_cfg_template *)base)->body;
    else if (r->type == T_ROUTE)
        str = ((const struct flex_cfg_src *)v)->text;
    else
        switch (r->type) {
        case T_BOOL: snprintf(out, n, "%s", *(const bool *)v ? "true" : "false"); return;
        case T_AMBIGUOUS: snprintf(out, n, "%s", *(const bool *)v ? "retry" : "fail"); return;
        case T_TON: snprintf(out, n, "%s", *(const bool *)v ? "strict" : "lenient"); return;
        case T_UINT: snprintf(out, n, "%u", *(const uint32_t *)v); return;
        case T_HHMM:
            snprintf(out, n, "%02u:%02u", *(const uint32_t *)v / 60, *(const uint32_t *)v % 60);
            return;
        case T_LOGLEVEL:
            snprintf(out, n, "%s",
                     flex_log_level_name((enum flex_log_level) * (const uint32_t *)v));
            return;
        case T_DOUBLE: snprintf(out, n, "%g", *(const double *)v); return;
        case T_DURATION:
            snprintf(out, n, "%llums", (unsigned long long)*(const uint64_t *)v);
            return;
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

/* Row |r| of |now| takes |was|'s running value again (a restart-only key),
 * by its type: a string is copied into |now|'s arena.  Returns -1 for a type
 * no restart-only key has (test_config checks that none does). */
int cfg_row_keep(const struct cfg_row *r, struct flex_cfg *now, void *dst, const void *src)
{
    if (row_is_str(r->type)) {
        const char *old = *(const char *const *)src;
        *(const char **)dst = old ? flex_arena_strdup(&now->_arena, old) : NULL;
        return 0;
    }
    switch (r->type) {
    case T_BOOL:
    case T_AMBIGUOUS:
    case T_TON: memcpy(dst, src, sizeof(bool)); return 0;
    case T_UINT:
    case T_HHMM:
    case T_LOGLEVEL: memcpy(dst, src, sizeof(uint32_t)); return 0;
    case T_DOUBLE: memcpy(dst, src, sizeof(double)); return 0;
    case T_DURATION: memcpy(dst, src, sizeof(uint64_t)); return 0;
    case T_PROFILE: memcpy(dst, src, sizeof(enum flex_http_profile)); return 0;
    case T_CTYPE: memcpy(dst, src, sizeof(enum flex_carrier_type)); return 0;
    default: return -1; /* lists, routes, templates, keywords: none is restart-only */
    }
}

/* What a reader is told of a changed value: the new one when it is short
 * and no secret, else only that it changed. */
static void row_change(const struct cfg_row *r, const char *sect, const char *was, const char *now,
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
                snprintf(sect, sizeof(sect), "[%s %s]", cfg_kinds[k].name, name);
            else
                snprintf(sect, sizeof(sect), "[%s]", cfg_kinds[k].name);
            if (j < 0) {
                snprintf(line, sizeof(line), "%s added", sect);
                cb(arg, line, false);
                changes++;
                continue;
            }
            for (size_t r = 0; r < cfg_nrows; r++) {
                if (cfg_rows[r].kind != k)
                    continue;
                row_text(&cfg_rows[r], item_base(now, k, i), a, sizeof(a));
                row_text(&cfg_rows[r], item_base(was, k, (size_t)j), b, sizeof(b));
                if (strcmp(a, b) == 0)
                    continue;
                changes++;
                row_change(&cfg_rows[r], sect, b, a, cb, arg);
                /* Redis, the audit log, the listener and the consumer name
                 * are set up once: the snapshot keeps what runs (each such
                 * key is in a singleton section, so its offset is from the
                 * config itself) */
                if (cfg_rows[r].flags & F_IMMUT)
                    (void)cfg_row_keep(&cfg_rows[r], now, (char *)now + cfg_rows[r].off,
                                       (const char *)was + cfg_rows[r].off);
            }
        }
        for (size_t j = 0; cfg_kinds[k].named && j < item_count(was, k); j++) /* removed */
            if (item_find(now, k, item_name(was, k, j)) < 0) {
                snprintf(line, sizeof(line), "[%s %s] removed", cfg_kinds[k].name,
                         item_name(was, k, j));
                cb(arg, line, false);
                changes++;
            }
    }
    return changes;
}
