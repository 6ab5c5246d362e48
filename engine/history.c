#include "history.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "e164.h"
#include "job.h"
#include "mem.h"
#include "reply.h"
#include "store.h"
#include "str.h"

#define DAY_MS 86400000LL
#define HOUR_MS 3600000LL

/* The status of a text sent: its record's own (imported), else its job's
 * history record in the hour it was sent (engine/writer.c), receipt first. */
static void status_of(struct redisReply *hist, const char *rec, size_t len, char *out, size_t sz)
{
    flex_conv_field_copy(rec, len, "s=", out, sz);
    if (out[0] || !hist)
        return;
    size_t hl;
    const char *h = flex_reply_str(hist, &hl);
    if (!h)
        return;
    const char *s = NULL;
    size_t sl = 0;
    for (size_t i = 0; i + 2 <= hl; i++) /* "s=delivered c=..." (space-separated) */
        if ((i == 0 || h[i - 1] == ' ') && h[i] == 's' && h[i + 1] == '=') {
            s = h + i + 2;
            const char *e = memchr(s, ' ', hl - i - 2);
            sl = e ? (size_t)(e - s) : hl - i - 2;
            break;
        }
    snprintf(out, sz, "%.*s", s ? (int)sl : 0, s ? s : "");
}

static void print_line(FILE *out, const char *rec, size_t len, struct redisReply *hist)
{
    char t[24], d[4], l[65], k[65], st[24];
    flex_conv_field_copy(rec, len, "t=", t, sizeof(t));
    flex_conv_field_copy(rec, len, "d=", d, sizeof(d));
    flex_conv_field_copy(rec, len, "l=", l, sizeof(l));
    flex_conv_field_copy(rec, len, "k=", k, sizeof(k));
    status_of(d[0] == 'o' ? hist : NULL, rec, len, st, sizeof(st));
    if (!st[0])
        snprintf(st, sizeof(st), "%s", d[0] == 'o' ? "sent" : "received");
    long long ms = atoll(t);
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char when[32];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    size_t xl;
    const char *x = flex_conv_field(rec, len, "x=", &xl);
    fprintf(out, "%s\t%s\t%s\t%s\t%s\t%.*s\n", when, d[0] == 'o' ? "out" : "in", l[0] ? l : "-",
            k[0] ? k : "-", st, x ? (int)xl : 0, x ? x : "");
}

/* The lines of one number's log (of |patient| only, when not NULL). */
static long print_log(struct flex_store *st, const struct flex_cfg *cfg, const char *phone,
                      const char *patient, FILE *out, char *why, size_t whysz)
{
    flex_store_appendf(st, "LRANGE %s%s 0 -1", FLEX_KEY_CONV, phone);
    struct redisReply *r;
    if (flex_store_reply(st, &r) != 0) {
        snprintf(why, whysz, "redis: %s", flex_store_error(st));
        return -1;
    }
    int64_t since = (int64_t)time(NULL) * 1000 - (int64_t)cfg->engine.history_days * DAY_MS;
    size_t n = flex_reply_count(r);
    /* Each text sent: its job's record, for the status (one pipeline). */
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *rec = flex_reply_str(flex_reply_at(r, i), &len);
        char t[24], j[112];
        flex_conv_field_copy(rec ? rec : "", rec ? len : 0, "t=", t, sizeof(t));
        flex_conv_field_copy(rec ? rec : "", rec ? len : 0, "j=", j, sizeof(j));
        flex_store_appendf(st, "HGET flex:hist:%lld %s", atoll(t) / HOUR_MS, j[0] ? j : "-");
    }
    long lines = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        struct redisReply *h = NULL;
        if (rc == 0 && flex_store_reply(st, &h) != 0) {
            snprintf(why, whysz, "redis: %s", flex_store_error(st));
            rc = -1;
        }
        size_t len;
        const char *rec = flex_reply_str(flex_reply_at(r, i), &len);
        char t[24], p[65];
        if (rc == 0 && rec) {
            flex_conv_field_copy(rec, len, "t=", t, sizeof(t));
            flex_conv_field_copy(rec, len, "p=", p, sizeof(p));
            if (atoll(t) >= since && (!patient || strcmp(p, patient) == 0)) {
                print_line(out, rec, len, h);
                lines++;
            }
        }
        flex_store_free_reply(h);
    }
    flex_store_free_reply(r);
    return rc == 0 ? lines : -1;
}

/* A patient id: every number's log is looked through (SCAN): no index is
 * written per message for this (Redis time per message is flexd's limit);
 * an operator's query over 200,000 numbers takes a few seconds. */
static long print_patient(struct flex_store *st, const struct flex_cfg *cfg, const char *patient,
                          FILE *out, char *why, size_t whysz)
{
    char cursor[32] = "0";
    long lines = 0;
    do {
        flex_store_appendf(st, "SCAN %s MATCH %s* COUNT 1000", cursor, FLEX_KEY_CONV);
        struct redisReply *r;
        if (flex_store_reply(st, &r) != 0 || flex_reply_count(r) != 2) {
            snprintf(why, whysz, "redis: %s", flex_store_error(st));
            flex_store_free_reply(r);
            return -1;
        }
        size_t cl;
        const char *c = flex_reply_str(flex_reply_at(r, 0), &cl);
        snprintf(cursor, sizeof(cursor), "%.*s", c ? (int)cl : 1, c ? c : "0");
        struct redisReply *keys = flex_reply_at(r, 1);
        for (size_t i = 0; i < flex_reply_count(keys) && lines >= 0; i++) {
            size_t kl;
            const char *k = flex_reply_str(flex_reply_at(keys, i), &kl);
            char phone[24];
            size_t pl = k && kl > sizeof(FLEX_KEY_CONV) - 1 ? kl - (sizeof(FLEX_KEY_CONV) - 1) : 0;
            if (pl == 0 || pl >= sizeof(phone))
                continue;
            memcpy(phone, k + sizeof(FLEX_KEY_CONV) - 1, pl);
            phone[pl] = '\0';
            long n = print_log(st, cfg, phone, patient, out, why, whysz);
            lines = n < 0 ? -1 : lines + n;
        }
        flex_store_free_reply(r);
    } while (lines >= 0 && strcmp(cursor, "0") != 0);
    return lines;
}

long flex_history_print(struct flex_store *st, const struct flex_cfg *cfg, const char *who,
                        FILE *out, char *why, size_t whysz)
{
    char n[FLEX_E164_BUFSZ];
    if (flex_e164_normalize(who, strlen(who), n, NULL) > 0)
        return print_log(st, cfg, n, NULL, out, why, whysz);
    return print_patient(st, cfg, who, out, why, whysz);
}

/* ---- import ------------------------------------------------------------ */

/* KEYS: none.  ARGV: the log key, the record, its time (ms), keep (ms),
 * Inserts the record in time
 * order (a previous system's history is older than what Flex logged:
 * usually the front), unless the same record is already there. */
static const char import_lua[] =
    "local k, rec, t = ARGV[1], ARGV[2], tonumber(ARGV[3])\n"
    "local function ts(r) return tonumber(string.match(r, '^t=(%d+)')) or 0 end\n"
    "local n = redis.call('LLEN', k)\n"
    "local done = false\n"
    /* from the newest back: past every record of the same time (one of
     * them may be this one), then in after the first older one */
    "local at = -1\n"
    "for i = n - 1, 0, -1 do\n"
    "  local r = redis.call('LINDEX', k, i)\n"
    "  if r == rec then return 0 end\n"
    "  local rt = ts(r)\n"
    "  if rt <= t and at < 0 then at = i end\n"
    "  if rt < t then break end\n"
    "end\n"
    "if at == n - 1 then redis.call('RPUSH', k, rec); done = true\n"
    "elseif at >= 0 then\n"
    /* LINSERT finds its pivot by value: rebuild the tail instead */
    "  local tail = redis.call('LRANGE', k, at + 1, -1)\n"
    "  redis.call('LTRIM', k, 0, at)\n"
    "  redis.call('RPUSH', k, rec, unpack(tail))\n"
    "  done = true\n"
    "end\n"
    "if not done then redis.call('LPUSH', k, rec) end\n"
    "redis.call('PEXPIRE', k, ARGV[4])\n"

    "return 1\n";

struct import_rec {
    char phone[FLEX_E164_BUFSZ];
    const char *patient, *location, *what, *status, *text;
    bool out;
    int64_t at_ms;
};

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Checks one line; NULL when good, else why not. */
static const char *import_check(const struct flex_cfg *cfg, json_t *o, struct import_rec *r)
{
    if (!json_is_object(o))
        return "not a JSON object";
    const char *phone = jstr(o, "phone"), *dir = jstr(o, "direction"), *at = jstr(o, "at");
    json_t *atms = json_object_get(o, "at_ms");
    r->text = jstr(o, "text");
    r->patient = jstr(o, "patient") ? jstr(o, "patient") : "";
    r->location = jstr(o, "location") ? jstr(o, "location") : "";
    r->status = jstr(o, "status") ? jstr(o, "status") : "";
    if (!phone || flex_e164_normalize(phone, strlen(phone), r->phone, NULL) <= 0)
        return "missing or invalid phone";
    if (!dir || (strcmp(dir, "out") != 0 && strcmp(dir, "in") != 0))
        return "direction must be \"out\" or \"in\"";
    r->out = dir[0] == 'o';
    r->what = jstr(o, r->out ? "template" : "intent");
    if (!r->what)
        r->what = "-";
    if (!r->text)
        return "missing text";
    if (json_is_integer(atms))
        r->at_ms = (int64_t)json_integer_value(atms);
    else if (!at || flex_job_parse_time(at, &r->at_ms) != 0)
        return "missing or invalid at (RFC 3339) / at_ms";
    if (r->at_ms < (int64_t)time(NULL) * 1000 - (int64_t)cfg->engine.history_days * DAY_MS)
        return "older than engine.history_days: not kept";
    if (strlen(r->text) > 4096 || strlen(r->patient) > 64 || strlen(r->location) > 64 ||
        strlen(r->what) > 64 || strlen(r->status) > 23)
        return "a field is too long (text 4096 bytes, ids 64)";
    if (strpbrk(r->patient, "\t\n") || strpbrk(r->location, "\t\n") || strpbrk(r->what, "\t\n") ||
        strpbrk(r->status, "\t\n"))
        return "a tab or line break in an id";
    return NULL;
}

static void import_append(struct flex_store *st, const char *sha, const struct flex_cfg *cfg,
                          const struct import_rec *r)
{
    size_t cap = strlen(r->text) + 512;
    char *rec = flex_malloc(cap);
    long h = flex_conv_record(rec, cap, r->at_ms, r->out ? 'o' : 'i', r->location, r->patient, "",
                              "-", r->what, r->status, r->text);
    char key[64], t[24], keep[24];
    snprintf(key, sizeof(key), "%s%s", FLEX_KEY_CONV, r->phone);
    snprintf(t, sizeof(t), "%lld", (long long)r->at_ms);
    snprintf(keep, sizeof(keep), "%lld", (long long)flex_conv_keep_ms(cfg));
    const char *argv[] = {"EVALSHA", sha, "0", key, rec, t, keep};
    size_t lens[] = {7, 40, 1, strlen(key), h > 0 ? (size_t)h : 0, strlen(t), strlen(keep)};
    flex_store_append(st, 7, argv, lens);
    flex_free(rec);
}

/* Reads |pending| replies; counts what was new. */
static int import_settle(struct flex_store *st, int pending, long *imported)
{
    for (int i = 0; i < pending; i++) {
        struct redisReply *r;
        if (flex_store_reply(st, &r) != 0)
            return -1;
        bool bad = flex_reply_is_error(r);
        *imported += !bad && flex_reply_integer(r) == 1;
        flex_store_free_reply(r);
        if (bad)
            return -1;
    }
    return 0;
}

int flex_history_import(struct flex_store *st, const struct flex_cfg *cfg, FILE *in, FILE *errs,
                        long *imported, long *rejected)
{
    char sha[41];
    *imported = *rejected = 0;
    if (flex_store_script_load(st, import_lua, sha) != 0)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int pending = 0, rc = 0;
    ssize_t n;
    while (rc == 0 && (n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        json_error_t jerr;
        json_t *o = json_loadb(line, (size_t)n, 0, &jerr);
        struct import_rec r;
        const char *why = o ? import_check(cfg, o, &r) : "not JSON";
        if (why) {
            fprintf(errs, "%ld: %s\n", lineno, why);
            (*rejected)++;
        } else {
            import_append(st, sha, cfg, &r);
            pending++;
        }
        json_decref(o);
        if (pending == 512) {
            rc = import_settle(st, pending, imported);
            pending = 0;
        }
    }
    if (rc == 0)
        rc = import_settle(st, pending, imported);
    free(line);
    return rc;
}
