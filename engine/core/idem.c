/* Idempotency records in bucket hashes (engine/core/idem.h). */
#include "idem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "store.h"

unsigned flex_idem_bucket(const char *id, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a 32: fixed, not keyed (see idem.h) */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)id[i]) * 16777619u;
    return h % FLEX_IDEM_BUCKETS;
}

size_t flex_idem_key(const char *id, size_t len, char key[FLEX_IDEM_KEY_MAX])
{
    int n = snprintf(key, FLEX_IDEM_KEY_MAX, "%s%u", FLEX_KEY_IDEM, flex_idem_bucket(id, len));
    return (size_t)n; /* bucket < 100,000: always fits */
}

_Static_assert(FLEX_IDEM_BUCKETS <= 100000, "bucket numbers have at most five digits");
_Static_assert(FLEX_IDEM_ID_MAX >= FLEX_JOB_DERIVED_ID_MAX,
               "a record for every job id, expanded reminders' too");

/* The entry's time is the number before its last '-' (an urgent job's
 * entry has a prefix "u:tag:", a JobBatch job's a suffix "#k").  HSCAN's cursor is kept as a
 * string: it may exceed a Lua number's exact range. */
#define STR2(x) #x
#define STR(x) STR2(x)
const char flex_idem_sweep_lua[] =
    "local st = redis.call('GET', KEYS[1]) or '0 0'\n"
    "local b, cur = string.match(st, '^(%d+) (%d+)$')\n"
    "b = tonumber(b) or 0; cur = cur or '0'\n"
    "if b >= " STR(
        FLEX_IDEM_BUCKETS) " then b = 0; cur = '0' end\n"
                           "local cut, want, nb = tonumber(ARGV[1]), tonumber(ARGV[2]), "
                           "tonumber(ARGV[3])\n"
                           "local seen, gone, moved = 0, 0, 0\n"
                           "while seen < want and moved < nb do\n"
                           "  local key = '" FLEX_KEY_IDEM "' .. b\n"
                           "  local r = redis.call('HSCAN', key, cur, 'COUNT', 200)\n"
                           "  local kv = r[2]\n"
                           "  for i = 1, #kv, 2 do\n"
                           "    local ms = tonumber(string.match(kv[i + 1], '(%d+)%-%d+#?%d*$'))\n"
                           "    if ms and ms < cut then redis.call('HDEL', key, kv[i]); gone = "
                           "gone + 1 end\n"
                           "  end\n"
                           "  seen = seen + #kv / 2\n"
                           "  cur = r[1]\n"
                           "  if cur == '0' then b = (b + 1) % " STR(
                               FLEX_IDEM_BUCKETS) "; moved = moved + 1 end\n"
                                                  "end\n"
                                                  "redis.call('SET', KEYS[1], b .. ' ' .. cur)\n"
                                                  "return {seen, gone}\n";

/* An older version's key of |id| (|il| bytes), "flex:seen:{id}", into
 * |seen|; returns its length.  No record is made for an id longer than
 * FLEX_IDEM_ID_MAX: such a one is cut (its key names none). */
#define SEEN_KEY_MAX (sizeof(FLEX_KEY_SEEN) + FLEX_IDEM_ID_MAX)
static size_t seen_key(const char *id, size_t il, char seen[SEEN_KEY_MAX])
{
    size_t sl = sizeof(FLEX_KEY_SEEN) - 1;
    size_t cl = il < FLEX_IDEM_ID_MAX ? il : FLEX_IDEM_ID_MAX;
    memcpy(seen, FLEX_KEY_SEEN, sl);
    memcpy(seen + sl, id, cl);
    seen[sl + cl] = '\0';
    return sl + cl;
}

void flex_idem_ask(struct flex_store *st, bool legacy, const char *id, const char *entry)
{
    char key[FLEX_IDEM_KEY_MAX];
    size_t il = strlen(id);
    size_t kl = flex_idem_key(id, il, key);
    if (legacy) {
        char seen[SEEN_KEY_MAX];
        const char *g[] = {"GET", seen};
        size_t gl[] = {3, seen_key(id, il, seen)};
        flex_store_append(st, 2, g, gl);
    }
    const char *argv[] = {"HSETNX", key, id, entry};
    size_t lens[] = {6, kl, il, strlen(entry)};
    flex_store_append(st, 4, argv, lens);
}

static bool same_entry(const struct redisReply *r, const char *entry)
{
    size_t len;
    const char *s = flex_reply_str(r, &len);
    return s && len == strlen(entry) && memcmp(s, entry, len) == 0;
}

int flex_idem_answer(struct flex_store *st, bool legacy, const char *entry,
                     enum flex_idem_verdict *v)
{
    struct redisReply *g = NULL, *h = NULL;
    if ((legacy && flex_store_reply(st, &g) != 0) || flex_store_reply(st, &h) != 0) {
        flex_store_free_reply(g);
        return -1;
    }
    int rc = flex_reply_is_error(g) || flex_reply_is_error(h) ? -1 : 0;
    if (rc == 0 && g && !flex_reply_is_nil(g)) /* an older version's record decides */
        *v = same_entry(g, entry) ? FLEX_IDEM_OWN : FLEX_IDEM_OTHER;
    else if (rc == 0)
        *v = flex_reply_integer(h) == 1 ? FLEX_IDEM_NEW : FLEX_IDEM_ASK;
    flex_store_free_reply(g);
    flex_store_free_reply(h);
    return rc;
}

void flex_idem_ask_prev(struct flex_store *st, const char *id)
{
    char key[FLEX_IDEM_KEY_MAX];
    size_t il = strlen(id);
    size_t kl = flex_idem_key(id, il, key);
    const char *argv[] = {"HGET", key, id};
    size_t lens[] = {4, kl, il};
    flex_store_append(st, 3, argv, lens);
}

int flex_idem_answer_prev(struct flex_store *st, const char *entry, enum flex_idem_verdict *v)
{
    struct redisReply *r;
    if (flex_store_reply(st, &r) != 0)
        return -1;
    int rc = flex_reply_is_error(r) || flex_reply_is_nil(r) ? -1 : 0;
    if (rc == 0)
        *v = same_entry(r, entry) ? FLEX_IDEM_OWN : FLEX_IDEM_OTHER;
    flex_store_free_reply(r);
    return rc;
}

void flex_idem_forget(struct flex_store *st, const char *id, const char *entry)
{
    static const char lua[] =
        "local a = redis.call('HGET', KEYS[1], ARGV[1])\n"
        "if a and (ARGV[2] == '' or a == ARGV[2]) then redis.call('HDEL', KEYS[1], ARGV[1]) end\n"
        "local b = redis.call('GET', KEYS[2])\n"
        "if b and (ARGV[2] == '' or b == ARGV[2]) then redis.call('DEL', KEYS[2]) end\n"
        "return 1\n";
    char key[FLEX_IDEM_KEY_MAX], seen[SEEN_KEY_MAX];
    size_t il = strlen(id);
    size_t kl = flex_idem_key(id, il, key);
    size_t sl = seen_key(id, il, seen);
    const char *e = entry ? entry : "";
    const char *argv[] = {"EVAL", lua, "2", key, seen, id, e};
    size_t lens[] = {4, sizeof(lua) - 1, 1, kl, sl, il, strlen(e)};
    flex_store_append(st, 7, argv, lens);
}

int flex_idem_lookup(struct flex_store *st, const char *id, char *entry, size_t entrysz)
{
    char key[FLEX_IDEM_KEY_MAX], seen[SEEN_KEY_MAX];
    size_t il = strlen(id);
    if (il > FLEX_IDEM_ID_MAX)
        return 0; /* no record is made for so long an id */
    flex_idem_key(id, il, key);
    seen_key(id, il, seen);
    flex_store_appendf(st, "HGET %s %s", key, id);
    flex_store_appendf(st, "GET %s", seen);
    struct redisReply *h = NULL, *g = NULL;
    if (flex_store_reply(st, &h) != 0 || flex_store_reply(st, &g) != 0) {
        flex_store_free_reply(h);
        return -1;
    }
    size_t len = 0;
    const char *s = flex_reply_is_error(h) ? NULL : flex_reply_str(h, &len);
    if (!s && !flex_reply_is_error(g))
        s = flex_reply_str(g, &len);
    int found = s != NULL && len < entrysz;
    if (found)
        snprintf(entry, entrysz, "%.*s", (int)len, s);
    flex_store_free_reply(h);
    flex_store_free_reply(g);
    return found;
}

/* GET first: a Redis refusing writes (maxmemory) must not stop a start
 * whose marker is set already. */
static int legacy_get(struct flex_store *st, int64_t *until_ms, bool *found)
{
    flex_store_appendf(st, "GET %s", FLEX_KEY_IDEM_LEGACY);
    struct redisReply *r;
    if (flex_store_reply(st, &r) != 0)
        return -1;
    const char *v = flex_reply_is_error(r) ? NULL : flex_reply_str(r, NULL);
    int rc = flex_reply_is_error(r) ? -1 : 0;
    *found = v != NULL;
    if (v)
        *until_ms = strtoll(v, NULL, 10);
    flex_store_free_reply(r);
    return rc;
}

_Static_assert(sizeof(FLEX_IDEM_SHAPE) - 1 > FLEX_IDEM_ID_MAX,
               "the shaping field is no job id's record");

int flex_idem_shape(struct flex_store *st)
{
    for (unsigned b = 0; b < FLEX_IDEM_BUCKETS; b++)
        flex_store_appendf(st, "HSETNX %s%u %s 0", FLEX_KEY_IDEM, b, FLEX_IDEM_SHAPE);
    /* an error (a bucket of another type) is the checks' to meet, not this */
    return flex_store_drain(st, FLEX_IDEM_BUCKETS) < 0 ? -1 : 0;
}

int flex_idem_legacy(struct flex_store *st, bool group_existed, uint32_t idempotency_days,
                     int64_t now_ms, int64_t *until_ms)
{
    bool found;
    if (legacy_get(st, until_ms, &found) != 0)
        return -1;
    if (found)
        return 0;
    long long until =
        group_existed ? (long long)now_ms + (long long)idempotency_days * 86400000LL : 0;
    flex_store_appendf(st, "SET %s %lld NX", FLEX_KEY_IDEM_LEGACY, until);
    if (flex_store_drain(st, 1) != 0 || legacy_get(st, until_ms, &found) != 0 || !found)
        return -1;
    return 0;
}

size_t flex_jobbatch_key(const char *entry, char key[FLEX_JOBBATCH_KEY_MAX])
{
    const char *sep = flex_entry_batch(entry);
    size_t el = sep ? (size_t)(sep - entry) : strlen(entry);
    int n = snprintf(key, FLEX_JOBBATCH_KEY_MAX, "%s%.*s", FLEX_KEY_JOBBATCH, (int)el, entry);
    return n > 0 && (size_t)n < FLEX_JOBBATCH_KEY_MAX ? (size_t)n : 0;
}

size_t flex_jobbatch_mark(struct flex_store *st, const char *const *entries, size_t n)
{
    size_t cmds = 0;
    for (size_t i = 0; i < n;) {
        const char *sep = flex_entry_batch(entries[i]);
        char key[FLEX_JOBBATCH_KEY_MAX];
        size_t kl = sep && !flex_entry_urgent(entries[i]) ? flex_jobbatch_key(entries[i], key) : 0;
        if (kl == 0) {
            i++;
            continue;
        }
        size_t el = (size_t)(sep - entries[i]);
        const char *first = entries[i];
        const char *argv[2 + 4 * FLEX_JOBBATCH_MAX];
        size_t lens[2 + 4 * FLEX_JOBBATCH_MAX];
        char offs[FLEX_JOBBATCH_MAX][8];
        int argc = 0, k = 0;
        argv[argc] = "BITFIELD", lens[argc++] = 8;
        argv[argc] = key, lens[argc++] = kl;
        /* the run of this entry's jobs (a batch's records mostly come together) */
        for (; i < n && k < FLEX_JOBBATCH_MAX; i++) {
            const char *s2 = flex_entry_batch(entries[i]);
            if (!s2 || (size_t)(s2 - entries[i]) != el || memcmp(entries[i], first, el) != 0)
                break;
            unsigned long job = strtoul(s2 + 1, NULL, 10);
            if (job >= FLEX_JOBBATCH_MAX)
                continue; /* no job of a batch has that number */
            int ol = snprintf(offs[k], sizeof(offs[k]), "#%lu", job);
            argv[argc] = "SET", lens[argc++] = 3;
            argv[argc] = "u1", lens[argc++] = 2;
            argv[argc] = offs[k], lens[argc++] = (size_t)ol;
            argv[argc] = "1", lens[argc++] = 1;
            k++;
        }
        if (k == 0)
            continue;
        flex_store_append(st, argc, argv, lens);
        flex_store_appendf(st, "EXPIRE %s %d", key, FLEX_JOBBATCH_TTL_S);
        cmds += 2;
    }
    return cmds;
}
