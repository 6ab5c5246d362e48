#include "jobstatus.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "flex.pb-c.h"
#include "idem.h"
#include "job.h"
#include "store.h"

#define WHY(...) (snprintf(why, whysz, __VA_ARGS__), -1)

/* Whether |key| holds a number: times ("..._at", "..._ms") and the part
 * count.  Everything else stays a string, digits or not: a carrier's
 * message id may be all digits ("8404198000000001") and is an id. */
static bool numeric_key(const char *key)
{
    size_t n = strlen(key);
    return strcmp(key, "parts") == 0 || (n > 3 && strcmp(key + n - 3, "_at") == 0) ||
           (n > 3 && strcmp(key + n - 3, "_ms") == 0);
}

static void set_field(json_t *o, const char *k, size_t klen, const char *v, size_t vlen)
{
    char key[64], val[256];
    snprintf(key, sizeof(key), "%.*s", (int)klen, k);
    snprintf(val, sizeof(val), "%.*s", (int)vlen, v);
    bool num = numeric_key(key) && vlen && vlen < 19 && strspn(val, "0123456789") == vlen;
    json_object_set_new(o, key, num ? json_integer(atoll(val)) : json_string(val));
}

/* The one-letter keys of history records (engine/run/writer.c), spelled out;
 * "t" is the time of the record's state ("delivered_at"...). */
static const char *const record_keys[][2] = {
    {"s", "state"},    {"c", "carrier"},     {"m", "msgid"},       {"p", "parts"},
    {"l", "location"}, {"e", "enqueued_at"}, {"a", "accepted_at"}, {"r", "receipt"},
};

/* A history record of flex:hist:{hour}: "k=v k=v ... [reason=the rest]";
 * records of older versions spell their keys out. */
static void apply_record(json_t *o, const char *rec, size_t len)
{
    const char *p = rec, *end = rec + len;
    char state[24] = "";
    while (p < end) {
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq)
            return;
        bool rest = eq - p == 6 && memcmp(p, "reason", 6) == 0;
        const char *ve = rest ? end : memchr(eq + 1, ' ', (size_t)(end - eq - 1));
        if (!ve)
            ve = end;
        const char *k = p;
        size_t kl = (size_t)(eq - p), vl = (size_t)(ve - eq - 1);
        char tkey[40];
        for (size_t i = 0; kl == 1 && i < sizeof(record_keys) / sizeof(record_keys[0]); i++)
            if (*k == record_keys[i][0][0]) {
                k = record_keys[i][1];
                kl = strlen(k);
                break;
            }
        if (kl == 1 && *k == 't') { /* the state's time */
            kl = (size_t)snprintf(tkey, sizeof(tkey), "%s_at", state[0] ? state : "state");
            k = tkey;
        }
        if (kl == 5 && memcmp(k, "state", 5) == 0)
            snprintf(state, sizeof(state), "%.*s", (int)vl, eq + 1);
        set_field(o, k, kl, eq + 1, vl);
        p = ve + 1;
    }
}

/* Every "..._at" of milliseconds becomes RFC 3339 (UTC, ms), with the
 * number kept as "..._at_ms"; a 0 (no such time) is left out. */
static json_t *with_times(json_t *o)
{
    json_t *n = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        size_t kl = strlen(k);
        if (kl < 3 || strcmp(k + kl - 3, "_at") != 0 || !json_is_integer(v)) {
            json_object_set(n, k, v);
            continue;
        }
        long long ms = json_integer_value(v);
        if (ms <= 0)
            continue;
        char t[FLEX_RFC3339_SZ], mk[72];
        flex_rfc3339_ms(ms, t);
        snprintf(mk, sizeof(mk), "%s_ms", k);
        json_object_set_new(n, k, json_string(t));
        json_object_set_new(n, mk, json_integer(ms));
    }
    json_decref(o);
    return n;
}

/* The id and location of job |k| of a stream entry's fields: its "job"
 * (k = 0), or the k-th of its "jobs" (a JobBatch).  |*njobs| gets the
 * entry's number of jobs (0 when it holds none readable). */
static bool entry_job(const struct redisReply *fields, size_t k, size_t *njobs, char *id,
                      size_t idsz, char *loc, size_t locsz)
{
    const char *pb = NULL, *batch = NULL;
    size_t pbl = 0, bl = 0;
    id[0] = loc[0] = '\0';
    *njobs = 0;
    for (size_t f = 0; f + 1 < flex_reply_count(fields); f += 2) {
        size_t fl, vl;
        const char *name = flex_reply_str(flex_reply_at(fields, f), &fl);
        const char *v = flex_reply_str(flex_reply_at(fields, f + 1), &vl);
        if (name && v && fl == 3 && memcmp(name, "job", 3) == 0)
            pb = v, pbl = vl;
        else if (name && v && fl == 4 && memcmp(name, "jobs", 4) == 0)
            batch = v, bl = vl;
    }
    if (pb) {
        *njobs = 1;
    } else if (batch) {
        struct flex_job_slice sl[FLEX_JOBBATCH_MAX];
        long n = flex_jobbatch_split((const uint8_t *)batch, bl, sl, FLEX_JOBBATCH_MAX);
        if (n > FLEX_JOBBATCH_MAX)
            n = FLEX_JOBBATCH_MAX; /* refused by flexd job by job: not in flight */
        *njobs = n > 0 ? (size_t)n : 0;
        if (k < *njobs)
            pb = (const char *)sl[k].p, pbl = sl[k].len;
    }
    if (k > 0 && !batch)
        return false;
    Flex__V1__Job *j = pb ? flex__v1__job__unpack(NULL, pbl, (const uint8_t *)pb) : NULL;
    if (!j)
        return false;
    snprintf(id, idsz, "%s", j->id ? j->id : "");
    snprintf(loc, locsz, "%s", j->location ? j->location : "");
    flex__v1__job__free_unpacked(j, NULL);
    return true;
}

/* A job read by a flexd (its idempotency record names its entry) with no outcome yet:
 * held for a paused location, or in flight (pending in the group). */
static int read_not_settled(struct flex_store *st, const struct flex_cfg *cfg, const char *entry,
                            json_t *o, char *why, size_t whysz)
{
    bool urgent = flex_entry_urgent(entry);
    char eid[48]; /* a JobBatch job's record names "{entry}#{k}" */
    const char *id = flex_entry_id(entry), *sep = flex_entry_batch(id);
    size_t k = sep ? strtoul(sep + 1, NULL, 10) : 0;
    snprintf(eid, sizeof(eid), "%.*s", (int)(sep ? (size_t)(sep - id) : strlen(id)), id);
    const char *stream = urgent ? FLEX_KEY_URGENT : FLEX_KEY_JOBS;
    flex_store_appendf(st, "XRANGE %s %s %s", stream, eid, eid);
    flex_store_appendf(st, "XPENDING %s %s %s %s 1", FLEX_KEY_JOBS, FLEX_KEY_GROUP, eid, eid);
    struct redisReply *range = NULL, *pend = NULL;
    if (flex_store_reply(st, &range) != 0 || flex_store_reply(st, &pend) != 0) {
        flex_store_free_reply(range);
        return WHY("redis: %s", flex_store_error(st));
    }
    char jid[128], loc[80];
    size_t njobs;
    bool have = entry_job(flex_reply_at(flex_reply_at(range, 0), 1), k, &njobs, jid, sizeof(jid),
                          loc, sizeof(loc));
    json_object_set_new(o, "entry", json_string(eid));
    json_object_set_new(o, "read_at", json_integer(atoll(eid)));
    if (have && loc[0])
        json_object_set_new(o, "location", json_string(loc));
    struct redisReply *p = flex_reply_at(pend, 0);
    int rc = 0;
    if (flex_reply_count(p) >= 3) {
        const struct flex_cfg_location *l = have ? flex_cfg_location_find(cfg, loc) : NULL;
        flex_store_appendf(st, "SMISMEMBER %s %s *", FLEX_KEY_PAUSED, have ? loc : "-");
        struct redisReply *m = NULL;
        if (flex_store_reply(st, &m) != 0) {
            rc = WHY("redis: %s", flex_store_error(st));
        } else {
            bool paused = flex_reply_integer(flex_reply_at(m, 0)) ||
                          flex_reply_integer(flex_reply_at(m, 1)) || (l && l->paused);
            json_object_set_new(o, "state", json_string(paused ? "held" : "in_flight"));
            if (paused)
                json_object_set_new(o, "reason", json_string("location paused"));
            const char *cons = flex_reply_str(flex_reply_at(p, 1), NULL);
            json_object_set_new(o, "consumer", json_string(cons ? cons : ""));
            json_object_set_new(o, "idle_ms",
                                json_integer(flex_reply_integer(flex_reply_at(p, 2))));
        }
        flex_store_free_reply(m);
    } else if (urgent) {
        json_object_set_new(o, "state", json_string("in_flight"));
    } else { /* acknowledged, and its records gone: older than the history kept */
        json_object_set_new(o, "state", json_string("settled"));
        json_object_set_new(o, "reason",
                            json_string("its history has expired ([retention] job_history_days)"));
    }
    flex_store_free_reply(range);
    flex_store_free_reply(pend);
    return rc;
}

/* A job no flexd has read: looked for in flex:jobs, oldest first, up to
 * FLEX_STATUS_SCAN_MAX entries.  0 found, 1 not, -1 Redis failed. */
static int queued(struct flex_store *st, const char *id, json_t *o, char *why, size_t whysz)
{
    char cursor[48] = "-";
    for (long seen = 0; seen < FLEX_STATUS_SCAN_MAX;) {
        flex_store_appendf(st, "XRANGE %s %s + COUNT 1000", FLEX_KEY_JOBS, cursor);
        struct redisReply *r;
        if (flex_store_reply(st, &r) != 0)
            return WHY("redis: %s", flex_store_error(st));
        size_t n = flex_reply_count(r);
        for (size_t i = 0; i < n; i++) {
            struct redisReply *e = flex_reply_at(r, i);
            char jid[128], loc[80];
            size_t njobs = 1, k = 0;
            bool hit = false;
            for (; k < njobs && !hit; k++) /* each job of a JobBatch entry */
                hit =
                    entry_job(flex_reply_at(e, 1), k, &njobs, jid, sizeof(jid), loc, sizeof(loc)) &&
                    strcmp(jid, id) == 0;
            if (!hit)
                continue;
            const char *eid = flex_reply_str(flex_reply_at(e, 0), NULL);
            json_object_set_new(o, "state", json_string("queued"));
            json_object_set_new(o, "entry", json_string(eid ? eid : ""));
            json_object_set_new(o, "enqueued_at", json_integer(eid ? atoll(eid) : 0));
            if (loc[0])
                json_object_set_new(o, "location", json_string(loc));
            flex_store_free_reply(r);
            return 0;
        }
        const char *last =
            n ? flex_reply_str(flex_reply_at(flex_reply_at(r, n - 1), 0), NULL) : NULL;
        if (last)
            snprintf(cursor, sizeof(cursor), "(%s", last);
        flex_store_free_reply(r);
        if (n < 1000)
            return 1;
        seen += (long)n;
    }
    return 1;
}

int flex_job_status(struct flex_store *st, const struct flex_cfg *cfg, const char *id, FILE *out,
                    char *why, size_t whysz)
{
    char seen[64];
    int found = flex_idem_lookup(st, id, seen, sizeof(seen));
    if (found < 0)
        return WHY("redis: %s", flex_store_error(st));
    flex_store_appendf(st, "HGETALL %s%s", FLEX_KEY_JOB, id);
    struct redisReply *h = NULL;
    if (flex_store_reply(st, &h) != 0)
        return WHY("redis: %s", flex_store_error(st));
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(id));
    for (size_t k = 0; k + 1 < flex_reply_count(h); k += 2) {
        size_t kl, vl;
        const char *key = flex_reply_str(flex_reply_at(h, k), &kl);
        const char *val = flex_reply_str(flex_reply_at(h, k + 1), &vl);
        set_field(o, key, kl, val, vl);
    }
    /* its record in the hourly buckets, from the hour it was read (the
     * entry in its idempotency record is that time) to now; a receipt rewrote
     * it (older versions wrote the receipt as a second field, "{id}|r") */
    const char *entry = found ? seen : NULL;
    const char *eid = entry ? flex_entry_id(entry) : NULL;
    long long from = eid ? atoll(eid) / 3600000 : 0, now = (long long)time(NULL) / 3600;
    if (from && now - from > 24 * 31)
        from = now - 24 * 31;
    for (long long hr = from; from && hr <= now; hr++)
        flex_store_appendf(st, "HMGET flex:hist:%lld %s %s|r", hr, id, id);
    int rc = 0;
    for (long long hr = from; from && hr <= now; hr++) {
        struct redisReply *r;
        if (flex_store_reply(st, &r) != 0) {
            rc = WHY("redis: %s", flex_store_error(st));
            break;
        }
        for (size_t k = 0; k < 2; k++) {
            size_t len;
            const char *rec = flex_reply_str(flex_reply_at(r, k), &len);
            if (rec)
                apply_record(o, rec, len);
        }
        flex_store_free_reply(r);
    }
    if (rc == 0 && !json_object_get(o, "state")) {
        if (entry)
            rc = read_not_settled(st, cfg, entry, o, why, whysz);
        else if ((rc = queued(st, id, o, why, whysz)) == 1)
            snprintf(why, whysz,
                     "no such job: %s (nothing read, decided or queued under that id%s)", id,
                     "; the queue is searched up to 200,000 entries");
    }
    if (rc == 0) {
        o = with_times(o);
        char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fprintf(out, "%s\n", text);
        free(text);
    }
    json_decref(o);
    flex_store_free_reply(h);
    return rc;
}
