#include "schedq.h"

#include <stdio.h>
#include <string.h>

#include "job.h"
#include "mem.h"
#include "store.h"

/* KEYS: sched, sched:jobs.  ARGV: score, id, payload. */
static const char add_lua[] = "redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])\n"
                              "redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])\n"
                              "return 1\n";

/* KEYS: sched, sched:jobs, parent.  ARGV: version, keep-until (ms), the
 * stream entry the version came in ('' none), the status records' TTL (s),
 * their count, then 6 for each (key, state, reason, at, location, send_at),
 * then score, id, payload for each member.
 *
 * A version older than the one applied (its entry before the recorded
 * one: a dead flexd's entry claimed after the newer was applied, or two
 * flexd reading two versions at once) changes nothing, its status records
 * included, and answers -1: the newest version the stream holds wins,
 * whatever order they are applied in.  Entries compare as (ms, seq, the
 * job's place in a JobBatch entry). */
static const char replace_lua[] =
    "local function ord(e)\n"
    "  local a, b, k = string.match(e, '^(%d+)%-(%d+)#?(%d*)$')\n"
    "  if not a then return nil end\n"
    "  return {tonumber(a), tonumber(b), k ~= '' and tonumber(k) or -1}\n"
    "end\n"
    "local new = ord(ARGV[3])\n"
    "if new then\n"
    "  local had = redis.call('HGET', KEYS[3], 'o')\n"
    "  local o = had and ord(had)\n"
    "  if o then\n"
    "    for i = 1, 3 do\n"
    "      if new[i] ~= o[i] then\n"
    "        if new[i] < o[i] then return -1 end\n"
    "        break\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local oldv = redis.call('HGET', KEYS[3], 'v')\n"
    /* Reminders already read by a flexd and waiting there must not go:
     * every flexd follows this stream (engine/core/live.h). */
    "if oldv and oldv ~= ARGV[1] then\n"
    "  redis.call('XADD', 'flex:changes', 'MAXLEN', '~', '100000', '*', 'k', KEYS[3], 'v', "
    "ARGV[1])\n"
    /* a confirmation was of the old time: the new one's reminders go */
    "  redis.call('HDEL', KEYS[3], 'c')\n"
    "end\n"
    "local old = redis.call('HGET', KEYS[3], 'm')\n"
    "if old then\n"
    "  for m in string.gmatch(old, '[^,]+') do\n"
    "    redis.call('ZREM', KEYS[1], m)\n"
    "    redis.call('HDEL', KEYS[2], m)\n"
    "  end\n"
    "end\n"
    "local ns = tonumber(ARGV[5])\n"
    "local ms = {}\n"
    "for i = 6 + 6 * ns, #ARGV, 3 do\n"
    "  redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])\n"
    "  redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i + 2])\n"
    "  ms[#ms + 1] = ARGV[i + 1]\n"
    "end\n"
    "redis.call('HSET', KEYS[3], 'v', ARGV[1], 'm', table.concat(ms, ','))\n"
    "if new then redis.call('HSET', KEYS[3], 'o', ARGV[3]) end\n"
    "redis.call('PEXPIREAT', KEYS[3], ARGV[2])\n"
    "for i = 6, 5 + 6 * ns, 6 do\n"
    "  redis.call('HSET', ARGV[i], 'state', ARGV[i + 1], 'reason', ARGV[i + 2],\n"
    "             ARGV[i + 1] .. '_at', ARGV[i + 3], 'location', ARGV[i + 4], 'send_at', ARGV[i + "
    "5])\n"
    "  redis.call('EXPIRE', ARGV[i], ARGV[4])\n"
    "end\n"
    "return #ms\n";

/* KEYS: sched, sched:jobs, jobs stream.  ARGV: now (ms), limit. */
static const char promote_lua[] =
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])\n"
    "for _, m in ipairs(due) do\n"
    "  local j = redis.call('HGET', KEYS[2], m)\n"
    "  if j then redis.call('XADD', KEYS[3], '*', 'job', j, 'id', m) end\n"
    "  redis.call('ZREM', KEYS[1], m)\n"
    "  redis.call('HDEL', KEYS[2], m)\n"
    "end\n"
    "return #due\n";

/* KEYS: parent (or the empty string), day set, week set.  ARGV: version,
 * cap per day, cap per week, job id, day ttl, week ttl (s). */
static const char gate_lua[] =
    "if KEYS[1] ~= '' then\n"
    "  local vc = redis.call('HMGET', KEYS[1], 'v', 'c')\n"
    "  local v = vc[1]\n"
    /* A missing record (expired, or Redis lost it) cannot say the visit
     * was cancelled: the reminder goes. */
    "  if v and v ~= ARGV[1] then\n"
    "    if v == '0' then return {ok = 'cancelled'} end\n"
    "    return {ok = 'rescheduled'}\n"
    "  end\n"
    /* The patient confirmed: the "please confirm" reminders stop
     * (field c: the dropped tags, engine/core/reply.c). */
    "  local tag = vc[2] and string.match(ARGV[4], '/([^/]+)/[^/]+$')\n"
    "  if tag and string.find(vc[2], ',' .. tag .. ',', 1, true) then\n"
    "    return {ok = 'confirmed'}\n"
    "  end\n"
    "end\n"
    "if redis.call('SISMEMBER', KEYS[2], ARGV[4]) == 1 then return {ok = 'ok'} end\n"
    "local cd, cw = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "if (cd > 0 and redis.call('SCARD', KEYS[2]) >= cd) or\n"
    "   (cw > 0 and redis.call('SCARD', KEYS[3]) >= cw) then\n"
    "  return {ok = 'capped'}\n"
    "end\n"
    "redis.call('SADD', KEYS[2], ARGV[4])\n"
    "redis.call('EXPIRE', KEYS[2], ARGV[5])\n"
    "redis.call('SADD', KEYS[3], ARGV[4])\n"
    "redis.call('EXPIRE', KEYS[3], ARGV[6])\n"
    "return {ok = 'ok'}\n";

int flex_schedq_load(struct flex_store *st, struct flex_schedq *q)
{
    const char *src[] = {add_lua, replace_lua, promote_lua, gate_lua};
    char *dst[] = {q->add, q->replace, q->promote, q->gate};
    for (int i = 0; i < 4; i++)
        if (flex_store_script_load(st, src[i], dst[i]) != 0)
            return -1;
    return 0;
}

void flex_schedq_append_add(struct flex_store *st, const struct flex_schedq *q, const char *id,
                            int64_t at_ms, const void *payload, size_t len)
{
    char score[24];
    snprintf(score, sizeof(score), "%lld", (long long)at_ms);
    const char *argv[] = {"EVALSHA",           q->add, "2", FLEX_KEY_SCHED,
                          FLEX_KEY_SCHED_JOBS, score,  id,  payload};
    size_t lens[] = {
        7,          40, 1, strlen(FLEX_KEY_SCHED), strlen(FLEX_KEY_SCHED_JOBS), strlen(score),
        strlen(id), len};
    flex_store_append(st, 8, argv, lens);
}

_Static_assert(FLEX_SCHEDQ_KEY_SZ > sizeof(FLEX_KEY_JOB) + FLEX_JOB_DERIVED_ID_MAX,
               "a status record's key never cut");

void flex_schedq_append_replace(struct flex_store *st, const struct flex_schedq *q,
                                const struct flex_schedq_replace *r,
                                const struct flex_schedq_status *sts, size_t ns,
                                const struct flex_schedq_member *members, size_t n)
{
    size_t argc = 11 + 6 * ns + 3 * n;
    const char **argv = flex_malloc(argc * sizeof(*argv));
    size_t *lens = flex_malloc(argc * sizeof(*lens));
    /* the numbers: 4 of the head, 3 a status record, 1 a member */
    char(*nums)[24] = flex_malloc((4 + 3 * ns + n) * sizeof(*nums));
    char(*keys)[FLEX_SCHEDQ_KEY_SZ] = flex_malloc((ns ? ns : 1) * sizeof(*keys));
    snprintf(nums[0], 24, "%lld", (long long)r->version);
    snprintf(nums[1], 24, "%lld", (long long)r->keep_until_ms);
    snprintf(nums[2], 24, "%lld", (long long)r->status_ttl_s);
    snprintf(nums[3], 24, "%zu", ns);
    const char *head[] = {
        "EVALSHA",     q->replace, "3",     FLEX_KEY_SCHED,           FLEX_KEY_SCHED_JOBS,
        r->parent_key, nums[0],    nums[1], r->entry ? r->entry : "", nums[2],
        nums[3]};
    size_t a = 0;
    for (size_t i = 0; i < 11; i++, a++)
        argv[a] = head[i], lens[a] = i == 1 ? 40 : strlen(head[i]);
    char(*num)[24] = nums + 4;
    for (size_t i = 0; i < ns; i++) {
        snprintf(keys[i], sizeof(keys[i]), "%s%s", FLEX_KEY_JOB, sts[i].id);
        snprintf(num[0], 24, "%lld", (long long)sts[i].at_ms);
        snprintf(num[1], 24, "%lld", (long long)sts[i].send_at_ms);
        const char *v[] = {keys[i], sts[i].state, sts[i].reason, num[0], sts[i].location, num[1]};
        for (size_t k = 0; k < 6; k++, a++)
            argv[a] = v[k], lens[a] = strlen(v[k]);
        num += 3;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(num[i], 24, "%lld", (long long)members[i].at_ms);
        argv[a] = num[i], lens[a++] = strlen(num[i]);
        argv[a] = members[i].id, lens[a++] = strlen(members[i].id);
        argv[a] = members[i].payload, lens[a++] = members[i].len;
    }
    flex_store_append(st, (int)argc, argv, lens); /* hiredis copies the arguments */
    flex_free(argv);
    flex_free(lens);
    flex_free(nums);
    flex_free(keys);
}

long flex_schedq_promote(struct flex_store *st, const struct flex_schedq *q, int64_t now_ms,
                         int limit)
{
    flex_store_appendf(st, "EVALSHA %s 3 %s %s %s %lld %d", q->promote, FLEX_KEY_SCHED,
                       FLEX_KEY_SCHED_JOBS, "flex:jobs", (long long)now_ms, limit);
    struct redisReply *r;
    if (flex_store_reply(st, &r) != 0)
        return -1;
    long n = flex_reply_is_error(r) ? -1 : (long)flex_reply_integer(r);
    flex_store_free_reply(r);
    return n;
}

void flex_schedq_append_gate(struct flex_store *st, const struct flex_schedq *q,
                             const char *parent_key, int64_t version, const char *patient,
                             int64_t day, int64_t week, unsigned cap_day, unsigned cap_week,
                             const char *id)
{
    char dkey[160], wkey[160];
    snprintf(dkey, sizeof(dkey), "%s%s:d%lld", FLEX_KEY_CAP, patient, (long long)day);
    snprintf(wkey, sizeof(wkey), "%s%s:w%lld", FLEX_KEY_CAP, patient, (long long)week);
    flex_store_appendf(st, "EVALSHA %s 3 %s %s %s %lld %u %u %s 172800 1209600", q->gate,
                       parent_key ? parent_key : "", dkey, wkey, (long long)version, cap_day,
                       cap_week, id);
}
