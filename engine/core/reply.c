#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "flex.pb-c.h"
#include "hash.h"
#include "intent.h"
#include "mem.h"
#include "pipeline.h"
#include "schedq.h"
#include "store.h"
#include "str.h"

#define DAY_MS 86400000LL

/* Opens both batch scripts: what pcall caught, as an element of the
 * script's answer (an error reply).  redis.call raises a table {err = ...};
 * a Lua error is a string. */
#define LUA_AS_ERR                                                                                 \
    "local function as_err(e) return (type(e) == 'table' and e.err) and e or {err = tostring(e)} " \
    "end\n"

/* The contexts of a batch's senders (one call for them all: a script's
 * call costs Redis more than the lookups of a found context).  ARGV: today
 * (UTC day number), days back, how many records, then for each sender
 * its score and the location texted ('' none).  For each, the newest
 * records first, day by day back; a day holding a text sent from the
 * location texted ends its search (nothing older can be a better
 * context).  One sender's error (a key of another type) is its own
 * element of the answer. */
static const char context_lua[] = LUA_AS_ERR
    "local day, days, lim = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local function one(s, loc)\n"
    "  local here = loc ~= '' and ('\\tl=' .. loc .. '\\t') or nil\n"
    "  local out = {}\n"
    "  for d = day, day - days, -1 do\n"
    "    local found = false\n"
    "    local r = redis.call('ZREVRANGEBYSCORE', 'flex:log:' .. d, s, s, 'LIMIT', 0, lim - #out)\n"
    "    for _, rec in ipairs(r) do\n"
    "      out[#out + 1] = rec\n"
    "      if here and not found and string.find(rec, '\\td=o\\t', 1, true) and\n"
    "         string.find(rec, here, 1, true) then found = true end\n"
    "    end\n"
    "    if found or #out >= lim then break end\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "local res = {}\n"
    "for i = 4, #ARGV - 1, 2 do\n"
    "  local ok, r = pcall(one, ARGV[i], ARGV[i + 1])\n"
    "  res[#res + 1] = ok and r or as_err(r)\n"
    "end\n"
    "return res\n";

/* The texts of a batch, each applied as a unit of its own (one call for
 * them all: a script's call costs Redis more than most of what one text
 * writes).  ARGV: for each text, the count of its arguments, then them:
 * 1 the copy key, 2 its TTL (s), 3 op (+ opt out, - opt in, . none),
 * 4 the number, 5 the auto-reply counter key, 6 the daily cap, 7 its TTL,
 * 8 the parent key of a confirmed appointment ('' none), 9 the reminder
 * tags it drops (",72h,24h,"), 10 the log key ('' no log), 11 the
 * sender's score, 12 the texts logged per number and day, then commands:
 * condition, argc, args.  Conditions: A always, F a fresh text (not a
 * carrier's copy), C the opt-out set changed, R a fresh text within the
 * auto-reply cap, L a fresh text within the log's cap.  HINCRBY of
 * flex:stats and PEXPIREAT are gathered and written once at the end of the
 * call, the expiries first (a refused counter must not leave a day's log
 * without its end).  Answers, a text
 * each: {fresh, changed, replied}, or the error that stopped that text
 * (what it wrote before stays, as a script of its own would leave it);
 * then, when writing the gathered counters or expiries failed, that
 * error. */
static const char inbound_lua[] = LUA_AS_ERR
    /* the counters and the log's expiry: written once per call, at its end
     * (each text's HINCRBY and PEXPIREAT were a third of its commands) */
    "local stats, expire = {}, {}\n"
    "local function count(f, n) stats[f] = (stats[f] or 0) + n end\n"
    "local function apply(b, n)\n"
    "  local fresh = redis.call('SET', ARGV[b + 1], '1', 'NX', 'EX', ARGV[b + 2]) and true or "
    "false\n"
    "  local op, num = ARGV[b + 3], ARGV[b + 4]\n"
    "  local changed = false\n"
    "  if op == '+' then\n"
    "    changed = redis.call('SADD', 'flex:optout', num) == 1\n"
    "  elseif op == '-' and fresh then\n"
    "    changed = redis.call('SREM', 'flex:optout', num) == 1\n"
    "  end\n"
    /* The log every flexd follows, right behind the set (nothing that may
     * fail between them); again for a fresh STOP already in the set, so
     * that a log entry lost once is written by the next STOP. */
    "  if changed or (op == '+' and fresh) then\n"
    "    redis.call('XADD', 'flex:optout:log', '*', 'op', op, 'numbers', num)\n"
    "  end\n"
    "  if changed then\n"
    "    count(op == '+' and 'optouts' or 'optins', 1)\n"
    "  end\n"
    "  local replied, capok = 0, nil\n"
    "  local function reply_ok()\n"
    "    if not fresh then return false end\n"
    "    if capok == nil then\n"
    "      local c = redis.call('INCR', ARGV[b + 5])\n"
    "      if c == 1 then redis.call('EXPIRE', ARGV[b + 5], ARGV[b + 7]) end\n"
    "      capok = c <= tonumber(ARGV[b + 6])\n"
    "      replied = capok and 1 or 2\n"
    "    end\n"
    "    return capok\n"
    "  end\n"
    "  local parent, tags = ARGV[b + 8], ARGV[b + 9]\n"
    "  if fresh and parent ~= '' then\n"
    "    local m = redis.call('HGET', parent, 'm')\n"
    "    if m then\n"
    "      for id in string.gmatch(m, '[^,]+') do\n"
    "        local tag = string.match(id, '/([^/]+)/[^/]+$')\n"
    "        if tag and string.find(tags, ',' .. tag .. ',', 1, true) then\n"
    "          redis.call('ZREM', 'flex:sched', id)\n"
    "          redis.call('HDEL', 'flex:sched:jobs', id)\n"
    "        end\n"
    "      end\n"
    "      redis.call('HSET', parent, 'c', tags)\n"
    "    end\n"
    "  end\n"
    "  local logok = nil\n"
    "  local function log_ok()\n"
    "    if not fresh or ARGV[b + 10] == '' then return false end\n"
    "    if logok == nil then\n"
    "      logok = redis.call('ZCOUNT', ARGV[b + 10], ARGV[b + 11], ARGV[b + 11]) <\n"
    "              tonumber(ARGV[b + 12])\n"
    "    end\n"
    "    return logok\n"
    "  end\n"
    "  local i = 13\n"
    "  while i <= n do\n"
    "    local cond, argc = ARGV[b + i], tonumber(ARGV[b + i + 1])\n"
    "    if cond == 'A' or (cond == 'F' and fresh) or (cond == 'C' and changed) or\n"
    "       (cond == 'R' and reply_ok()) or (cond == 'L' and log_ok()) then\n"
    "      local a = {}\n"
    "      for k = 1, argc do a[k] = ARGV[b + i + 1 + k] end\n"
    "      if a[1] == 'HINCRBY' and a[2] == 'flex:stats' then\n"
    "        count(a[3], tonumber(a[4]))\n"
    "      elseif a[1] == 'PEXPIREAT' then\n"
    "        local t = tonumber(a[3])\n"
    "        if not expire[a[2]] or expire[a[2]] < t then expire[a[2]] = t end\n"
    "      else\n"
    "        redis.call(unpack(a))\n"
    "      end\n"
    "    end\n"
    "    i = i + 2 + argc\n"
    "  end\n"
    "  return {fresh and 1 or 0, changed and 1 or 0, replied}\n"
    "end\n"
    "local res, i = {}, 1\n"
    "while i <= #ARGV do\n"
    "  local n = tonumber(ARGV[i])\n"
    "  local ok, r = pcall(apply, i, n)\n"
    "  res[#res + 1] = ok and r or as_err(r)\n"
    "  i = i + 1 + n\n"
    "end\n"
    /* the expiries first and on their own: a counter refused must not
     * leave a day's log without its end */
    "local fail\n"
    "for k, t in pairs(expire) do\n"
    "  local ok, e = pcall(redis.call, 'PEXPIREAT', k, t)\n"
    "  if not ok then fail = fail or e end\n"
    "end\n"
    "local ok, e = pcall(function()\n"
    "  for f, c in pairs(stats) do redis.call('HINCRBY', 'flex:stats', f, c) end\n"
    "end)\n"
    "if not ok then fail = fail or e end\n"
    "if fail then res[#res + 1] = as_err(fail) end\n"
    "return res\n";

/* KEYS[1]: the set; ARGV: the part's number, the count, the value (flag
 * byte and bytes), the TTL (ms, from the first part), the bytes kept.  The
 * part is stored once (a carrier's copy changes nothing); once all are
 * there: {the bytes joined in order, 1 when cut}, stopping after a part the
 * adapter cut (as SMPP's own join) or at the cap; else nil. */
static const char parts_lua[] =
    "local k, total, max = KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[5])\n"
    "redis.call('HSETNX', k, ARGV[1], ARGV[3])\n"
    "redis.call('PEXPIRE', k, ARGV[4], 'NX')\n"
    "if redis.call('HLEN', k) < total then return false end\n"
    "local out, n, cut = {}, 0, 0\n"
    "for i = 1, total do\n"
    "  local v = redis.call('HGET', k, tostring(i))\n"
    "  if not v then return false end\n"
    "  local b = string.sub(v, 2)\n"
    "  if n + #b > max then b = string.sub(b, 1, max - n); cut = 1 end\n"
    "  out[#out + 1] = b\n"
    "  n = n + #b\n"
    "  if string.sub(v, 1, 1) == 'c' then cut = 1 end\n"
    "  if cut == 1 then break end\n"
    "end\n"
    "return {table.concat(out), cut}\n";

int flex_reply_load(struct flex_store *st, struct flex_reply *q)
{
    if (flex_store_script_load(st, context_lua, q->context) != 0 ||
        flex_store_script_load(st, inbound_lua, q->inbound) != 0 ||
        flex_store_script_load(st, parts_lua, q->parts) != 0)
        return -1;
    return 0;
}

/* ---- building a command's arguments ------------------------------------ */

/* Arguments built in |bytes|, which never moves: pointers stay valid.  A
 * value that does not fit sets |full| and is left out (explicit bounds,
 * not a size that happens to be large enough). */
struct plan {
    const char **argv;
    size_t *lens;
    size_t n, used, maxargs, cap;
    bool full;
    char *bytes;
};

static void plan_init(struct plan *p, size_t maxargs, size_t cap)
{
    if (!p->bytes) { /* once per thread's plan: reused for every command */
        p->argv = flex_malloc(maxargs * sizeof(*p->argv));
        p->lens = flex_malloc(maxargs * sizeof(*p->lens));
        p->bytes = flex_malloc(cap);
        p->maxargs = maxargs;
        p->cap = cap;
    }
    p->n = p->used = 0;
    p->full = false;
}

/* Reserves |len| + 1 bytes for the next argument, or NULL (|full|). */
static char *reserve(struct plan *p, size_t len)
{
    if (p->n == p->maxargs || len + 1 > p->cap - p->used) {
        p->full = true;
        return NULL;
    }
    return p->bytes + p->used;
}

static void commit(struct plan *p, char *d, size_t len)
{
    d[len] = '\0';
    p->argv[p->n] = d;
    p->lens[p->n++] = len;
    p->used += len + 1;
}

static void put(struct plan *p, const char *s, size_t len)
{
    char *d = reserve(p, len);
    if (d) {
        memcpy(d, s, len);
        commit(p, d, len);
    }
}

static void puts_(struct plan *p, const char *s)
{
    put(p, s, strlen(s));
}

static void putf(struct plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct plan *p, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf))
        p->full = true;
    else
        put(p, buf, (size_t)n);
}

long flex_conv_record(char *out, size_t outsz, int64_t at_ms, char dir, const char *loc,
                      const char *patient, const char *appt, const char *job, const char *what,
                      const char *status, const char *text)
{
    char head[512];
    int h = snprintf(head, sizeof(head),
                     "t=%lld\td=%c\tl=%s\tp=%s\ta=%s\tj=%s\tk=%s%s%s\tx=", (long long)at_ms, dir,
                     loc, patient, appt, job, what, status ? "\ts=" : "", status ? status : "");
    size_t tl = strlen(text);
    if (h < 0 || (size_t)h >= sizeof(head) || (size_t)h + tl > outsz)
        return -1;
    memcpy(out, head, (size_t)h);
    for (size_t i = 0; i < tl; i++) {
        char c = text[i];
        out[(size_t)h + i] = c == '\t' || c == '\n' || c == '\r' ? ' ' : c;
    }
    return (long)((size_t)h + tl);
}

const char *flex_conv_field(const char *rec, size_t len, const char *k, size_t *vlen)
{
    size_t kl = strlen(k);
    bool text = kl == 2 && k[0] == 'x';
    for (size_t i = 0; i + kl <= len; i++) {
        if ((i == 0 || rec[i - 1] == '\t') && memcmp(rec + i, k, kl) == 0) {
            const char *v = rec + i + kl;
            const char *e = text ? NULL : memchr(v, '\t', len - i - kl);
            *vlen = e ? (size_t)(e - v) : len - i - kl;
            return v;
        }
    }
    *vlen = 0;
    return NULL;
}

void flex_conv_field_copy(const char *rec, size_t len, const char *k, char *out, size_t outsz)
{
    size_t vl;
    const char *v = flex_conv_field(rec, len, k, &vl);
    if (!v)
        vl = 0;
    if (vl >= outsz)
        vl = outsz - 1;
    memcpy(out, v ? v : "", vl);
    out[vl] = '\0';
}

/* The record into the command's next argument. */
static void put_record(struct plan *p, int64_t at, char dir, const char *loc, const char *patient,
                       const char *appt, const char *job, const char *what, const char *text)
{
    size_t cap = strlen(text) + 512;
    char *d = reserve(p, cap);
    long n = d ? flex_conv_record(d, cap, at, dir, loc, patient, appt, job, what, NULL, text) : -1;
    if (n < 0)
        p->full = true;
    else
        commit(p, d, (size_t)n);
}

/* ---- the outbound log ---------------------------------------------------- */

int64_t flex_conv_keep_ms(const struct flex_cfg *cfg)
{
    uint32_t d = cfg->engine.history_days > cfg->engine.reply_context_days
                     ? cfg->engine.history_days
                     : cfg->engine.reply_context_days;
    return (int64_t)d * DAY_MS;
}

int flex_conv_score(const char *phone, char *out, size_t outsz)
{
    bool plus = phone[0] == '+';
    const char *d = phone + plus;
    size_t n = strlen(d);
    /* 15 digits at most: below 2^53, so the double Redis keeps is exact */
    if (n == 0 || n > 15 || strspn(d, "0123456789") != n || outsz < n + 2)
        return -1;
    snprintf(out, outsz, "%s%s", plus ? "" : "-", d);
    return 0;
}

int flex_conv_score_in(const char *phone, char *out, size_t outsz)
{
    char s[24];
    if (flex_conv_score(phone, s, sizeof(s)) != 0 || strlen(s) + 3 > outsz)
        return -1;
    snprintf(out, outsz, "%s.5", s);
    return 0;
}

int flex_conv_score_range(const char *phone, char *lo, char *hi, size_t sz)
{
    char in[24];
    if (flex_conv_score_in(phone, in, sizeof(in)) != 0 || strlen(in) + 1 > sz)
        return -1;
    bool neg = in[0] == '-';    /* a short code: its texts received below it */
    size_t sl = strlen(in) - 2; /* the number's own score: without its ".5" */
    snprintf(neg ? lo : hi, sz, "%s", in);
    snprintf(neg ? hi : lo, sz, "%.*s", (int)sl, in);
    return 0;
}

void flex_conv_key(int64_t at_ms, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s%lld", FLEX_KEY_LOG, (long long)(at_ms / DAY_MS));
}

int64_t flex_conv_expire_at(const struct flex_cfg *cfg, int64_t at_ms)
{
    return (at_ms / DAY_MS + 1) * DAY_MS + flex_conv_keep_ms(cfg);
}

/* Texts per transaction applied without the script: Redis 7.0's WATCH
 * compares each key with those the connection watches already (a WATCH of
 * n keys costs n^2/2 compares: ~2.6 us a key at 430 keys, measured) */
#define PLAIN_CHUNK 64

/* One text applied without the script (flex_reply_plain_apply). */
struct plain_text {
    size_t at;   /* its count's place in the plan's arguments */
    long exists; /* EXISTS of its copy key */
    long logged; /* ZCOUNT of its texts received today; -1 none read, or not logged */
    bool fresh, err;
    char why[160]; /* the refusal (err) */
};

/* Kept between calls: one batch's log entries, one text's script. */
struct flex_reply_plans {
    struct plan conv, in, ctx, plain;
    size_t in_texts;    /* texts in the inbound command being built */
    size_t plain_texts; /* texts kept for flex_reply_plain_apply */
    size_t c0, c1;      /* the texts of the transaction being applied */
    size_t applied;     /* texts whose transaction is done (their results) */
    struct plain_text *pt;
    const char *watch[1 + 2 * PLAIN_CHUNK]; /* WATCH and its keys */
    size_t watch_lens[1 + 2 * PLAIN_CHUNK];
    bool counters_failed;
    char counters_why[160];
};

static struct flex_reply_plans *plans(struct flex_reply *q)
{
    if (!q->_plans)
        q->_plans = flex_calloc(1, sizeof(*q->_plans));
    return q->_plans;
}

static void plan_free(struct plan *p)
{
    flex_free(p->argv);
    flex_free(p->lens);
    flex_free(p->bytes);
}

void flex_reply_free(struct flex_reply *q)
{
    if (!q->_plans)
        return;
    plan_free(&q->_plans->conv);
    plan_free(&q->_plans->in);
    plan_free(&q->_plans->ctx);
    plan_free(&q->_plans->plain);
    flex_free(q->_plans->pt);
    flex_free(q->_plans);
    q->_plans = NULL;
}

#define CONV_ARGS (2 + 2 * 512)
#define CONV_BYTES (1024 * 1024)

/* The PEXPIREAT of the day key |key| holding |at_ms| (one reply). */
static void conv_expire(struct flex_store *st, const struct flex_cfg *cfg, const char *key,
                        int64_t at_ms)
{
    flex_store_appendf(st, "PEXPIREAT %s %lld", key, (long long)flex_conv_expire_at(cfg, at_ms));
}

size_t flex_reply_append_conv(struct flex_store *st, struct flex_reply *q,
                              const struct flex_cfg *cfg, const struct flex_conv_out *o, size_t n,
                              int64_t now_ms)
{
    struct plan *p = &plans(q)->conv;
    size_t done = 0, cmds = 0;
    (void)now_ms;
    while (done < n) {
        /* One ZADD per day (a batch spans midnight at most) and plan. */
        int64_t day = o[done].at_ms / DAY_MS;
        char key[48], score[24];
        flex_conv_key(o[done].at_ms, key, sizeof(key));
        plan_init(p, CONV_ARGS, CONV_BYTES);
        puts_(p, "ZADD");
        puts_(p, key);
        size_t start = done;
        for (; done < n && o[done].at_ms / DAY_MS == day; done++) {
            if (flex_conv_score(o[done].phone, score, sizeof(score)) != 0)
                continue; /* a sender id of letters: cannot be looked up, not logged */
            size_t mark_n = p->n, mark_used = p->used;
            puts_(p, score);
            put_record(p, o[done].at_ms, 'o', o[done].location, o[done].patient,
                       o[done].appointment, o[done].job, o[done].template_name, o[done].text);
            if (p->full) { /* this one goes in the next command */
                p->n = mark_n, p->used = mark_used, p->full = false;
                break;
            }
        }
        if (p->n == 2) { /* nothing to log here (or, never, one record too big) */
            done += done == start;
            continue;
        }
        flex_store_append(st, (int)p->n, p->argv, p->lens);
        conv_expire(st, cfg, key, o[start].at_ms);
        cmds += 2;
    }
    return cmds;
}

/* ---- the parts of a longer text ------------------------------------------ */

void flex_parts_key(const char *from, const char *to, unsigned ref, unsigned total, unsigned dcs,
                    char out[FLEX_PARTS_KEY_SZ])
{
    static const struct flex_hash_key k1 = {0x666c65782d6d6f70ULL, 0x617274732d6b3031ULL};
    static const struct flex_hash_key k2 = {0x666c65782d6d6f70ULL, 0x617274732d6b3032ULL};
    char tail[32];
    int tl = snprintf(tail, sizeof(tail), "%u:%u:%u", ref, total, dcs);
    size_t fl = strlen(from), nl = strlen(to);
    uint64_t h[2];
    const struct flex_hash_key *keys[2] = {&k1, &k2};
    for (int i = 0; i < 2; i++) {
        uint64_t a = flex_siphash13(keys[i], from, fl + 1); /* with its NUL: no ambiguity */
        a = flex_siphash13(keys[i], to, nl + 1) ^ flex_mix64(a);
        h[i] = flex_siphash13(keys[i], tail, (size_t)tl) ^ flex_mix64(a);
    }
    snprintf(out, FLEX_PARTS_KEY_SZ, "%s%016llx%016llx", FLEX_KEY_MOPARTS, (unsigned long long)h[0],
             (unsigned long long)h[1]);
}

bool flex_parts_budget_take(struct flex_parts_budget *b, int64_t now_ms, size_t len, uint64_t max)
{
    if (now_ms - b->start_ms >= FLEX_PARTS_TTL_MS || now_ms < b->start_ms) {
        b->start_ms = now_ms;
        b->used = 0;
    }
    uint64_t cost = (uint64_t)len + FLEX_PARTS_COST;
    if (b->used + cost > max)
        return false;
    b->used += cost;
    return true;
}

void flex_reply_append_part(struct flex_store *st, const struct flex_reply *q, const char *key,
                            unsigned seq, unsigned total, const uint8_t *b, size_t n, bool cut)
{
    char val[1 + 4096];
    if (n > sizeof(val) - 1) { /* (a record holds less) */
        n = sizeof(val) - 1;
        cut = true;
    }
    val[0] = cut ? 'c' : 'w';
    if (n)
        memcpy(val + 1, b, n);
    flex_store_appendf(st, "EVALSHA %s 1 %s %u %u %b %d %d", q->parts, key, seq, total, val, n + 1,
                       FLEX_PARTS_TTL_MS, FLEX_PARTS_TEXT_MAX);
}

int flex_reply_parse_part(struct redisReply *r, const char **data, size_t *len, bool *cut)
{
    if (flex_reply_is_error(r))
        return -1;
    if (flex_reply_count(r) != 2)
        return 0; /* nil: parts missing */
    const char *b = flex_reply_str(flex_reply_at(r, 0), len);
    if (!b)
        return -1;
    if (*len > FLEX_PARTS_TEXT_MAX) /* the script's cap; a changed one is not trusted */
        *len = FLEX_PARTS_TEXT_MAX;
    *data = b;
    *cut = flex_reply_integer(flex_reply_at(r, 1)) != 0;
    return 1;
}

/* ---- the reply context --------------------------------------------------- */

int flex_reply_append_contexts(struct flex_store *st, struct flex_reply *q,
                               const struct flex_cfg *cfg, const char *const *from,
                               const char *const *loc, size_t n, int64_t now_ms)
{
    struct plan *p = &plans(q)->ctx;
    plan_init(p, 6 + 2 * FLEX_REPLY_CHUNK, 16384 + FLEX_REPLY_CHUNK * 128);
    puts_(p, "EVALSHA");
    puts_(p, q->context);
    puts_(p, "0");
    putf(p, "%lld", (long long)(now_ms / DAY_MS));
    putf(p, "%u", cfg->engine.reply_context_days);
    putf(p, "%d", FLEX_REPLY_CONTEXT);
    for (size_t k = 0; k < n && k < FLEX_REPLY_CHUNK; k++) {
        char score[24];
        if (flex_conv_score(from[k], score, sizeof(score)) != 0)
            snprintf(score, sizeof(score), "0.25"); /* no number's: an empty context */
        puts_(p, score);
        /* (a location id is at most 64 bytes: the buffer holds them all) */
        puts_(p, loc[k] ? loc[k] : "");
    }
    /* (never with these bounds: a pair left out would give the next
     * senders another's context) */
    if (p->full || n > FLEX_REPLY_CHUNK)
        return FLEX_E_NOSPACE;
    flex_store_append(st, (int)p->n, p->argv, p->lens);
    return 0;
}

static void add_patient(struct flex_reply_ctx *ctx, const char *patient)
{
    size_t pl = strlen(patient), have = strlen(ctx->patients);
    if (!pl)
        return;
    for (const char *s = ctx->patients; (s = strstr(s, patient)) != NULL; s += pl)
        if ((s == ctx->patients || s[-1] == ',') && (s[pl] == ',' || s[pl] == '\0'))
            return; /* already listed */
    if (have + pl + 2 > sizeof(ctx->patients))
        return;
    if (have)
        ctx->patients[have++] = ',';
    memcpy(ctx->patients + have, patient, pl + 1);
}

void flex_reply_parse_context(const struct flex_cfg *cfg, struct redisReply *r, const char *loc,
                              int64_t now_ms, struct flex_reply_ctx *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    int64_t since = now_ms - (int64_t)cfg->engine.reply_context_days * DAY_MS;
    /* The text replied to: the newest sent, preferring one from the
     * location texted, then one to a patient: an automatic reply (HELP's
     * answer) names none, so "C" after "Who is this?" and its answer still
     * confirms the visit the reminder before them named. */
    int best = -1, best_score = -1;
    size_t n = flex_reply_count(r);
    for (size_t i = 0; i < n; i++) { /* newest first */
        size_t len;
        const char *rec = flex_reply_str(flex_reply_at(r, i), &len);
        char v[112];
        if (!rec)
            continue;
        flex_conv_field_copy(rec, len, "t=", v, sizeof(v));
        if (strtoll(v, NULL, 10) < since)
            break;
        flex_conv_field_copy(rec, len, "d=", v, sizeof(v));
        if (strcmp(v, "o") != 0)
            continue;
        char l[65], pt[65];
        flex_conv_field_copy(rec, len, "l=", l, sizeof(l));
        flex_conv_field_copy(rec, len, "p=", pt, sizeof(pt));
        add_patient(ctx, pt);
        int score = (loc && strcmp(l, loc) == 0) * 2 + (pt[0] != '\0');
        if (score > best_score) {
            best_score = score;
            best = (int)i;
            flex_strlcpy(ctx->location, l, sizeof(ctx->location));
            flex_strlcpy(ctx->patient, pt, sizeof(ctx->patient));
            flex_conv_field_copy(rec, len, "a=", ctx->appointment, sizeof(ctx->appointment));
        }
    }
    ctx->found = best >= 0;
}

/* ---- applying an inbound text ------------------------------------------ */

/* One command of the plan: its condition, then |argc| arguments. */
static void cmd(struct plan *p, const char *cond, int argc)
{
    puts_(p, cond);
    putf(p, "%d", argc);
}

/* The automatic reply: a message job with |template| for |loc|, marked
 * reply_to so that quiet hours and pauses do not hold it. */
static void reply_job(struct plan *p, const char *cond, const struct flex_inbound *in,
                      const char *loc, const struct flex_reply_ctx *ctx, const char *template_name,
                      uint64_t mo_hash)
{
    char id[96], mark[64];
    /* unique per text: two texts of one batch share their receipt time */
    /* (no phone number in an id: ids reach logs, statuses and the audit) */
    snprintf(id, sizeof(id), "auto/%s/%lld-%016llx", template_name, (long long)in->at_ms,
             (unsigned long long)mo_hash);
    snprintf(mark, sizeof(mark), "mo:%lld-%016llx", (long long)in->at_ms,
             (unsigned long long)mo_hash);
    Flex__V1__Job j = FLEX__V1__JOB__INIT;
    j.type = FLEX__V1__JOB_TYPE__JOB_TYPE_MESSAGE;
    j.id = id;
    j.location = (char *)loc;
    j.patient = (char *)(ctx->patient[0] ? ctx->patient : "-");
    j.phone = (char *)in->from;
    j.template_ = (char *)template_name;
    j.reply_to = mark;
    j.enqueued_at_ms = in->at_ms;
    /* The opt-out confirmation is due within 5 minutes of the STOP (CTIA);
     * later it would be a text to someone who asked for none: it expires. */
    j.expires_at_ms = in->at_ms + (strcmp(template_name, "optout_confirm") == 0 ? 300000 : 3600000);
    uint8_t buf[1024];
    size_t n = flex__v1__job__get_packed_size(&j);
    if (n > sizeof(buf)) {
        p->full = true;
        return;
    }
    flex__v1__job__pack(&j, buf);
    /* The urgent lane (engine/core/store.h): read by every flexd in its next
     * round, ahead of any backlog on flex:jobs, so that the opt-out
     * confirmation goes within minutes whatever the campaign queue holds. */
    cmd(p, cond, 10);
    puts_(p, "XADD");
    puts_(p, FLEX_KEY_URGENT);
    puts_(p, "MAXLEN");
    puts_(p, "~");
    puts_(p, "10000");
    puts_(p, "*");
    puts_(p, "job");
    put(p, (const char *)buf, n);
    puts_(p, "id");
    puts_(p, id);
}

/* XADD |stream| * with the |n| strings of |kv| (names and values) under
 * |cond|: the argument count follows from the table. */
static void xadd(struct plan *p, const char *cond, const char *stream, const char *const *kv,
                 size_t n)
{
    cmd(p, cond, (int)(3 + n));
    puts_(p, "XADD");
    puts_(p, stream);
    puts_(p, "*");
    for (size_t i = 0; i < n; i++)
        puts_(p, kv[i]);
}

/* The stream entry staff and other stages read: who, about what, the text. */
static void staff_entry(struct plan *p, const char *stream, const struct flex_inbound *in,
                        const char *mark, const char *loc, const struct flex_reply_ctx *ctx,
                        const char *kind, bool urgent)
{
    char at[24];
    snprintf(at, sizeof(at), "%lld", (long long)in->at_ms);
    const char *kv[] = {
        "kind",       kind,         "urgent",   urgent ? "1" : "0", "location",    loc,
        "patient",    ctx->patient, "patients", ctx->patients,      "appointment", ctx->appointment,
        "phone",      in->from,     "text",     in->text,           "at_ms",       at,
        "inbound_id", mark};
    xadd(p, "F", stream, kv, sizeof(kv) / sizeof(kv[0]));
}

/* The texts of an opt-out, opt-in or help: each once per change, the help
 * within the daily cap; only with a location to send from and the
 * template configured. */
static void auto_replies(struct plan *p, const struct flex_cfg *cfg, const struct flex_inbound *in,
                         const char *loc, const struct flex_reply_ctx *ctx, enum flex_intent it,
                         uint64_t mo_hash)
{
    const char *t = it == FLEX_INTENT_STOP    ? "optout_confirm"
                    : it == FLEX_INTENT_START ? "optin_confirm"
                    : it == FLEX_INTENT_HELP  ? "help"
                                              : NULL;
    if (t && loc[0] && flex_cfg_template_find(cfg, t) && cfg->engine.autoreply_per_day > 0)
        reply_job(p, it == FLEX_INTENT_HELP ? "R" : "C", in, loc, ctx, t, mo_hash);
    else if (t && loc[0] && flex_cfg_template_find(cfg, t) && it != FLEX_INTENT_HELP)
        reply_job(p, "C", in, loc, ctx, t, mo_hash); /* answers to a change: not chatter */
}

static void inbound_entry(struct plan *p, const struct flex_inbound *in, const char *mark,
                          const char *loc, const struct flex_reply_ctx *ctx, enum flex_intent it)
{
    Flex__V1__InboundMessage m = FLEX__V1__INBOUND_MESSAGE__INIT;
    m.from = (char *)in->from;
    m.to = (char *)in->to;
    m.text = (char *)in->text;
    m.carrier = (char *)in->carrier;
    m.intent = (Flex__V1__Intent)it;
    m.received_at_ms = in->at_ms;
    m.location = (char *)loc;
    size_t n = flex__v1__inbound_message__get_packed_size(&m);
    cmd(p, "F", 15);
    puts_(p, "XADD");
    puts_(p, FLEX_KEY_INBOUND);
    puts_(p, "*");
    puts_(p, "id");
    puts_(p, mark);
    puts_(p, "msg");
    char *d = reserve(p, n);
    if (!d)
        return;
    flex__v1__inbound_message__pack(&m, (uint8_t *)d);
    commit(p, d, n);
    puts_(p, "intent");
    puts_(p, flex_intent_name(it));
    puts_(p, "location");
    puts_(p, loc);
    puts_(p, "patient");
    puts_(p, ctx->patient);
    puts_(p, "truncated");
    puts_(p, in->truncated ? "1" : "0");
}

static void inbound_log(struct plan *p, const struct flex_cfg *cfg, const struct flex_inbound *in,
                        const char *loc, const struct flex_reply_ctx *ctx, enum flex_intent it)
{
    char key[48], score[24], mo[64];
    if (cfg->engine.history_days == 0 || flex_conv_score_in(in->from, score, sizeof(score)) != 0)
        return;
    flex_conv_key(in->at_ms, key, sizeof(key));
    snprintf(mo, sizeof(mo), "mo:%lld", (long long)in->at_ms);
    cmd(p, "L", 4);
    puts_(p, "ZADD");
    puts_(p, key);
    puts_(p, score);
    put_record(p, in->at_ms, 'i', loc, ctx->patient, ctx->appointment, mo, flex_intent_name(it),
               in->text);
    cmd(p, "L", 3);
    puts_(p, "PEXPIREAT");
    puts_(p, key);
    putf(p, "%lld", (long long)flex_conv_expire_at(cfg, in->at_ms));
}

/* The sender's log (unless engine.history_days = 0), the counters. */
static void inbound_books(struct plan *p, const struct flex_cfg *cfg, const struct flex_inbound *in,
                          const char *loc, const struct flex_reply_ctx *ctx, enum flex_intent it)
{
    inbound_log(p, cfg, in, loc, ctx, it);
    cmd(p, "F", 4);
    puts_(p, "HINCRBY");
    puts_(p, FLEX_KEY_STATS);
    puts_(p, "inbound");
    puts_(p, "1");
    cmd(p, "F", 4);
    puts_(p, "HINCRBY");
    puts_(p, FLEX_KEY_STATS);
    putf(p, "inbound_%s", flex_intent_name(it));
    puts_(p, "1");
}

static void confirmation(struct plan *p, const struct flex_inbound *in, const char *mark,
                         const char *loc, const struct flex_reply_ctx *ctx)
{
    char at[24];
    snprintf(at, sizeof(at), "%lld", (long long)in->at_ms);
    const char *kv[] = {"patient",  ctx->patient, "appointment", ctx->appointment,
                        "location", loc,          "phone",       in->from,
                        "at_ms",    at,           "inbound_id",  mark};
    xadd(p, "F", FLEX_KEY_CONFIRMATIONS, kv, sizeof(kv) / sizeof(kv[0]));
}

/* Sender, number texted and text: what a carrier's copy has in common. */
static uint64_t mo_hash_of(const struct flex_inbound *in)
{
    static const struct flex_hash_key mo_key = {0x666c65782d6d6f31ULL, 0x6475702d6b657931ULL};
    uint64_t h = flex_siphash13(&mo_key, in->from, strlen(in->from));
    h = flex_siphash13(&mo_key, in->to, strlen(in->to)) ^ flex_mix64(h);
    return flex_siphash13(&mo_key, in->text, strlen(in->text)) ^ flex_mix64(h);
}

/* ARGV 1-12 of the script (see inbound_lua). */
static void head(struct plan *p, const struct flex_cfg *cfg, const struct flex_inbound *in,
                 const struct flex_reply_ctx *ctx, enum flex_intent it, uint64_t h)
{
    static const char *const kinds[][2] = {
        {"reminder_72h", "72h"}, {"reminder_24h", "24h"}, {"reminder_2h", "2h"}};
    putf(p, "flex:mo:%016llx", (unsigned long long)h);
    putf(p, "%d", it == FLEX_INTENT_START ? FLEX_REPLY_OPTIN_DUP_S : FLEX_REPLY_DUP_S);
    puts_(p, it == FLEX_INTENT_STOP ? "+" : it == FLEX_INTENT_START ? "-" : ".");
    puts_(p, in->from);
    putf(p, "flex:auto:%s:%lld", in->from, (long long)(in->at_ms / DAY_MS));
    putf(p, "%u", cfg->engine.autoreply_per_day);
    puts_(p, "172800");
    char tags[32] = ",";
    for (size_t i = 0; i < 3; i++)
        if (flex_cfg_confirm_drops(cfg, kinds[i][0]))
            snprintf(tags + strlen(tags), sizeof(tags) - strlen(tags), "%s,", kinds[i][1]);
    if (it == FLEX_INTENT_CONFIRM && ctx->appointment[0])
        putf(p, "%sappointment:%s", FLEX_KEY_PARENT, ctx->appointment);
    else
        puts_(p, "");
    puts_(p, tags);
    char key[48] = "", score[24] = "0.5";
    if (cfg->engine.history_days > 0 && flex_conv_score_in(in->from, score, sizeof(score)) == 0)
        flex_conv_key(in->at_ms, key, sizeof(key));
    puts_(p, key);
    puts_(p, score);
    putf(p, "%d", FLEX_CONV_MAX);
}

/* What one text's part of the command may take at most: its own
 * arguments' count and bytes, as when each text was a command of its own. */
#define IN_ARGS 256
#define IN_BYTES (8 * FLEX_TEXT_MAX + 16384)

void flex_reply_inbound_begin(struct flex_reply *q)
{
    struct plan *p = &plans(q)->in;
    plan_init(p, 3 + FLEX_REPLY_CHUNK * (IN_ARGS + 1),
              64 + (size_t)FLEX_REPLY_CHUNK * (IN_BYTES + 24));
    puts_(p, "EVALSHA");
    puts_(p, q->inbound);
    puts_(p, "0");
    plans(q)->in_texts = 0;
}

/* The text |in| (|it|, |ir|) into |p|: its count, then its arguments.
 * Returns 0, or FLEX_E_NOSPACE and |p| as before. */
static int build_text(struct plan *p, const struct flex_cfg *cfg, const struct flex_inbound *in,
                      const struct flex_reply_ctx *ctx, const struct flex_intent_result *ir,
                      const char *loc)
{
    enum flex_intent it = ir->intent;
    char desk[160];
    snprintf(desk, sizeof(desk), "%s%s%s", FLEX_KEY_FRONTDESK, loc[0] ? ":" : "", loc);
    /* this text's arguments after its count, filled in once they are known */
    size_t at_n = p->n, at_used = p->used;
    put(p, "0000", 4);
    size_t first_n = p->n, first_used = p->used;
    uint64_t h = mo_hash_of(in);
    /* the text's own id: its entry's on flex:inbound, and the one the
     * entries about it name (inbound_id), the automatic reply's reply_to */
    char mark[64];
    snprintf(mark, sizeof(mark), "mo:%lld-%016llx", (long long)in->at_ms, (unsigned long long)h);
    head(p, cfg, in, ctx, it, h);
    inbound_entry(p, in, mark, loc, ctx, it);
    inbound_books(p, cfg, in, loc, ctx, it);
    auto_replies(p, cfg, in, loc, ctx, it, h);
    if (it == FLEX_INTENT_CONFIRM)
        confirmation(p, in, mark, loc, ctx);
    if (it == FLEX_INTENT_EMERGENCY)
        staff_entry(p, FLEX_KEY_ESCALATIONS, in, mark, loc, ctx, "emergency", true);
    if (it == FLEX_INTENT_RESCHEDULE || it == FLEX_INTENT_OTHER || it == FLEX_INTENT_EMERGENCY ||
        (it == FLEX_INTENT_CONFIRM && !ctx->appointment[0]) || ir->frontdesk)
        staff_entry(p, desk, in, mark, loc, ctx, flex_intent_name(it), ir->urgent);
    if (in->parts_key && in->parts_key[0]) { /* joined from parts: their set goes with it */
        cmd(p, "A", 2);
        puts_(p, "DEL");
        puts_(p, in->parts_key);
    }
    if (p->full || p->n - first_n > IN_ARGS || p->used - first_used > IN_BYTES) {
        p->n = at_n, p->used = at_used, p->full = false; /* as if never added */
        return FLEX_E_NOSPACE;
    }
    char *d = p->bytes + at_used; /* the count's own four bytes: up to 9999 */
    int cl = snprintf(d, 5, "%zu", p->n - first_n);
    p->lens[at_n] = (size_t)cl;
    return 0;
}

/* A text whose actions depend on nothing but whether it is fresh and the
 * log's cap: no opt-out set to change, no automatic reply to count. */
static bool plain_intent(enum flex_intent it)
{
    return it != FLEX_INTENT_STOP && it != FLEX_INTENT_START && it != FLEX_INTENT_HELP;
}

#define PLAIN_ARGS (3 + FLEX_REPLY_PLAIN_MAX * 96)
#define PLAIN_BYTES (4 * 1024 * 1024)

int flex_reply_append_inbound(struct flex_reply *q, const struct flex_cfg *cfg,
                              const struct flex_inbound *in, const struct flex_reply_ctx *ctx,
                              struct flex_reply_done *done)
{
    struct flex_intent_result ir;
    flex_intent_classify(cfg->keywords, in->text, strlen(in->text), &ir);
    if (in->intent) /* decided before (a text too long for the command: sent without it) */
        ir.intent = (enum flex_intent)in->intent;
    memset(done, 0, sizeof(*done));
    done->intent = (int)ir.intent;
    /* The location texted; else the one the patient last heard from. */
    const struct flex_cfg_location *l = flex_cfg_location_by_phone(cfg, in->to);
    if (!l && ctx->found)
        l = flex_cfg_location_find(cfg, ctx->location);
    const char *loc = l ? l->id : "";
    done->location = loc;
    struct flex_reply_plans *ps = plans(q);
    if (q->plain && plain_intent(ir.intent) && ps->plain_texts < FLEX_REPLY_PLAIN_MAX) {
        struct plan *p = &ps->plain;
        if (ps->plain_texts == 0) {
            plan_init(p, PLAIN_ARGS, PLAIN_BYTES);
            /* the script's own call: what the texts fall back to */
            puts_(p, "EVALSHA");
            puts_(p, q->inbound);
            puts_(p, "0");
            if (!ps->pt)
                ps->pt = flex_calloc(FLEX_REPLY_PLAIN_MAX, sizeof(*ps->pt));
        }
        size_t at = p->n;
        if (build_text(p, cfg, in, ctx, &ir, loc) == 0) {
            ps->pt[ps->plain_texts].at = at;
            done->plain = ++ps->plain_texts;
            return 0;
        }
        /* (no room left in the plain plan: the script takes it) */
    }
    if (ps->in_texts == FLEX_REPLY_CHUNK)
        return FLEX_E_NOSPACE;
    if (build_text(&ps->in, cfg, in, ctx, &ir, loc) != 0)
        return FLEX_E_NOSPACE;
    ps->in_texts++;
    return 0;
}

size_t flex_reply_inbound_end(struct flex_store *st, struct flex_reply *q)
{
    struct plan *p = &plans(q)->in;
    size_t n = plans(q)->in_texts;
    if (n)
        flex_store_append(st, (int)p->n, p->argv, p->lens);
    plans(q)->in_texts = 0;
    return n;
}

int flex_reply_parse_done(struct redisReply *r, struct flex_reply_done *done)
{
    if (!r || flex_reply_is_error(r) || flex_reply_count(r) < 3)
        return -1;
    done->fresh = flex_reply_integer(flex_reply_at(r, 0)) == 1;
    done->changed = flex_reply_integer(flex_reply_at(r, 1)) == 1;
    done->replied = (int)flex_reply_integer(flex_reply_at(r, 2));
    return 0;
}

/* ---- applying texts without the script ------------------------------------
 *
 * The texts that change no opt-out and queue no automatic reply (confirm,
 * reschedule, emergency, other: nearly all of them) need the script for
 * two reads only: is the text a carrier's copy (its flex:mo key), and is
 * the sender within the log's daily cap; plus, for a confirmation, the
 * appointment's reminders.  So they are applied by the same plan the script
 * would run, read here: WATCH of their copy keys and appointments and the
 * reads, one round trip; then MULTI, each text's writes as the script
 * would make them, EXEC, a second.  A key watched that changed between the
 * two (another flexd applied the same text, the appointment was rescheduled)
 * makes EXEC do nothing, and both are done again; after PLAIN_TRIES, the
 * plan goes to the script, which needs no retry.  What this saves is the
 * script machinery, two thirds of what a text costs Redis
 * (docs/benchmarks.md).
 *
 * The log's cap is read, not watched (its key is written by every text
 * sent): two processes applying texts of one sender at once may log a
 * transaction's worth past it.  A text refused a write (a key of another type)
 * still gets its other writes, where the script stopped at the refusal;
 * it is reported as not applied either way. */

#define PLAIN_TRIES 8

/* The head values of a text's plan that the plain path reads (ARGV[b + k]
 * in the script's terms: head() writes them in this order). */
enum {
    H_COPY = 1, /* the copy key */
    H_COPY_TTL = 2,
    H_PARENT = 8, /* a confirmed appointment's parent key, or "" */
    H_TAGS = 9,   /* the reminder tags it drops */
    H_LOG = 10,   /* the log key, or "" */
    H_SCORE = 11,
    H_LOG_CAP = 12,
    H_CMDS = 13 /* the commands start here */
};

/* The text's head value |k| (ARGV[b + k] in the script's terms). */
static const char *hv(const struct plan *p, size_t at, size_t k, size_t *len)
{
    if (len)
        *len = p->lens[at + k];
    return p->argv[at + k];
}

static size_t argn(const struct plan *p, size_t i)
{
    return (size_t)strtoul(p->argv[i], NULL, 10);
}

static void plain_fail(struct plain_text *t, const char *why)
{
    if (t->err)
        return; /* the first refusal is the one told */
    t->err = true;
    flex_strlcpy(t->why, why ? why : "bad reply", sizeof(t->why));
}

/* Round one: WATCH, and each text's reads.  Returns the replies appended. */
static size_t plain_reads(struct flex_store *st, struct flex_reply_plans *ps)
{
    struct plan *p = &ps->plain;
    size_t w = 0;
    ps->watch[w] = "WATCH", ps->watch_lens[w++] = 5;
    for (size_t i = ps->c0; i < ps->c1; i++) {
        size_t at = ps->pt[i].at, l;
        const char *k = hv(p, at, H_COPY, &l);
        ps->watch[w] = k, ps->watch_lens[w++] = l;
        k = hv(p, at, H_PARENT, &l);
        if (l)
            ps->watch[w] = k, ps->watch_lens[w++] = l;
    }
    flex_store_append(st, (int)w, ps->watch, ps->watch_lens);
    size_t replies = 1;
    for (size_t i = ps->c0; i < ps->c1; i++) {
        size_t at = ps->pt[i].at, l;
        const char *a[4];
        size_t al[4];
        a[0] = "EXISTS", al[0] = 6;
        a[1] = hv(p, at, H_COPY, &al[1]);
        flex_store_append(st, 2, a, al);
        replies++;
        hv(p, at, H_LOG, &l);
        if (l) { /* ZCOUNT log score score */
            a[0] = "ZCOUNT", al[0] = 6;
            a[1] = hv(p, at, H_LOG, &al[1]);
            a[2] = a[3] = hv(p, at, H_SCORE, &al[2]);
            al[3] = al[2];
            flex_store_append(st, 4, a, al);
            replies++;
        }
        hv(p, at, H_PARENT, &l);
        if (l) { /* HGET parent m */
            a[0] = "HGET", al[0] = 4;
            a[1] = hv(p, at, H_PARENT, &al[1]);
            a[2] = "m", al[2] = 1;
            flex_store_append(st, 3, a, al);
            replies++;
        }
    }
    return replies;
}

/* Appends one command of |argc| arguments from |argv| and counts it. */
static void queue(struct flex_store *st, size_t argc, const char **argv, const size_t *lens,
                  size_t *queued)
{
    flex_store_append(st, (int)argc, argv, lens);
    (*queued)++;
}

/* A gathered counter or expiry (the script's end-of-call writes). */
struct gathered {
    const char *key; /* HINCRBY: the field; PEXPIREAT: the key */
    size_t len;
    long long v;
};

static void gather(struct gathered *g, size_t *n, size_t max, const char *key, size_t len,
                   long long v, bool add)
{
    for (size_t i = 0; i < *n; i++)
        if (g[i].len == len && memcmp(g[i].key, key, len) == 0) {
            g[i].v = add ? g[i].v + v : (v > g[i].v ? v : g[i].v);
            return;
        }
    if (*n < max)
        g[(*n)++] = (struct gathered){key, len, v};
}

#define GATHER_MAX 64
/* (a PEXPIREAT per text at most, and a handful of counters) */
_Static_assert(GATHER_MAX >= PLAIN_CHUNK, "a transaction's expiries fit");

/* Round two: MULTI, the writes of each text the reads left fresh or not,
 * the gathered counters and expiries, EXEC.  |hgets| holds each text's
 * appointment's reminders (NULL none).  Returns the commands queued
 * (MULTI's and EXEC's replies aside); each text's count in |per|. */
static size_t plain_writes(struct flex_store *st, struct flex_reply_plans *ps,
                           struct redisReply **hgets, size_t *per, size_t *ng_out)
{
    struct plan *p = &ps->plain;
    size_t queued = 0;
    struct gathered stats[GATHER_MAX], exp[GATHER_MAX];
    size_t nstats = 0, nexp = 0;
    flex_store_appendf(st, "MULTI");
    for (size_t i = ps->c0; i < ps->c1; i++) {
        struct plain_text *t = &ps->pt[i];
        size_t at = t->at, before = queued, l, dl;
        const char *dup = hv(p, at, H_COPY, &dl);
        t->fresh = t->exists == 0;
        /* a copy earlier in the transaction (one in an earlier one: its
         * key is set) */
        for (size_t j = ps->c0; j < i && t->fresh; j++) {
            size_t jl;
            const char *o = hv(p, ps->pt[j].at, H_COPY, &jl);
            if (ps->pt[j].fresh && jl == dl && memcmp(o, dup, dl) == 0)
                t->fresh = false;
        }
        if (t->fresh) {
            size_t tl;
            const char *a[] = {"SET", dup, "1", "EX", hv(p, at, H_COPY_TTL, &tl)};
            size_t al[] = {3, dl, 1, 2, tl};
            queue(st, 5, a, al, &queued);
        }
        const char *parent = hv(p, at, H_PARENT, &l);
        if (t->fresh && l && hgets[i - ps->c0]) { /* a confirmation: the reminders it drops */
            size_t ml, tl;
            const char *m = flex_reply_str(hgets[i - ps->c0], &ml);
            const char *tags = hv(p, at, H_TAGS, &tl);
            for (size_t s = 0; m && s < ml;) {
                const char *e = memchr(m + s, ',', ml - s);
                size_t il = e ? (size_t)(e - (m + s)) : ml - s;
                const char *id = m + s;
                s += il + 1;
                /* its tag: the part before the last "/" (.../TAG/ID) */
                const char *last = NULL, *prev = NULL;
                for (size_t c = 0; c < il; c++)
                    if (id[c] == '/')
                        prev = last, last = id + c;
                if (!il || !prev || last == id + il - 1 || last == prev + 1)
                    continue;
                size_t gl = (size_t)(last - prev - 1);
                bool dropped = false;
                for (size_t c = 0; c + gl + 2 <= tl && !dropped; c++)
                    dropped = tags[c] == ',' && tags[c + gl + 1] == ',' &&
                              memcmp(tags + c + 1, prev + 1, gl) == 0;
                if (!dropped)
                    continue;
                const char *z[] = {"ZREM", "flex:sched", id};
                size_t zl[] = {4, 10, il};
                queue(st, 3, z, zl, &queued);
                const char *h[] = {"HDEL", "flex:sched:jobs", id};
                size_t hl[] = {4, 15, il};
                queue(st, 3, h, hl, &queued);
            }
            const char *c[] = {"HSET", parent, "c", tags};
            size_t cl[] = {4, l, 1, tl};
            queue(st, 4, c, cl, &queued);
        }
        /* the log's cap: its count read, and the texts logged before this
         * one in the batch from the same number the same day */
        bool log_ok = false;
        if (t->fresh && t->logged >= 0) {
            size_t kl, sl, ol, osl;
            const char *key = hv(p, at, H_LOG, &kl), *sc = hv(p, at, H_SCORE, &sl);
            long have = t->logged;
            for (size_t j = ps->c0; j < i; j++) {
                const struct plain_text *o = &ps->pt[j];
                if (!o->fresh || o->logged < 0)
                    continue;
                const char *ok = hv(p, o->at, H_LOG, &ol), *os = hv(p, o->at, H_SCORE, &osl);
                have += ol == kl && osl == sl && !memcmp(ok, key, kl) && !memcmp(os, sc, sl);
            }
            log_ok = have < strtol(hv(p, at, H_LOG_CAP, NULL), NULL, 10);
            /* (counted for the texts after it only when logged) */
            if (!log_ok)
                t->logged = -1;
        }
        size_t end = at + 1 + argn(p, at);
        for (size_t c = at + H_CMDS; c + 1 < end;) {
            char cond = p->argv[c][0];
            size_t argc = argn(p, c + 1);
            const char **a = p->argv + c + 2;
            const size_t *al = p->lens + c + 2;
            c += 2 + argc;
            if (!(cond == 'A' || (cond == 'F' && t->fresh) || (cond == 'L' && log_ok)))
                continue;
            if (argc == 4 && !strcmp(a[0], "HINCRBY") && !strcmp(a[1], FLEX_KEY_STATS))
                gather(stats, &nstats, GATHER_MAX, a[2], al[2], strtoll(a[3], NULL, 10), true);
            else if (argc == 3 && !strcmp(a[0], "PEXPIREAT"))
                gather(exp, &nexp, GATHER_MAX, a[1], al[1], strtoll(a[2], NULL, 10), false);
            else
                queue(st, argc, a, al, &queued);
        }
        per[i - ps->c0] = queued - before;
    }
    /* the expiries first, as the script's end (a counter refused must not
     * leave a day's log without its end) */
    size_t ng = 0;
    for (size_t i = 0; i < nexp; i++, ng++)
        flex_store_appendf(st, "PEXPIREAT %b %lld", exp[i].key, exp[i].len, exp[i].v);
    for (size_t i = 0; i < nstats; i++, ng++)
        flex_store_appendf(st, "HINCRBY %s %b %lld", FLEX_KEY_STATS, stats[i].key, stats[i].len,
                           stats[i].v);
    flex_store_appendf(st, "EXEC");
    *ng_out = ng;
    return queued + ng;
}

/* The script's answer for the transaction's texts (after PLAIN_TRIES
 * aborts): the plan's arguments are the script's. */
static int plain_by_script(struct flex_store *st, const struct flex_reply *q,
                           struct flex_reply_plans *ps)
{
    struct plan *p = &ps->plain;
    struct redisReply *r = NULL;
    size_t from = ps->pt[ps->c0].at, last = ps->pt[ps->c1 - 1].at;
    size_t to = last + 1 + argn(p, last), n = 3 + to - from;
    const char **argv = flex_malloc(n * sizeof(*argv));
    size_t *lens = flex_malloc(n * sizeof(*lens));
    /* (a try that stopped after its WATCH: the next transaction's keys only) */
    flex_store_appendf(st, "UNWATCH");
    if (flex_store_drain(st, 1) != 0) {
        flex_free(argv);
        flex_free(lens);
        return -1;
    }
    argv[0] = "EVALSHA", lens[0] = 7;
    argv[1] = q->inbound, lens[1] = strlen(q->inbound);
    argv[2] = "0", lens[2] = 1;
    memcpy(argv + 3, p->argv + from, (to - from) * sizeof(*argv));
    memcpy(lens + 3, p->lens + from, (to - from) * sizeof(*lens));
    flex_store_append(st, (int)n, argv, lens);
    flex_free(argv);
    flex_free(lens);
    if (flex_store_reply(st, &r) != 0)
        return -1;
    if (flex_reply_is_transient(r)) {
        flex_store_free_reply(r);
        return -1;
    }
    for (size_t i = ps->c0; i < ps->c1; i++) {
        struct redisReply *e = flex_reply_is_error(r) ? r : flex_reply_at(r, i - ps->c0);
        struct flex_reply_done d;
        if (flex_reply_is_transient(e)) {
            flex_store_free_reply(r);
            return -1;
        }
        ps->pt[i].err = false;
        if (flex_reply_parse_done(e, &d) == 0)
            ps->pt[i].fresh = d.fresh;
        else
            plain_fail(&ps->pt[i], flex_reply_str(e, NULL));
    }
    struct redisReply *tail = flex_reply_at(r, ps->c1 - ps->c0);
    if (flex_reply_is_error(tail) && !ps->counters_failed) {
        ps->counters_failed = true;
        flex_strlcpy(ps->counters_why, flex_reply_str(tail, NULL), sizeof(ps->counters_why));
    }
    flex_store_free_reply(r);
    return 0;
}

/* One try: the reads, then the writes.  Returns 1 applied, 0 EXEC did
 * nothing (a watched key changed), 2 the script must apply them (a read or
 * the transaction refused for good: the script's text by text refusals),
 * -1 Redis failed or refused for now. */
static int plain_try(struct flex_store *st, const struct flex_reply *q, struct flex_reply_plans *ps)
{
    struct redisReply *reads[1 + 3 * PLAIN_CHUNK] = {0};
    struct redisReply *hgets[PLAIN_CHUNK] = {0};
    size_t per[PLAIN_CHUNK], ng;
    int rc = -1;
    size_t nr = plain_reads(st, ps), got = 0;
    for (; got < nr; got++)
        if (flex_store_reply(st, &reads[got]) != 0)
            goto out;
    if (flex_reply_is_error(reads[0])) { /* WATCH: never but for the server's state */
        rc = flex_reply_is_transient(reads[0]) ? -1 : 2;
        goto out;
    }
    for (size_t k = 1; k < nr; k++) {
        if (flex_reply_is_transient(reads[k]))
            goto out;
        if (flex_reply_is_error(reads[k])) { /* the script, whose refusals are a text's own */
            rc = 2;
            goto out;
        }
    }
    for (size_t i = ps->c0, k = 1; i < ps->c1; i++) { /* (in plain_reads' order) */
        struct plain_text *t = &ps->pt[i];
        size_t l;
        t->err = false;
        t->exists = flex_reply_integer(reads[k++]);
        t->logged = -1;
        hv(&ps->plain, t->at, H_LOG, &l);
        if (l)
            t->logged = (long)flex_reply_integer(reads[k++]);
        hv(&ps->plain, t->at, H_PARENT, &l);
        if (l) {
            struct redisReply *e = reads[k++];
            hgets[i - ps->c0] = flex_reply_is_nil(e) ? NULL : e;
        }
    }
    if (q->plain_between)
        q->plain_between(q->plain_arg);
    size_t queued = plain_writes(st, ps, hgets, per, &ng);
    /* MULTI's +OK, a +QUEUED per command (or the refusal that discards
     * the transaction), EXEC's answer */
    struct redisReply *r = NULL;
    bool transient = false;
    for (size_t i = 0; i < 1 + queued; i++) {
        if (flex_store_reply(st, &r) != 0)
            goto out;
        transient |= flex_reply_is_transient(r);
        flex_store_free_reply(r);
    }
    if (flex_store_reply(st, &r) != 0)
        goto out;
    if (transient || flex_reply_is_transient(r)) {
        flex_store_free_reply(r);
        goto out;
    }
    if (flex_reply_is_nil(r)) { /* a watched key changed: nothing written */
        flex_store_free_reply(r);
        rc = 0;
        goto out;
    }
    if (flex_reply_is_error(r)) { /* EXECABORT, a command refused as queued: the script */
        flex_store_free_reply(r);
        rc = 2;
        goto out;
    }
    size_t k = 0;
    for (size_t i = ps->c0; i < ps->c1; i++) {
        struct plain_text *t = &ps->pt[i];
        for (size_t c = 0; c < per[i - ps->c0]; c++, k++) {
            struct redisReply *e = flex_reply_at(r, k);
            if (flex_reply_is_error(e))
                plain_fail(t, flex_reply_str(e, NULL));
        }
    }
    for (size_t c = 0; c < ng; c++, k++) {
        struct redisReply *e = flex_reply_at(r, k);
        if (flex_reply_is_error(e) && !ps->counters_failed) {
            ps->counters_failed = true;
            flex_strlcpy(ps->counters_why, flex_reply_str(e, NULL), sizeof(ps->counters_why));
        }
    }
    flex_store_free_reply(r);
    rc = 1;
out:
    for (size_t i = 0; i < got; i++)
        flex_store_free_reply(reads[i]);
    return rc;
}

int flex_reply_plain_apply(struct flex_store *st, struct flex_reply *q)
{
    struct flex_reply_plans *ps = plans(q);
    ps->counters_failed = false;
    ps->counters_why[0] = '\0';
    ps->applied = 0;
    if (ps->plain_texts == 0)
        return 0;
    for (ps->c0 = 0; ps->c0 < ps->plain_texts; ps->c0 = ps->c1) {
        ps->c1 = ps->c0 + PLAIN_CHUNK < ps->plain_texts ? ps->c0 + PLAIN_CHUNK : ps->plain_texts;
        int rc = 0;
        for (int i = 0; i < PLAIN_TRIES && rc == 0; i++) {
            rc = plain_try(st, q, ps);
            q->plain_aborts += rc == 0;
        }
        if (rc == 0 || rc == 2)
            rc = plain_by_script(st, q, ps) == 0 ? 1 : -1;
        if (rc < 0)
            return -1; /* the transactions before it stand: ps->applied */
        ps->applied = ps->c1;
    }
    return 0;
}

int flex_reply_plain_result(const struct flex_reply *q, size_t i, struct flex_reply_done *done,
                            const char **why)
{
    const struct plain_text *t = &q->_plans->pt[i - 1];
    done->fresh = t->fresh;
    done->changed = false;
    done->replied = 0;
    *why = t->err ? t->why : NULL;
    return t->err ? -1 : 0;
}

size_t flex_reply_plain_applied(const struct flex_reply *q)
{
    return q->_plans ? q->_plans->applied : 0;
}

const char *flex_reply_plain_counters(const struct flex_reply *q)
{
    return q->_plans && q->_plans->counters_failed ? q->_plans->counters_why : NULL;
}

void flex_reply_plain_reset(struct flex_reply *q)
{
    if (q->_plans)
        q->_plans->plain_texts = 0;
}
