#include "history.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "e164.h"
#include "flex.pb-c.h"
#include "job.h"
#include "mem.h"
#include "reply.h"
#include "schedq.h"
#include "store.h"
#include "str.h"
#include "utf8.h"

#define DAY_MS 86400000LL
#define HOUR_MS 3600000LL

/* The status of a text sent: its record's own (imported), else its job's
 * history record in the hour it was sent (engine/run/writer.c), receipt first. */
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

/* A text as an operator's terminal may show it: control characters (C0,
 * DEL, C1: escape sequences a patient could send) and bytes that are not
 * UTF-8 written as \xNN, everything else as it is. */
static void put_text(FILE *out, const char *x, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = flex_utf8_next((const unsigned char *)x + i, len - i, &cp);
        if (k > 0 && cp >= 0x20 && cp != 0x7f && (cp < 0x80 || cp > 0x9f)) {
            fwrite(x + i, 1, (size_t)k, out);
            i += (size_t)k;
        } else {
            for (int b = 0; b < (k > 0 ? k : 1); b++)
                fprintf(out, "\\x%02x", (unsigned char)x[i + (size_t)b]);
            i += k > 0 ? (size_t)k : 1;
        }
    }
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
    fprintf(out, "%s\t%s\t%s\t%s\t%s\t", when, d[0] == 'o' ? "out" : "in", l[0] ? l : "-",
            k[0] ? k : "-", st);
    put_text(out, x ? x : "", x ? xl : 0);
    fputc('\n', out);
}

/* Records gathered from the log, copied (their replies are freed as the
 * search goes), then sorted by time. */
struct recs {
    struct rec {
        char *s;
        size_t len;
        int64_t t;
    } * v;
    size_t n, cap;
};

static void recs_add(struct recs *rs, const char *s, size_t len)
{
    char t[24];
    flex_conv_field_copy(s, len, "t=", t, sizeof(t));
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? 2 * rs->cap : 64;
        rs->v = flex_realloc(rs->v, rs->cap * sizeof(*rs->v));
    }
    char *c = flex_malloc(len + 1);
    memcpy(c, s, len);
    c[len] = '\0';
    rs->v[rs->n++] = (struct rec){c, len, atoll(t)};
}

static void recs_free(struct recs *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        flex_free(rs->v[i].s);
    flex_free(rs->v);
}

static int rec_cmp(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Adds the strings of the array reply |r| (every other one from |first|,
 * stepping |step|: ZSCAN's replies pair a member with its score). */
static void recs_take(struct recs *rs, struct redisReply *r, size_t first, size_t step)
{
    for (size_t i = first; i < flex_reply_count(r); i += step) {
        size_t len;
        const char *s = flex_reply_str(flex_reply_at(r, i), &len);
        if (s)
            recs_add(rs, s, len);
    }
}

/* Prints the records of |rs| within engine.history_days (of |patient|
 * only when not NULL), oldest first, each sent text with its job's status
 * (one pipeline of HGETs).  Duplicates (the same record from two keys) are
 * printed once. */
static long print_recs(struct flex_store *st, const struct flex_cfg *cfg, struct recs *rs,
                       const char *patient, FILE *out, char *why, size_t whysz)
{
    int64_t since = (int64_t)time(NULL) * 1000 - (int64_t)cfg->engine.history_days * DAY_MS;
    qsort(rs->v, rs->n, sizeof(*rs->v), rec_cmp);
    size_t k = 0;
    for (size_t i = 0; i < rs->n; i++) {
        struct rec *r = &rs->v[i];
        char p[65];
        flex_conv_field_copy(r->s, r->len, "p=", p, sizeof(p));
        bool dup = k > 0 && rec_cmp(&rs->v[k - 1], r) == 0;
        if (dup || r->t < since || (patient && strcmp(p, patient) != 0)) {
            flex_free(r->s);
            continue;
        }
        rs->v[k++] = *r;
    }
    rs->n = k;
    for (size_t i = 0; i < rs->n; i++) {
        char j[112];
        flex_conv_field_copy(rs->v[i].s, rs->v[i].len, "j=", j, sizeof(j));
        flex_store_appendf(st, "HGET flex:hist:%lld %s", (long long)(rs->v[i].t / HOUR_MS),
                           j[0] ? j : "-");
    }
    int rc = 0;
    for (size_t i = 0; i < rs->n; i++) {
        struct redisReply *h = NULL;
        if (rc == 0 && flex_store_reply(st, &h) != 0) {
            snprintf(why, whysz, "redis: %s", flex_store_error(st));
            rc = -1;
        }
        if (rc == 0) {
            char d[4];
            flex_conv_field_copy(rs->v[i].s, rs->v[i].len, "d=", d, sizeof(d));
            print_line(out, rs->v[i].s, rs->v[i].len, d[0] == 'o' ? h : NULL);
        }
        flex_store_free_reply(h);
    }
    return rc == 0 ? (long)rs->n : -1;
}

/* The days of the log within engine.history_days: first and last. */
static void log_days(const struct flex_cfg *cfg, int64_t *first, int64_t *last)
{
    int64_t now = (int64_t)time(NULL) * 1000;
    *last = now / DAY_MS;
    *first = (now - (int64_t)cfg->engine.history_days * DAY_MS) / DAY_MS;
}

static long redis_failed(struct flex_store *st, char *why, size_t whysz)
{
    snprintf(why, whysz, "redis: %s", flex_store_error(st));
    return -1;
}

/* One number: a ZRANGEBYSCORE per day (one pipeline), and the list older
 * versions kept per number (flex:conv:{phone}) until it expires. */
static long print_phone(struct flex_store *st, const struct flex_cfg *cfg, const char *phone,
                        FILE *out, char *why, size_t whysz)
{
    char lo[24], hi[24];
    int64_t first, last;
    struct recs rs = {0};
    log_days(cfg, &first, &last);
    /* the texts sent and those received (scored a half above) */
    bool scored = flex_conv_score_range(phone, lo, hi, sizeof(lo)) == 0;
    size_t pending = 0;
    for (int64_t d = first; scored && d <= last; d++, pending++)
        flex_store_appendf(st, "ZRANGEBYSCORE %s%lld %s %s", FLEX_KEY_LOG, (long long)d, lo, hi);
    flex_store_appendf(st, "LRANGE %s%s 0 -1", FLEX_KEY_CONV, phone);
    pending++;
    int rc = 0;
    for (size_t i = 0; i < pending; i++) {
        struct redisReply *r = NULL;
        if (rc == 0 && flex_store_reply(st, &r) != 0)
            rc = -1;
        if (rc == 0)
            recs_take(&rs, r, 0, 1);
        flex_store_free_reply(r);
    }
    long n =
        rc == 0 ? print_recs(st, cfg, &rs, NULL, out, why, whysz) : redis_failed(st, why, whysz);
    recs_free(&rs);
    return n;
}

/* A glob matching a record of |patient| (its "\tp=...\t" field), the
 * id's own glob characters escaped. */
static void patient_glob(const char *patient, char *out, size_t outsz)
{
    size_t o = 0;
    out[o++] = '*';
    for (const char *s = "\tp="; *s; s++)
        out[o++] = *s;
    for (const char *s = patient; *s && o + 4 < outsz; s++) {
        if (strchr("*?[]\\", *s))
            out[o++] = '\\';
        out[o++] = *s;
    }
    out[o++] = '\t';
    out[o++] = '*';
    out[o] = '\0';
}

/* Every key a SCAN or ZSCAN walks, cursor by cursor: |take| gets each
 * page's array.  Returns 0, or -1 when Redis failed. */
static int scan_all(struct flex_store *st, const char *cmd, const char *key, const char *match,
                    void (*take)(void *, struct flex_store *, struct redisReply *), void *arg)
{
    char cursor[32] = "0";
    do {
        if (key)
            flex_store_appendf(st, "%s %s %s MATCH %s COUNT 1000", cmd, key, cursor, match);
        else
            flex_store_appendf(st, "%s %s MATCH %s COUNT 1000", cmd, cursor, match);
        struct redisReply *r;
        if (flex_store_reply(st, &r) != 0 || flex_reply_count(r) != 2) {
            flex_store_free_reply(r);
            return -1;
        }
        size_t cl;
        const char *c = flex_reply_str(flex_reply_at(r, 0), &cl);
        snprintf(cursor, sizeof(cursor), "%.*s", c ? (int)cl : 1, c ? c : "0");
        take(arg, st, flex_reply_at(r, 1));
        flex_store_free_reply(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

static void take_members(void *arg, struct flex_store *st, struct redisReply *page)
{
    (void)st;
    recs_take(arg, page, 0, 2);
}

/* Older versions' lists: each flex:conv:{phone} whole (its records are
 * filtered by patient afterwards). */
static void take_lists(void *arg, struct flex_store *st, struct redisReply *keys)
{
    size_t n = flex_reply_count(keys);
    for (size_t i = 0; i < n; i++) {
        size_t kl;
        const char *k = flex_reply_str(flex_reply_at(keys, i), &kl);
        flex_store_appendf(st, "LRANGE %b 0 -1", k ? k : "", k ? kl : 0);
    }
    for (size_t i = 0; i < n; i++) {
        struct redisReply *r;
        if (flex_store_reply(st, &r) != 0)
            return; /* the next SCAN reports it */
        recs_take(arg, r, 0, 1);
        flex_store_free_reply(r);
    }
}

/* A patient id: each day's log is looked through on the server (ZSCAN
 * with a MATCH on the record's patient field): no index is written per
 * message for this (Redis time per message is flexd's limit). */
static long print_patient(struct flex_store *st, const struct flex_cfg *cfg, const char *patient,
                          FILE *out, char *why, size_t whysz)
{
    char glob[4 * 64 + 16], key[48];
    int64_t first, last;
    struct recs rs = {0};
    log_days(cfg, &first, &last);
    patient_glob(patient, glob, sizeof(glob));
    int rc = 0;
    for (int64_t d = first; rc == 0 && d <= last; d++) {
        snprintf(key, sizeof(key), "%s%lld", FLEX_KEY_LOG, (long long)d);
        rc = scan_all(st, "ZSCAN", key, glob, take_members, &rs);
    }
    if (rc == 0)
        rc = scan_all(st, "SCAN", NULL, FLEX_KEY_CONV "*", take_lists, &rs);
    long n =
        rc == 0 ? print_recs(st, cfg, &rs, patient, out, why, whysz) : redis_failed(st, why, whysz);
    recs_free(&rs);
    return n;
}

long flex_history_print(struct flex_store *st, const struct flex_cfg *cfg, const char *who,
                        FILE *out, char *why, size_t whysz)
{
    char n[FLEX_E164_BUFSZ];
    if (strlen(who) > 64) {
        snprintf(why, whysz, "a patient id or number is at most 64 characters");
        return -1;
    }
    if (flex_e164_normalize(who, strlen(who), n, NULL) > 0)
        return print_phone(st, cfg, n, out, why, whysz);
    return print_patient(st, cfg, who, out, why, whysz);
}

/* ---- import ------------------------------------------------------------ */

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

/* The record's ZADD and its day's PEXPIREAT (two replies). */
static void import_append(struct flex_store *st, const struct flex_cfg *cfg,
                          const struct import_rec *r)
{
    size_t cap = strlen(r->text) + 512;
    char *rec = flex_malloc(cap);
    long h = flex_conv_record(rec, cap, r->at_ms, r->out ? 'o' : 'i', r->location, r->patient, "",
                              "-", r->what, r->status, r->text);
    char key[48], score[24];
    flex_conv_key(r->at_ms, key, sizeof(key));
    /* (a normalized number has one) */
    if (r->out)
        (void)flex_conv_score(r->phone, score, sizeof(score));
    else
        (void)flex_conv_score_in(r->phone, score, sizeof(score));
    flex_store_appendf(st, "ZADD %s %s %b", key, score, rec, h > 0 ? (size_t)h : 0);
    flex_store_appendf(st, "PEXPIREAT %s %lld", key, (long long)flex_conv_expire_at(cfg, r->at_ms));
    flex_free(rec);
}

/* Reads the replies of |pending| records; counts what was new (ZADD: 1;
 * the same record imported before: 0). */
static int import_settle(struct flex_store *st, int pending, long *imported)
{
    int rc = 0;
    for (int i = 0; i < 2 * pending; i++) {
        struct redisReply *r;
        if (flex_store_reply(st, &r) != 0)
            return -1;
        if (flex_reply_is_error(r))
            rc = -1;
        else if (i % 2 == 0)
            *imported += flex_reply_integer(r) == 1;
        flex_store_free_reply(r);
    }
    return rc;
}

int flex_history_import(struct flex_store *st, const struct flex_cfg *cfg, FILE *in, FILE *errs,
                        long *imported, long *rejected)
{
    *imported = *rejected = 0;
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
        const char *why = o ? import_check(cfg, o, &r) : NULL;
        if (!o) {
            fprintf(errs, "%ld: not JSON: %.100s\n", lineno, jerr.text);
            (*rejected)++;
        } else if (why) {
            fprintf(errs, "%ld: %s\n", lineno, why);
            (*rejected)++;
        } else {
            import_append(st, cfg, &r);
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

/* ---- forget ------------------------------------------------------------ */

/* Scheduled jobs of |phone| or |patient|: each page of flex:sched:jobs
 * (scan_all) decoded; matches leave the hash and the sorted set. */
struct forget_scan {
    const char *phone, *patient;
    long n;
    bool failed;
};

static void take_sched(void *arg, struct flex_store *st, struct redisReply *kv)
{
    struct forget_scan *f = arg;
    int sent = 0;
    for (size_t i = 0; i + 1 < flex_reply_count(kv); i += 2) {
        size_t il, jl;
        const char *id = flex_reply_str(flex_reply_at(kv, i), &il);
        const char *pb = flex_reply_str(flex_reply_at(kv, i + 1), &jl);
        Flex__V1__Job *j = pb ? flex__v1__job__unpack(NULL, jl, (const uint8_t *)pb) : NULL;
        bool hit = j && ((f->phone && j->phone && strcmp(j->phone, f->phone) == 0) ||
                         (f->patient && j->patient && strcmp(j->patient, f->patient) == 0));
        if (j)
            flex__v1__job__free_unpacked(j, NULL);
        if (!hit || !id)
            continue;
        flex_store_appendf(st, "HDEL %s %b", FLEX_KEY_SCHED_JOBS, id, il);
        flex_store_appendf(st, "ZREM %s %b", FLEX_KEY_SCHED, id, il);
        sent += 2;
        f->n++;
    }
    if (sent && flex_store_drain(st, sent) < 0) /* before the next page's reply */
        f->failed = true;
}

static long forget_sched(struct flex_store *st, const char *phone, const char *patient)
{
    struct forget_scan f = {phone, patient, 0, false};
    if (scan_all(st, "HSCAN", FLEX_KEY_SCHED_JOBS, "*", take_sched, &f) != 0 || f.failed)
        return -1;
    return f.n;
}

/* Whether the Job of |n| bytes at |b| is |phone|'s (its number compared
 * once normalized: a producer may have written any form) or |patient|'s:
 * 1 or 0, or -1 when the bytes are no Job. */
static int job_of(const uint8_t *b, size_t n, const char *phone, const char *patient)
{
    Flex__V1__Job *j = flex__v1__job__unpack(NULL, n, b);
    if (!j)
        return -1;
    bool hit = false;
    char num[FLEX_E164_BUFSZ];
    if (phone && j->phone && flex_e164_normalize(j->phone, strlen(j->phone), num, NULL) > 0)
        hit = strcmp(num, phone) == 0;
    if (patient && j->patient)
        hit = strcmp(j->patient, patient) == 0;
    flex__v1__job__free_unpacked(j, NULL);
    return hit;
}

/* Whether the dead letter |v| (a DeadLetter) holds |phone| or |patient|:
 * its raw job decoded, the number compared once normalized (a producer
 * may have written any form); a raw job that does not decode (the reason
 * it is a dead letter, or cut at DEADLETTER_RAW_MAX) is searched for the
 * number's digits, so that a deletion leaves none of it behind. */
static bool dead_letter_of(const char *v, size_t vl, const char *phone, const char *patient)
{
    Flex__V1__DeadLetter *dl = flex__v1__dead_letter__unpack(NULL, vl, (const uint8_t *)v);
    if (!dl)
        return false;
    int hit = job_of(dl->raw.data, dl->raw.len, phone, patient);
    if (hit < 0) /* "+12025550143", and its digits without the "+" */
        hit = phone && memmem(dl->raw.data, dl->raw.len, phone + 1, strlen(phone + 1)) != NULL;
    flex__v1__dead_letter__free_unpacked(dl, NULL);
    return hit == 1;
}

static void take_keys(void *arg, struct flex_store *st, struct redisReply *page)
{
    (void)st;
    recs_take(arg, page, 0, 1);
}

/* Every key matching |glob| into |rs| (SCAN). */
static int scan_keys(struct flex_store *st, const char *glob, struct recs *rs)
{
    return scan_all(st, "SCAN", NULL, glob, take_keys, rs);
}

/* Entries of the stream |key| about |phone| or |patient|: its field
 * "phone"/"patient" (the staff streams), the Job in "job" (the queues),
 * the DeadLetter in "dl", or the InboundMessage in "msg" (flex:inbound,
 * whose sender is the phone).  XDEL'd page by page. */
static long forget_stream(struct flex_store *st, const char *key, const char *phone,
                          const char *patient)
{
    char start[48] = "-";
    long n = 0;
    for (;;) {
        flex_store_appendf(st, "XRANGE %s %s + COUNT 1000", key, start);
        struct redisReply *r;
        if (flex_store_reply(st, &r) != 0 || flex_reply_is_error(r)) {
            flex_store_free_reply(r);
            return -1;
        }
        size_t cnt = flex_reply_count(r);
        int sent = 0;
        for (size_t i = 0; i < cnt; i++) {
            struct redisReply *e = flex_reply_at(r, i);
            size_t idl;
            const char *id = flex_reply_str(flex_reply_at(e, 0), &idl);
            struct redisReply *f = flex_reply_at(e, 1);
            bool hit = false;
            for (size_t k = 0; k + 1 < flex_reply_count(f) && !hit; k += 2) {
                size_t nl, vl;
                const char *name = flex_reply_str(flex_reply_at(f, k), &nl);
                const char *v = flex_reply_str(flex_reply_at(f, k + 1), &vl);
                if (!name || !v)
                    continue;
                if (phone && nl == 5 && memcmp(name, "phone", 5) == 0)
                    hit = strlen(phone) == vl && memcmp(v, phone, vl) == 0;
                else if (patient && nl == 7 && memcmp(name, "patient", 7) == 0)
                    hit = strlen(patient) == vl && memcmp(v, patient, vl) == 0;
                else if (nl == 2 && memcmp(name, "dl", 2) == 0)
                    hit = dead_letter_of(v, vl, phone, patient);
                else if (nl == 3 && memcmp(name, "job", 3) == 0) /* a queued job */
                    hit = job_of((const uint8_t *)v, vl, phone, patient) == 1;
                else if (nl == 3 && memcmp(name, "msg", 3) == 0) {
                    Flex__V1__InboundMessage *m =
                        flex__v1__inbound_message__unpack(NULL, vl, (const uint8_t *)v);
                    hit = m && phone && m->from && strcmp(m->from, phone) == 0;
                    if (m)
                        flex__v1__inbound_message__free_unpacked(m, NULL);
                }
            }
            if (hit && id) {
                flex_store_appendf(st, "XDEL %s %b", key, id, idl);
                sent++;
                n++;
            }
            if (i + 1 == cnt && id) /* the next page starts after it */
                snprintf(start, sizeof(start), "(%.*s", (int)idl, id);
        }
        flex_store_free_reply(r);
        if (sent && flex_store_drain(st, sent) < 0)
            return -1;
        if (cnt < 1000)
            return n;
    }
}

/* The message-log records of |phone| (every record of the number) or
 * |patient| (its records only): per day key, ZREMRANGEBYSCORE or ZSCAN
 * then ZREM; the older versions' list of the number goes whole. */
static long forget_log(struct flex_store *st, const struct flex_cfg *cfg, const char *phone,
                       const char *patient)
{
    int64_t first, last, now = (int64_t)time(NULL) * 1000;
    last = now / DAY_MS;
    first = (now - flex_conv_keep_ms(cfg)) / DAY_MS - 1;
    long n = 0;
    char lo[24], hi[24], key[48];
    for (int64_t d = first; d <= last; d++) {
        snprintf(key, sizeof(key), "%s%lld", FLEX_KEY_LOG, (long long)d);
        if (phone && flex_conv_score_range(phone, lo, hi, sizeof(lo)) == 0) {
            flex_store_appendf(st, "ZREMRANGEBYSCORE %s %s %s", key, lo, hi);
            struct redisReply *r;
            if (flex_store_reply(st, &r) != 0)
                return -1;
            n += flex_reply_integer(r);
            flex_store_free_reply(r);
        } else if (patient) {
            struct recs rs = {0};
            char glob[4 * 64 + 16];
            patient_glob(patient, glob, sizeof(glob));
            if (scan_all(st, "ZSCAN", key, glob, take_members, &rs) != 0) {
                recs_free(&rs);
                return -1;
            }
            for (size_t i = 0; i < rs.n; i++)
                flex_store_appendf(st, "ZREM %s %b", key, rs.v[i].s, rs.v[i].len);
            long got = flex_store_drain(st, (int)rs.n);
            recs_free(&rs);
            if (got < 0)
                return -1;
            n += (long)rs.n;
        }
    }
    if (phone) {
        flex_store_appendf(st, "DEL %s%s", FLEX_KEY_CONV, phone);
        struct redisReply *r;
        if (flex_store_reply(st, &r) != 0)
            return -1;
        flex_store_free_reply(r);
    }
    return n;
}

int flex_history_forget(struct flex_store *st, const struct flex_cfg *cfg, const char *who,
                        struct flex_forget *out, char *why, size_t whysz)
{
    char num[FLEX_E164_BUFSZ];
    memset(out, 0, sizeof(*out));
    if (strlen(who) == 0 || strlen(who) > 64) {
        snprintf(why, whysz, "a patient id or number is 1 to 64 characters");
        return -1;
    }
    bool by_phone = flex_e164_normalize(who, strlen(who), num, NULL) > 0;
    const char *phone = by_phone ? num : NULL, *patient = by_phone ? NULL : who;
    static const char *const staff[] = {FLEX_KEY_CONFIRMATIONS, FLEX_KEY_ESCALATIONS,
                                        FLEX_KEY_FRONTDESK};
    out->log = forget_log(st, cfg, phone, patient);
    out->scheduled = out->log < 0 ? -1 : forget_sched(st, phone, patient);
    out->inbound = out->scheduled < 0 ? -1 : forget_stream(st, FLEX_KEY_INBOUND, phone, patient);
    for (size_t i = 0; i < sizeof(staff) / sizeof(staff[0]) && out->staff >= 0; i++) {
        long k = forget_stream(st, staff[i], phone, patient);
        out->staff = k < 0 ? -1 : out->staff + k;
    }
    for (size_t i = 0; i < cfg->nlocations && out->staff >= 0; i++) {
        char key[160];
        snprintf(key, sizeof(key), "%s:%s", FLEX_KEY_FRONTDESK, cfg->locations[i].id);
        long k = forget_stream(st, key, phone, patient);
        out->staff = k < 0 ? -1 : out->staff + k;
    }
    if (out->staff >= 0)
        out->dead = forget_stream(st, FLEX_KEY_DEADLETTER, phone, patient);
    /* Jobs still queued (one job an entry; a JobBatch entry holds other
     * patients' jobs too and stays), and the automatic replies.  A job a
     * flexd has read already (waiting on a rate limit, held by a pause) is
     * in its memory, not here: it may still go. */
    if (out->dead >= 0) {
        long a = forget_stream(st, FLEX_KEY_JOBS, phone, patient);
        long b = a < 0 ? -1 : forget_stream(st, FLEX_KEY_URGENT, phone, patient);
        out->queued = b < 0 ? -1 : a + b;
    }
    if (out->queued >= 0 &&
        phone) { /* the daily count of automatic replies: its key names the number */
        struct recs rs = {0};
        char glob[64];
        snprintf(glob, sizeof(glob), "flex:auto:%s:*", phone);
        if (scan_keys(st, glob, &rs) != 0)
            out->queued = -1;
        for (size_t i = 0; i < rs.n; i++)
            flex_store_appendf(st, "DEL %b", rs.v[i].s, rs.v[i].len);
        if (rs.n && flex_store_drain(st, (int)rs.n) < 0)
            out->queued = -1;
        recs_free(&rs);
    }
    if (out->log < 0 || out->scheduled < 0 || out->inbound < 0 || out->staff < 0 || out->dead < 0 ||
        out->queued < 0) {
        snprintf(why, whysz, "redis: %s", flex_store_error(st));
        return -1;
    }
    if (phone) {
        flex_store_appendf(st, "SISMEMBER %s %s", FLEX_KEY_OPTOUT, phone);
        struct redisReply *r;
        if (flex_store_reply(st, &r) == 0) {
            out->opted_out = flex_reply_integer(r) == 1;
            flex_store_free_reply(r);
        }
    }
    return 0;
}
