/*
 * Checks across keys and sections, once a whole file and its -D options are
 * read and applied (cfg_check_all): required keys and sections, keys that do
 * not apply to a carrier's type, routes resolved against the carriers, the
 * [engine] and [redis] keys that go together, the [keywords] lists compiled
 * together, time zones and shared phone numbers (warnings).
 */
#include "config_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfgval.h"
#include "intent.h"
#include "log.h"
#include "tz.h"

/* Templates the engine itself sends; a config without them cannot run. */
static const char *const required_templates[] = {
    "reminder_72h",   "reminder_24h",   "reminder_2h",   "recall_due",
    "recall_overdue", "optout_confirm", "optin_confirm", "help",
};

/* Type-specific carrier keys apply to their type only; with no valid type
 * they are not checked at all (the missing type is the error). */
static bool row_applies(const struct cfg_row *r, const struct flex_cfg_carrier *c)
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
static bool check_added(struct cfg_parser *p, const struct cfg_sect *s)
{
    if (!cfg_kinds[s->kind].named || strcmp(s->file, "-D") != 0)
        return false;
    const struct flex_cfg_carrier *c = s->kind == K_CARRIER ? &p->cfg->carriers[s->index] : NULL;
    char missing[200] = "";
    size_t o = 0;
    for (size_t r = 0; r < cfg_nrows; r++)
        if (cfg_rows[r].kind == s->kind && (cfg_rows[r].flags & F_REQ) &&
            !(s->set[ROW_WORD(r)] & ROW_BIT(r)) &&
            (!c ||
             (c->type ? row_applies(&cfg_rows[r], c) : !(cfg_rows[r].flags & (F_SMPP | F_HTTP)))) &&
            o < sizeof(missing))
            o += (size_t)snprintf(missing + o, sizeof(missing) - o, "%s%s", o ? ", " : "",
                                  cfg_rows[r].key);
    if (!o)
        return false;
    const char *names[MAX_SECTIONS];
    size_t n = 0;
    for (size_t i = 0; i < p->nsects; i++)
        if (p->sects[i].kind == s->kind && strcmp(p->sects[i].file, "-D") != 0)
            names[n++] = p->sects[i].name;
    const char *near = flex_cfgval_nearest(s->name, names, n);
    cfg_diag(p, "-D", s->line,
             "[%s %s] is not in %s: a -D option can add one only with all its required keys "
             "(missing: %s)%s%s%s",
             cfg_kinds[s->kind].name, s->name, p->file, missing, near ? "; did you mean " : "",
             near ? near : "", near ? "?" : "");
    return true;
}

static void check_required(struct cfg_parser *p)
{
    char lab[96];
    for (size_t i = 0; i < p->nsects; i++) {
        struct cfg_sect *s = &p->sects[i];
        const struct flex_cfg_carrier *c =
            s->kind == K_CARRIER ? &p->cfg->carriers[s->index] : NULL;
        if (check_added(p, s))
            continue;
        for (size_t r = 0; r < cfg_nrows; r++) {
            const struct cfg_row *row = &cfg_rows[r];
            if (row->kind != s->kind || !(row->flags & F_REQ) || (s->set[ROW_WORD(r)] & ROW_BIT(r)))
                continue;
            if (s->kind == K_CARRIER && !row_applies(row, c))
                continue;
            if (!cfg_kinds[s->kind].named && !s->in_file)
                cfg_diag(p, p->file, p->last_line, "missing required section [%s] with key '%s'",
                         cfg_kinds[s->kind].name, row->key);
            else
                cfg_diag(p, s->file, s->line, "%s: missing required key '%s'%s",
                         cfg_sect_label(s, lab), row->key,
                         c && c->type ? (c->type == FLEX_CARRIER_SMPP ? " (smpp)" : " (http)")
                                      : "");
        }
    }
    /* A header line is one line, "Name: value" (the value is a secret: not
     * quoted back). */
    for (size_t i = 0; i < p->nsects; i++) {
        struct cfg_sect *s = &p->sects[i];
        const struct flex_cfg_carrier *c =
            s->kind == K_CARRIER ? &p->cfg->carriers[s->index] : NULL;
        const char *h = c && c->type == FLEX_CARRIER_HTTP ? c->auth_header : NULL;
        if (h && h[0] && (strpbrk(h, "\r\n") || !strchr(h, ':') || h[0] == ':'))
            cfg_diag(p, s->file, s->line, "%s: auth_header must be one header line 'Name: value'",
                     cfg_sect_label(s, lab));
    }
    /* Keys given to a carrier of the other type are mistakes, not noise. */
    for (size_t i = 0; i < p->nkvs; i++) {
        struct cfg_sect *s = &p->sects[p->kvs[i].sect];
        const struct cfg_row *r = cfg_row_find(s->kind, p->kvs[i].key);
        const struct flex_cfg_carrier *c =
            s->kind == K_CARRIER ? &p->cfg->carriers[s->index] : NULL;
        bool by_profile =
            r && (r->flags & (F_TWILIO | F_JSONP)) && c && c->type == FLEX_CARRIER_HTTP;
        if (c && c->type && r && !row_applies(r, c))
            cfg_diag(p, p->kvs[i].file, p->kvs[i].line,
                     "%s: key '%s' does not apply to a%s carrier%s", cfg_sect_label(s, lab), r->key,
                     c->type == FLEX_CARRIER_SMPP ? "n smpp" : "n http",
                     !by_profile                      ? ""
                     : c->profile == FLEX_HTTP_TWILIO ? " of profile twilio"
                                                      : " of profile json");
    }
}

/* Resolves "a, b, c" into carrier indices. */
static void resolve_route(struct cfg_parser *p, const struct flex_cfg_src *src,
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
        const char *t = cfg_trim(s, e, &te);
        size_t len = (size_t)(te - t);
        long found = -1;
        for (size_t i = 0; i < p->cfg->ncarriers; i++)
            if (strlen(p->cfg->carriers[i].name) == len &&
                memcmp(p->cfg->carriers[i].name, t, len) == 0)
                found = (long)i;
        if (len == 0) {
            cfg_diag(p, src->file, src->line, "route has an empty carrier name");
        } else if (found < 0) {
            cfg_diag(p, src->file, src->line, "route names carrier '%.*s', which is not defined",
                     (int)(len > 64 ? 64 : len), t);
        } else if (out->n == FLEX_CFG_MAX_ROUTE) {
            cfg_diag(p, src->file, src->line, "route lists more than %d carriers",
                     FLEX_CFG_MAX_ROUTE);
            return;
        } else {
            for (uint16_t k = 0; k < out->n; k++)
                if (out->idx[k] == found)
                    cfg_diag(p, src->file, src->line, "route names carrier '%.*s' twice", (int)len,
                             t);
            out->idx[out->n++] = (uint16_t)found;
        }
        if (!comma)
            return;
        s = comma + 1;
    }
}

/* The last "key = value" of singleton section |kind| for |key| (NULL: its
 * first key of any name), from the file or a -D; NULL when not given. */
static const struct cfg_kv *kv_get(const struct cfg_parser *p, int kind, const char *key)
{
    long si = cfg_sect_find(p, kind, NULL);
    const struct cfg_kv *found = NULL;
    for (size_t i = 0; i < p->nkvs; i++)
        if (p->kvs[i].sect == (size_t)si && (!key || strcmp(p->kvs[i].key, key) == 0)) {
            found = &p->kvs[i];
            if (!key)
                break;
        }
    return found;
}

static void check_engine(struct cfg_parser *p)
{
    const struct flex_cfg *c = p->cfg;
    const struct cfg_kv *log = kv_get(p, K_ENGINE, "audit_log");
    const struct cfg_kv *key = kv_get(p, K_ENGINE, "audit_key");
    /* Without its key the chain proves nothing: anyone could rewrite it.
     * A key given but refused was reported at its own line.  Never quote
     * the key. */
    if (log && c->engine.audit_log && c->engine.audit_log[0] &&
        !(c->engine.audit_key && c->engine.audit_key[0]) && !(key && key->val[0]))
        cfg_diag(p, log->file, log->line,
                 "engine.audit_key is required when engine.audit_log is set");
    /* The default names required templates, already checked as such. */
    const struct cfg_kv *drops = kv_get(p, K_ENGINE, "confirm_drops");
    for (size_t i = 0; drops && i < c->engine.confirm_drops.n; i++)
        if (cfg_sect_find(p, K_TEMPLATE, c->engine.confirm_drops.v[i]) < 0)
            cfg_diag(p, drops->file, drops->line,
                     "engine.confirm_drops names '%s', which is not a [template]",
                     c->engine.confirm_drops.v[i]);
}

/* [redis] TLS files: only with rediss://, a certificate with its key, each
 * readable now (a missing file would otherwise show only as failed
 * connections), a private key not readable by others. */
static void check_redis(struct cfg_parser *p)
{
    const struct flex_store_params *r = &p->cfg->redis;
    static const char *const keys[] = {"tls_ca", "tls_cert", "tls_key"};
    const char *vals[] = {r->tls_ca, r->tls_cert, r->tls_key};
    bool tls = r->url && strncmp(r->url, "rediss://", 9) == 0;
    for (int i = 0; i < 3; i++) {
        const struct cfg_kv *kv = kv_get(p, K_REDIS, keys[i]);
        if (!kv || !vals[i] || !vals[i][0])
            continue;
        if (!tls) {
            cfg_diag(p, kv->file, kv->line, "redis.%s is set but redis.url is not rediss://",
                     keys[i]);
            continue;
        }
        struct stat st;
        if (access(vals[i], R_OK) != 0)
            cfg_diag(p, kv->file, kv->line, "redis.%s: cannot read %s: %s", keys[i], vals[i],
                     strerror(errno));
        else if (i == 2 && stat(vals[i], &st) == 0 && (st.st_mode & S_IRWXO))
            flex_log(FLEX_LOG_WARN, NULL, 0,
                     "key file %s can be read by other users (mode %03o): chmod 600 it", vals[i],
                     (unsigned)(st.st_mode & 0777));
    }
    if (tls && !(r->tls_cert && r->tls_cert[0]) != !(r->tls_key && r->tls_key[0])) {
        const struct cfg_kv *kv =
            kv_get(p, K_REDIS, r->tls_cert && r->tls_cert[0] ? "tls_cert" : "tls_key");
        if (kv)
            cfg_diag(p, kv->file, kv->line, "redis.tls_cert and redis.tls_key go together");
    }
}

static void keywords_free(void *kw)
{
    flex_keywords_del(kw);
}

/* Compiles the [keywords] lists into the snapshot.  Each list was checked
 * at its own line; what fails here is lists that contradict each other
 * (one word both an opt-out and an opt-in). */
static void check_keywords(struct cfg_parser *p)
{
    struct flex_cfg *c = p->cfg;
    struct flex_keywords *kw;
    char why[256];
    if (p->kw_bad)
        return;
    if (flex_keywords_new(&kw, c->keyword_lists.text, why, sizeof(why)) != 0) {
        const struct cfg_sect *s = &p->sects[cfg_sect_find(p, K_KEYWORDS, NULL)];
        const struct cfg_kv *kv = kv_get(p, K_KEYWORDS, NULL);
        if (s->in_file || !kv)
            cfg_diag(p, s->file, s->in_file ? s->line : p->last_line, "[keywords] %s", why);
        else
            cfg_diag(p, kv->file, kv->line, "[keywords] %s", why);
        return;
    }
    flex_arena_cleanup_add(p->a, keywords_free, kw);
    c->keywords = kw;
}

void cfg_check_all(struct cfg_parser *p)
{
    struct flex_cfg *c = p->cfg;
    check_required(p);
    size_t enabled = 0;
    for (size_t i = 0; i < c->ncarriers; i++)
        enabled += c->carriers[i].enabled;
    if (enabled > FLEX_CFG_MAX_CARRIERS)
        cfg_diag(p, p->file, p->last_line, "%zu carriers enabled: at most %d", enabled,
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
            cfg_diag(p, p->file, l->_line, "[location %s]: cannot read time zone '%s'", l->id,
                     l->timezone);
        const char *why, *use = l->timezone ? flex_cfgval_zone_legacy(l->timezone, &why) : NULL;
        if (use)
            cfg_warn(p, p->file, l->_line, "[location %s] timezone = %s is %s; use %s", l->id,
                     l->timezone, why, use);
        for (size_t j = 0; j < i; j++) /* replies to a shared number cannot be told apart */
            if (l->phone && c->locations[j].phone && strcmp(l->phone, c->locations[j].phone) == 0)
                cfg_warn(p, p->file, l->_line,
                         "[location %s] phone %s is also [location %s]'s: replies to it are "
                         "matched to the practice by what was last sent to the patient",
                         l->id, l->phone, c->locations[j].id);
    }
    for (size_t i = 0; i < sizeof(required_templates) / sizeof(required_templates[0]); i++)
        if (cfg_sect_find(p, K_TEMPLATE, required_templates[i]) < 0)
            cfg_diag(p, p->file, p->last_line, "missing required section [template %s]",
                     required_templates[i]);
    if (c->quiet_hours.enabled && c->quiet_hours.start_min == c->quiet_hours.end_min) {
        long s = cfg_sect_find(p, K_QUIET, NULL);
        cfg_diag(p, p->sects[s].file, p->sects[s].line,
                 "[quiet_hours] start and end are equal (disable it with enabled = false)");
    }
}
