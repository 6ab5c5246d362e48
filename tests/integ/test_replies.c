/* The reply scripts (engine/core/reply.h) against a real redis-server
 * started here, several texts a call: a write Redis refuses for one text
 * stops that text alone; a carrier's copy in the same call is applied
 * once; the counters gathered for the call are written; and the context
 * lookups of several senders in one call, each its own, reading only the
 * texts sent to a number (those received are scored a half above). */
#include "../unit/test_common.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "clock.h"
#include "config.h"
#include "intent.h"
#include "reply.h"
#include "smpp_client.h"
#include "store.h"

#define DAY_MS 86400000LL
/* now (the log's keys expire from their day: a past day's are gone at once) */
static int64_t NOW_MS;

static pid_t redis_pid;
static struct flex_store *st;
static struct flex_reply rq;
static struct flex_cfg *cfg;

static int setup(void **state)
{
    (void)state;
    NOW_MS = flex_now_ms();
    const char *s = getenv("FLEX_SRCDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/deploy/flexd.conf", s ? s : ".");
    if (flex_cfg_load(&cfg, path, NULL, 0, NULL, NULL) != 0)
        return -1;
    return tc_redis_scripts(&redis_pid, &st, &rq);
}

static int teardown(void **state)
{
    (void)state;
    tc_redis_scripts_end(redis_pid, st, &rq);
    flex_cfg_del(cfg);
    return 0;
}

/* One command, its reply as an integer (or -1 for an error). */
static long long cmd_int(const char *fmt, const char *a, const char *b)
{
    flex_store_appendf(st, fmt, a, b);
    struct redisReply *r;
    assert_int_equal(flex_store_reply(st, &r), 0);
    long long v = flex_reply_is_error(r) ? -1 : flex_reply_integer(r);
    flex_store_free_reply(r);
    return v;
}

static void fresh(void)
{
    rq.plain = false; /* (a test failed half way leaves it set) */
    rq.plain_between = NULL;
    flex_store_appendf(st, "FLUSHALL");
    assert_int_equal(flex_store_drain(st, 1), 0);
}

/* Applies |n| texts (from, to, text) in one call; the call's reply. */
static struct redisReply *apply(const char *const (*t)[3], size_t n, struct flex_reply_done *done)
{
    struct flex_reply_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    flex_reply_inbound_begin(&rq);
    for (size_t k = 0; k < n; k++) {
        struct flex_inbound in = {.from = t[k][0],
                                  .to = t[k][1],
                                  .text = t[k][2],
                                  .carrier = "primary",
                                  .at_ms = NOW_MS + (int64_t)k};
        assert_int_equal(flex_reply_append_inbound(&rq, cfg, &in, &ctx, &done[k]), 0);
    }
    assert_int_equal(flex_reply_inbound_end(st, &rq), n);
    struct redisReply *r;
    assert_int_equal(flex_store_reply(st, &r), 0);
    return r;
}

static void test_a_refused_text_stops_alone(void **state)
{
    (void)state;
    fresh();
    char auto_key[64];
    snprintf(auto_key, sizeof(auto_key), "flex:auto:+12025550171:%lld", NOW_MS / DAY_MS);
    /* its auto-reply counter a hash: the HELP's INCR answers WRONGTYPE */
    assert_int_equal(cmd_int("HSET %s %s 1", auto_key, "x"), 1);
    static const char *const t[][3] = {
        {"+12025550171", "+12025550100", "HELP"},
        {"+12025550172", "+12025550100", "Can I reschedule to Friday?"},
        {"+12025550173", "+12025550100", "STOP"},
    };
    struct flex_reply_done done[3];
    struct redisReply *r = apply(t, 3, done);
    assert_int_equal(flex_reply_count(r), 3);
    assert_true(flex_reply_is_error(flex_reply_at(r, 0)));
    assert_non_null(strstr(flex_reply_str(flex_reply_at(r, 0), NULL), "WRONGTYPE"));
    assert_int_equal(flex_reply_parse_done(flex_reply_at(r, 0), &done[0]), -1);
    assert_int_equal(flex_reply_parse_done(flex_reply_at(r, 1), &done[1]), 0);
    assert_true(done[1].fresh);
    assert_int_equal(flex_reply_parse_done(flex_reply_at(r, 2), &done[2]), 0);
    assert_true(done[2].fresh);
    assert_true(done[2].changed); /* the opt-out set took it */
    flex_store_free_reply(r);
    assert_int_equal(cmd_int("SISMEMBER %s %s", "flex:optout", "+12025550173"), 1);
    assert_int_equal(cmd_int("XLEN %s%s", "flex:frontdesk:", "loc-1"), 1);
    /* the refused text's writes before the refusal stay: its entry */
    assert_int_equal(cmd_int("XLEN %s%s", "flex:inbound", ""), 3);
    /* the call's gathered counters: the three texts, the opt-out */
    assert_int_equal(cmd_int("HGET %s %s", "flex:stats", "inbound"), 3);
    assert_int_equal(cmd_int("HGET %s %s", "flex:stats", "optouts"), 1);
    assert_int_equal(cmd_int("HGET %s %s", "flex:stats", "inbound_stop"), 1);
    /* and the log's expiry, once for the day's key */
    char key[48];
    flex_conv_key(NOW_MS, key, sizeof(key));
    assert_true(cmd_int("PTTL %s%s", key, "") > 0);
}

static void test_a_copy_in_the_same_call(void **state)
{
    (void)state;
    fresh();
    static const char *const t[][3] = {
        {"+12025550174", "+12025550100", "Running 10 min late"},
        {"+12025550174", "+12025550100", "Running 10 min late"},
    };
    struct flex_reply_done done[2];
    struct redisReply *r = apply(t, 2, done);
    assert_int_equal(flex_reply_count(r), 2);
    assert_int_equal(flex_reply_parse_done(flex_reply_at(r, 0), &done[0]), 0);
    assert_int_equal(flex_reply_parse_done(flex_reply_at(r, 1), &done[1]), 0);
    assert_true(done[0].fresh);
    assert_false(done[1].fresh);
    flex_store_free_reply(r);
    assert_int_equal(cmd_int("XLEN %s%s", "flex:frontdesk:", "loc-1"), 1);
    assert_int_equal(cmd_int("HGET %s %s", "flex:stats", "inbound"), 1);
}

/* One text applied alone; whether it was fresh. */
static bool apply_one(const char *from, const char *text)
{
    const char *const t[1][3] = {{from, "+12025550100", text}};
    struct flex_reply_done done[1];
    struct redisReply *r = apply(t, 1, done);
    assert_int_equal(flex_reply_parse_done(flex_reply_at(r, 0), &done[0]), 0);
    flex_store_free_reply(r);
    return done[0].fresh;
}

/* START, then STOP, then the SMSC's copy of the START minutes later (its
 * deliver_sm_resp lost): the copy must not undo the STOP.  "Minutes
 * later" is every copy key of the ordinary 2-minute life deleted. */
static void test_a_late_start_copy_keeps_the_stop(void **state)
{
    (void)state;
    fresh();
    const char *num = "+12025550176";
    assert_true(apply_one(num, "START"));
    assert_true(apply_one(num, "STOP"));
    assert_int_equal(cmd_int("SISMEMBER %s %s", "flex:optout", num), 1);
    flex_store_appendf(st, "KEYS flex:mo:*");
    struct redisReply *keys;
    assert_int_equal(flex_store_reply(st, &keys), 0);
    size_t n = flex_reply_count(keys), kept = 0;
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        const char *k = flex_reply_str(flex_reply_at(keys, i), NULL);
        if (cmd_int("TTL %s%s", k, "") <= FLEX_REPLY_DUP_S)
            assert_int_equal(cmd_int("DEL %s%s", k, ""), 1);
        else
            kept++;
    }
    flex_store_free_reply(keys);
    assert_int_equal(kept, 1); /* the START's: a day */
    assert_false(apply_one(num, "START"));
    assert_int_equal(cmd_int("SISMEMBER %s %s", "flex:optout", num), 1);
    assert_true(apply_one(num, "UNSTOP")); /* another opt-in word is the patient's */
    assert_int_equal(cmd_int("SISMEMBER %s %s", "flex:optout", num), 0);
}

static void test_expiry_despite_a_refused_counter(void **state)
{
    (void)state;
    fresh();
    /* flex:stats a string: the call's gathered HINCRBY refused */
    flex_store_appendf(st, "SET flex:stats x");
    assert_int_equal(flex_store_drain(st, 1), 0);
    static const char *const t[][3] = {{"+12025550175", "+12025550100", "Thanks!"}};
    struct flex_reply_done done[1];
    struct redisReply *r = apply(t, 1, done);
    /* the text applied, then the counters' error after it */
    assert_int_equal(flex_reply_count(r), 2);
    assert_int_equal(flex_reply_parse_done(flex_reply_at(r, 0), &done[0]), 0);
    assert_true(done[0].fresh);
    assert_true(flex_reply_is_error(flex_reply_at(r, 1)));
    assert_non_null(strstr(flex_reply_str(flex_reply_at(r, 1), NULL), "WRONGTYPE"));
    flex_store_free_reply(r);
    /* the day's log still ends: its expiry written before the counters */
    char key[48];
    flex_conv_key(NOW_MS, key, sizeof(key));
    assert_true(cmd_int("PTTL %s%s", key, "") > 0);
}

/* ---- the texts applied without the script --------------------------------- */

/* Every key's type, contents (streams without their entry ids) and
 * whether it expires, as lines sorted: what a batch left in Redis. */
static void dump(char *out, size_t outsz)
{
    static char lines[64][2048];
    size_t nl = 0;
    flex_store_appendf(st, "KEYS *");
    struct redisReply *keys;
    assert_int_equal(flex_store_reply(st, &keys), 0);
    for (size_t i = 0; i < flex_reply_count(keys) && nl < 64; i++) {
        const char *k = flex_reply_str(flex_reply_at(keys, i), NULL);
        char *l = lines[nl++];
        size_t used = (size_t)snprintf(l, 2048, "%s ttl=%d", k, cmd_int("PTTL %s%s", k, "") > 0);
        flex_store_appendf(st, "TYPE %s", k);
        struct redisReply *t, *v;
        assert_int_equal(flex_store_reply(st, &t), 0);
        const char *type = flex_reply_str(t, NULL);
        if (!strcmp(type, "stream"))
            flex_store_appendf(st, "XRANGE %s - +", k);
        else if (!strcmp(type, "hash"))
            flex_store_appendf(st, "HGETALL %s", k);
        else if (!strcmp(type, "zset"))
            flex_store_appendf(st, "ZRANGE %s 0 -1 WITHSCORES", k);
        else if (!strcmp(type, "set"))
            flex_store_appendf(st, "SMEMBERS %s", k);
        else
            flex_store_appendf(st, "GET %s", k);
        assert_int_equal(flex_store_reply(st, &v), 0);
        size_t n = flex_reply_count(v);
        if (!strcmp(type, "string"))
            used += (size_t)snprintf(l + used, 2048 - used, " %s", flex_reply_str(v, NULL));
        /* a stream's entries in sorted order: the script's texts of a
         * batch are applied before the plain ones */
        static char ents[16][1024];
        size_t ne = 0;
        for (size_t j = 0; j < n && used < 2048; j++) {
            struct redisReply *e = flex_reply_at(v, j);
            if (!strcmp(type, "stream") && ne < 16) { /* [id, [field, value, ...]] */
                struct redisReply *f = flex_reply_at(e, 1);
                size_t eu = 0;
                char *en = ents[ne++];
                en[0] = '\0';
                for (size_t x = 0; x < flex_reply_count(f) && eu < 1024; x++) {
                    size_t len;
                    const char *b = flex_reply_str(flex_reply_at(f, x), &len);
                    eu += (size_t)snprintf(en + eu, 1024 - eu, " %zu:", len);
                    for (size_t y = 0; y < len && eu + 3 < 1024; y++) /* (binary) */
                        eu += (size_t)snprintf(en + eu, 1024 - eu, "%02x", (uint8_t)b[y]);
                }
            } else if ((!strcmp(type, "hash") || !strcmp(type, "set")) && ne < 16) {
                bool pair = !strcmp(type, "hash"); /* a field and its value */
                snprintf(ents[ne++], 1024, "%s%s%s", flex_reply_str(e, NULL), pair ? "=" : "",
                         pair ? flex_reply_str(flex_reply_at(v, ++j), NULL) : "");
            } else {
                used += (size_t)snprintf(l + used, 2048 - used, " %s", flex_reply_str(e, NULL));
            }
        }
        qsort(ents, ne, sizeof(ents[0]), (int (*)(const void *, const void *))strcmp);
        for (size_t j = 0; j < ne && used < 2048; j++)
            used += (size_t)snprintf(l + used, 2048 - used, " |%s", ents[j]);
        flex_store_free_reply(t);
        flex_store_free_reply(v);
    }
    flex_store_free_reply(keys);
    qsort(lines, nl, sizeof(lines[0]), (int (*)(const void *, const void *))strcmp);
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < nl && used < outsz; i++)
        used += (size_t)snprintf(out + used, outsz - used, "%.2000s\n", lines[i]);
}

/* An appointment with a reminder of each kind still due, and ids the
 * script's pattern takes no tag from. */
static void sched_appointment(void)
{
    static const char *const ids[] = {"p-1/a-1/72h/1", "p-1/a-1/24h/1", "p-1/a-1/2h/1",
                                      "x//y",          "a-1/24h/",      "24h"};
    char m[256] = "";
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        assert_int_equal(cmd_int("ZADD flex:sched 1 %s%s", ids[i], ""), 1);
        assert_int_equal(cmd_int("HSET flex:sched:jobs %s %s", ids[i], "job"), 1);
        snprintf(m + strlen(m), sizeof(m) - strlen(m), "%s%s", i ? "," : "", ids[i]);
    }
    assert_int_equal(cmd_int("HSET flex:parent:appointment:a-1 m %s%s", m, ""), 1);
}

/* A batch of every kind of text the plain path takes, with a copy, a
 * confirmation of an appointment and one of none, a joined text's parts
 * and a sender past the log's cap; |plain|: without the script. */
static void apply_mix(bool plain, struct flex_reply_done *done, size_t *n)
{
    static const char *const t[][3] = {
        {"+12025550181", "+12025550100", "C"},
        {"+12025550182", "+12025550100", "Can I reschedule to Friday?"},
        {"+12025550183", "+12025550100", "my tooth hurts and the gum is swollen"},
        {"+12025550184", "+12025550100", "Thanks!"},
        {"+12025550184", "+12025550100", "Thanks!"}, /* the carrier's copy */
        {"+12025550185", "+13035550100", "Yes"},     /* no appointment: the front desk */
        {"+12025550186", "+12025550100", "ok see you then"},
        {"+12025550187", "+12025550100", "thanks 2"},
        {"+12025550187", "+12025550100", "thanks 3"},
        {"+12025550188", "+19995550100", "hello there"}, /* an unknown number texted */
        {"+12025550181", "+12025550100", "STOP"},        /* the script's, in the same batch */
    };
    *n = sizeof(t) / sizeof(t[0]);
    sched_appointment();
    flex_store_appendf(st, "HSET flex:moparts:abc 1 wpart");
    assert_int_equal(flex_store_drain(st, 1), 0);
    /* +12025550187: the day's cap (500) less one logged already */
    char key[48];
    flex_conv_key(NOW_MS, key, sizeof(key));
    for (int i = 0; i < FLEX_CONV_MAX - 1; i++)
        flex_store_appendf(st, "ZADD %s 12025550187.5 old%d", key, i);
    assert_int_equal(flex_store_drain(st, FLEX_CONV_MAX - 1), 0);
    rq.plain = plain;
    flex_reply_plain_reset(&rq);
    flex_reply_inbound_begin(&rq);
    for (size_t k = 0; k < *n; k++) {
        struct flex_reply_ctx ctx;
        memset(&ctx, 0, sizeof(ctx));
        if (k == 0) {
            ctx.found = true;
            strcpy(ctx.patient, "p-1");
            strcpy(ctx.location, "loc-1");
            strcpy(ctx.appointment, "a-1");
        }
        struct flex_inbound in = {.from = t[k][0],
                                  .to = t[k][1],
                                  .text = t[k][2],
                                  .carrier = "primary",
                                  .at_ms = NOW_MS + (int64_t)k,
                                  .parts_key = k == 3 ? "flex:moparts:abc" : NULL};
        assert_int_equal(flex_reply_append_inbound(&rq, cfg, &in, &ctx, &done[k]), 0);
        assert_int_equal(done[k].plain != 0, plain && k != 10);
    }
    size_t calls = flex_reply_inbound_end(st, &rq);
    struct redisReply *r;
    assert_int_equal(flex_store_reply(st, &r), 0);
    for (size_t k = 0, i = 0; k < *n; k++)
        if (!done[k].plain)
            assert_int_equal(flex_reply_parse_done(flex_reply_at(r, i++), &done[k]), 0);
    assert_true(calls >= 1);
    flex_store_free_reply(r);
    assert_int_equal(flex_reply_plain_apply(st, &rq), 0);
    for (size_t k = 0; k < *n; k++) {
        const char *why;
        if (done[k].plain)
            assert_int_equal(flex_reply_plain_result(&rq, done[k].plain, &done[k], &why), 0);
    }
    assert_null(flex_reply_plain_counters(&rq));
    rq.plain = false;
}

static char dump_script[65536], dump_plain[65536];

/* The same batch leaves Redis exactly as the script leaves it. */
static void test_plain_writes_what_the_script_writes(void **state)
{
    (void)state;
    struct flex_reply_done a[16], b[16];
    size_t n;
    fresh();
    apply_mix(false, a, &n);
    dump(dump_script, sizeof(dump_script));
    fresh();
    apply_mix(true, b, &n);
    dump(dump_plain, sizeof(dump_plain));
    if (strcmp(dump_plain, dump_script) != 0) { /* the first line that differs, told */
        const char *x = dump_script, *y = dump_plain;
        while (*x && *x == *y) {
            const char *ex = strchr(x, '\n'), *ey = strchr(y, '\n');
            if (!ex || !ey || ex - x != ey - y || memcmp(x, y, (size_t)(ex - x)) != 0)
                break;
            x = ex + 1, y = ey + 1;
        }
        fprintf(stderr, "script: %.600s\nplain:  %.600s\n", x, y);
        fail();
    }
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(a[k].fresh, b[k].fresh);
        assert_int_equal(a[k].changed, b[k].changed);
        assert_int_equal(a[k].intent, b[k].intent);
    }
    assert_false(b[4].fresh); /* the copy */
    assert_true(b[3].fresh);
    /* and what they are: the confirmed appointment's 72h and 24h reminders
     * gone, its 2h and the ids without a tag kept; the parts deleted; the
     * sender at the cap logged once */
    /* (all scored 1: "24h", "a-1/24h/", the 2h reminder, "x//y") */
    assert_int_equal(cmd_int("ZRANK flex:sched %s%s", "p-1/a-1/2h/1", ""), 2);
    assert_int_equal(cmd_int("ZCARD flex:sched%s%s", "", ""), 4);
    assert_int_equal(cmd_int("HLEN flex:sched:jobs%s%s", "", ""), 4);
    assert_int_equal(cmd_int("EXISTS flex:moparts:abc%s%s", "", ""), 0);
    char key[48];
    flex_conv_key(NOW_MS, key, sizeof(key));
    assert_int_equal(cmd_int("ZCOUNT %s %s 12025550187.5", key, "12025550187.5"), FLEX_CONV_MAX);
    assert_int_equal(cmd_int("XLEN %s%s", "flex:confirmations", ""), 3);
    assert_int_equal(cmd_int("XLEN %s%s", "flex:escalations", ""), 1);
    assert_int_equal(cmd_int("HGET %s %s", "flex:stats", "inbound"), 10);
}

/* Another process applies the same text between the reads and the writes:
 * the transaction does nothing, and the next try finds the text a copy. */
static void set_copy_key(void *arg)
{
    const char *key = arg;
    if (cmd_int("EXISTS %s%s", key, "") == 1)
        return; /* the try after: nothing more happens */
    flex_store_appendf(st, "SET %s 1", key);
    assert_int_equal(flex_store_drain(st, 1), 0);
}

/* The appointment's version changes on every try: after 8 the script
 * applies the text, once. */
static void touch_parent(void *arg)
{
    (void)arg;
    flex_store_appendf(st, "HINCRBY flex:parent:appointment:a-1 v 1");
    assert_int_equal(flex_store_drain(st, 1), 0);
}

static size_t one_plain(const char *text, const struct flex_reply_ctx *ctx,
                        struct flex_reply_done *done, const char **why)
{
    struct flex_inbound in = {
        .from = "+12025550189", .to = "+12025550100", .text = text, .at_ms = NOW_MS};
    rq.plain = true;
    flex_reply_plain_reset(&rq);
    flex_reply_inbound_begin(&rq);
    assert_int_equal(flex_reply_append_inbound(&rq, cfg, &in, ctx, done), 0);
    assert_int_equal(done->plain, 1);
    assert_int_equal(flex_reply_inbound_end(st, &rq), 0);
    assert_int_equal(flex_reply_plain_apply(st, &rq), 0);
    rq.plain = false;
    return (size_t)flex_reply_plain_result(&rq, 1, done, why);
}

static void test_plain_watched_key_changed(void **state)
{
    (void)state;
    struct flex_reply_done done;
    struct flex_reply_ctx ctx;
    const char *why;
    memset(&ctx, 0, sizeof(ctx));
    fresh();
    /* the copy key a text gets: applied once with the script first */
    assert_true(apply_one("+12025550189", "Can I come Monday?"));
    flex_store_appendf(st, "KEYS flex:mo:*");
    struct redisReply *r;
    assert_int_equal(flex_store_reply(st, &r), 0);
    assert_int_equal(flex_reply_count(r), 1);
    static char copy_key[64];
    snprintf(copy_key, sizeof(copy_key), "%s", flex_reply_str(flex_reply_at(r, 0), NULL));
    flex_store_free_reply(r);
    fresh();
    rq.plain_between = set_copy_key;
    rq.plain_arg = copy_key;
    uint64_t aborts = rq.plain_aborts;
    assert_int_equal(one_plain("Can I come Monday?", &ctx, &done, &why), 0);
    rq.plain_between = NULL;
    assert_int_equal(rq.plain_aborts, aborts + 1);
    assert_false(done.fresh); /* the other's */
    assert_int_equal(cmd_int("XLEN %s%s", "flex:frontdesk:", "loc-1"), 0);
    assert_int_equal(cmd_int("EXISTS %s%s", "flex:stats", ""), 0);

    /* a confirmation whose appointment changes on every try */
    fresh();
    sched_appointment();
    ctx.found = true;
    strcpy(ctx.patient, "p-1");
    strcpy(ctx.appointment, "a-1");
    rq.plain_between = touch_parent;
    aborts = rq.plain_aborts;
    assert_int_equal(one_plain("C", &ctx, &done, &why), 0);
    rq.plain_between = NULL;
    assert_int_equal(rq.plain_aborts, aborts + 8);
    assert_true(done.fresh);
    assert_int_equal(cmd_int("XLEN %s%s", "flex:confirmations", ""), 1);
    assert_int_equal(cmd_int("ZCARD flex:sched%s%s", "", ""), 4);
    assert_int_equal(cmd_int("HGET %s %s", "flex:stats", "inbound"), 1);
    assert_int_equal(cmd_int("HGET flex:parent:appointment:a-1 %s%s", "v", ""), 8);
}

/* Adds |n| texts (from, to, text; no context) to a batch applied without
 * the script, received a millisecond apart. */
static void plain_batch(const char *const (*t)[3], size_t n, struct flex_reply_done *done)
{
    rq.plain = true;
    flex_reply_plain_reset(&rq);
    flex_reply_inbound_begin(&rq);
    for (size_t k = 0; k < n; k++) {
        struct flex_reply_ctx ctx;
        memset(&ctx, 0, sizeof(ctx));
        struct flex_inbound in = {
            .from = t[k][0], .to = t[k][1], .text = t[k][2], .at_ms = NOW_MS + (int64_t)k};
        assert_int_equal(flex_reply_append_inbound(&rq, cfg, &in, &ctx, &done[k]), 0);
    }
}

/* The first text of |done| refused (WRONGTYPE), the second applied. */
static void first_refused_second_fresh(struct flex_reply_done *done)
{
    const char *why;
    assert_int_equal(flex_reply_plain_result(&rq, done[0].plain, &done[0], &why), -1);
    assert_non_null(strstr(why, "WRONGTYPE"));
    assert_int_equal(flex_reply_plain_result(&rq, done[1].plain, &done[1], &why), 0);
    assert_true(done[1].fresh);
}

/* A write refused (the front desk's stream a string): that text is not
 * applied, told with the refusal; the others of the transaction are. */
static void test_plain_refused_write(void **state)
{
    (void)state;
    fresh();
    flex_store_appendf(st, "SET flex:frontdesk:loc-1 x");
    assert_int_equal(flex_store_drain(st, 1), 0);
    static const char *const t[][3] = {
        {"+12025550191", "+12025550100", "Can I reschedule to Friday?"},
        {"+12025550192", "+13035550100", "Can I reschedule to Friday?"},
    };
    struct flex_reply_done done[2];
    plain_batch(t, 2, done);
    assert_int_equal(flex_reply_plain_apply(st, &rq), 0);
    rq.plain = false;
    first_refused_second_fresh(done);
    assert_int_equal(cmd_int("XLEN %s%s", "flex:frontdesk:", "loc-3"), 1);
    assert_int_equal(cmd_int("XLEN %s%s", "flex:inbound", ""), 2);
}

static int redis_port(void)
{
    flex_store_appendf(st, "CONFIG GET port");
    struct redisReply *r;
    assert_int_equal(flex_store_reply(st, &r), 0);
    int port = atoi(flex_reply_str(flex_reply_at(r, 1), NULL));
    flex_store_free_reply(r);
    return port;
}

/* Redis refuses the EXEC itself for now (out of memory, a replica: its
 * state changed after the commands were queued): nothing was written, and
 * the apply fails (the batch is tried again), never "applied" or "refused
 * for good". */
static void exec_refused_for_now(const char *how)
{
    fresh();
    char dir[] = "/tmp/flex-replies.XXXXXX", rp[16], path[512], portf[64];
    assert_non_null(mkdtemp(dir));
    snprintf(rp, sizeof(rp), "%d", redis_port());
    const char *src = getenv("FLEX_SRCDIR");
    snprintf(path, sizeof(path), "%s/tests/integ/lib/proxy.py", src ? src : ".");
    char *argv[] = {"/usr/bin/python3", path, rp, dir, "exec", (char *)how, NULL};
    pid_t proxy = fork();
    if (proxy == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    assert_true(proxy > 0);
    snprintf(portf, sizeof(portf), "%s/proxy.port", dir);
    FILE *f = NULL;
    for (int i = 0; i < 200 && !(f = fopen(portf, "r")); i++) /* up to 4 s */
        usleep(20000);
    assert_non_null(f);
    int pport = 0;
    assert_int_equal(fscanf(f, "%d", &pport), 1);
    fclose(f);
    unlink(portf);
    rmdir(dir);
    char url[64], why[256];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", pport);
    struct flex_store_params sp = {.url = url};
    struct flex_store *st2 = NULL;
    assert_int_equal(flex_store_connect(&st2, &sp, 3000, why, sizeof(why)), 0);
    struct flex_reply_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    struct flex_inbound in = {.from = "+12025550193",
                              .to = "+12025550100",
                              .text = "Can I reschedule to Friday?",
                              .at_ms = NOW_MS};
    struct flex_reply_done done;
    rq.plain = true;
    flex_reply_plain_reset(&rq);
    flex_reply_inbound_begin(&rq);
    assert_int_equal(flex_reply_append_inbound(&rq, cfg, &in, &ctx, &done), 0);
    int rc = flex_reply_plain_apply(st2, &rq);
    rq.plain = false;
    flex_store_del(st2);
    tc_stop(proxy);
    flex_store_appendf(st, "CONFIG SET maxmemory 0");
    flex_store_appendf(st, "REPLICAOF NO ONE");
    assert_int_equal(flex_store_drain(st, 2), 0);
    assert_int_equal(rc, -1);
    assert_int_equal(flex_reply_plain_applied(&rq), 0);
    assert_int_equal(cmd_int("XLEN %s%s", "flex:inbound", ""), 0);
    assert_int_equal(cmd_int("EXISTS %s%s", "flex:stats", ""), 0);
}

/* An EXEC refused as it ran names its cause after a prefix: the cause
 * decides (the writer's own transactions read it the same way). */
static void test_execabort_cause_is_transient(void **state)
{
    (void)state;
    char oom[] = "EXECABORT Transaction discarded because of: OOM command not allowed";
    char ro[] = "EXECABORT Transaction discarded because of: READONLY You can't write";
    char prev[] = "EXECABORT Transaction discarded because of previous errors.";
    char wrong[] = "EXECABORT Transaction discarded because of: WRONGTYPE Operation";
    redisReply r = {.type = REDIS_REPLY_ERROR};
    r.str = oom;
    assert_true(flex_reply_is_transient(&r));
    r.str = ro;
    assert_true(flex_reply_is_transient(&r));
    r.str = prev;
    assert_false(flex_reply_is_transient(&r));
    r.str = wrong;
    assert_false(flex_reply_is_transient(&r));
}

static void test_plain_exec_oom(void **state)
{
    (void)state;
    exec_refused_for_now("1"); /* out of memory */
}

static void test_plain_exec_readonly(void **state)
{
    (void)state;
    exec_refused_for_now("2"); /* a replica */
}

/* Out of memory from the second transaction of a batch on: the first's
 * 64 texts are written and told (counted and audited by the writer before
 * it tries the batch again), the 65th is not written. */
static int between_calls;
static void oom_on_second(void *arg)
{
    (void)arg;
    if (++between_calls == 2) {
        flex_store_appendf(st, "CONFIG SET maxmemory 1");
        assert_int_equal(flex_store_drain(st, 1), 0);
    }
}

static void test_plain_second_transaction_refused(void **state)
{
    (void)state;
    static char texts[65][32];
    struct flex_reply_done done[65];
    fresh();
    between_calls = 0;
    rq.plain = true;
    rq.plain_between = oom_on_second;
    flex_reply_plain_reset(&rq);
    flex_reply_inbound_begin(&rq);
    for (int k = 0; k < 65; k++) {
        struct flex_reply_ctx ctx;
        memset(&ctx, 0, sizeof(ctx));
        snprintf(texts[k], sizeof(texts[k]), "see you then %d", k);
        struct flex_inbound in = {
            .from = "+12025550194", .to = "+12025550100", .text = texts[k], .at_ms = NOW_MS + k};
        assert_int_equal(flex_reply_append_inbound(&rq, cfg, &in, &ctx, &done[k]), 0);
        assert_int_equal(done[k].plain, k + 1);
    }
    int rc = flex_reply_plain_apply(st, &rq);
    rq.plain = false;
    rq.plain_between = NULL;
    flex_store_appendf(st, "CONFIG SET maxmemory 0");
    assert_int_equal(flex_store_drain(st, 1), 0);
    assert_int_equal(rc, -1);
    assert_int_equal(flex_reply_plain_applied(&rq), 64);
    for (int k = 0; k < 64; k++) {
        const char *why;
        assert_int_equal(flex_reply_plain_result(&rq, done[k].plain, &done[k], &why), 0);
        assert_true(done[k].fresh);
    }
    assert_int_equal(cmd_int("XLEN %s%s", "flex:inbound", ""), 64);
}

/* A read refused (the day's log a string: ZCOUNT answers WRONGTYPE): the
 * script applies that transaction, so the text fails as it does there,
 * its writes before the refusal kept (its copy key, its flex:inbound
 * entry); the text with it is applied. */
static void test_plain_read_refused(void **state)
{
    (void)state;
    char key[48];
    flex_conv_key(NOW_MS, key, sizeof(key));
    fresh();
    flex_store_appendf(st, "SET %s x", key);
    assert_int_equal(flex_store_drain(st, 1), 0);
    static const char *const t[][3] = {
        {"+12025550195", "+12025550100", "Can I reschedule to Friday?"},
        {"", "+12025550100", "Can I reschedule to Monday?"}, /* no score: no log read */
    };
    struct flex_reply_done done[2];
    plain_batch(t, 2, done);
    uint64_t aborts = rq.plain_aborts;
    assert_int_equal(flex_reply_plain_apply(st, &rq), 0);
    rq.plain = false;
    assert_int_equal(rq.plain_aborts, aborts); /* (not a watched key: no retry) */
    first_refused_second_fresh(done);
    assert_int_equal(cmd_int("XLEN %s%s", "flex:inbound", ""), 2);
    assert_int_equal(cmd_int("XLEN %s%s", "flex:frontdesk:", "loc-1"), 1);
}

/* The log's record of a text sent to |phone| from loc-1 for |patient|. */
static void log_sent(const char *phone, const char *patient, int64_t at)
{
    char rec[512], key[48], score[24];
    long n = flex_conv_record(rec, sizeof(rec), at, 'o', "loc-1", patient, "", "job-1",
                              "reminder_24h", NULL, "Hi, see you tomorrow");
    assert_true(n > 0);
    flex_conv_key(at, key, sizeof(key));
    assert_int_equal(flex_conv_score(phone, score, sizeof(score)), 0);
    flex_store_appendf(st, "ZADD %s %s %b", key, score, rec, (size_t)n);
    assert_int_equal(flex_store_drain(st, 1), 0);
}

static void test_contexts_in_one_call(void **state)
{
    (void)state;
    fresh();
    log_sent("+12025550181", "p-81", NOW_MS - 3600000);
    log_sent("+12025550183", "p-83", NOW_MS - 7200000);
    /* 25 texts received from +12025550183 since: more than a context reads
     * (FLEX_REPLY_CONTEXT), scored apart from the text sent */
    static const char *const many[][3] = {{"+12025550183", "+12025550100", "thanks"}};
    for (int i = 0; i < 25; i++) {
        char text[32];
        snprintf(text, sizeof(text), "thanks %d", i);
        const char *const t[][3] = {{many[0][0], many[0][1], text}};
        struct flex_reply_done done[1];
        flex_store_free_reply(apply(t, 1, done));
    }
    char key[48], in[24];
    flex_conv_key(NOW_MS, key, sizeof(key));
    assert_int_equal(flex_conv_score_in("+12025550183", in, sizeof(in)), 0);
    flex_store_appendf(st, "ZCOUNT %s %s %s", key, in, in);
    struct redisReply *c;
    assert_int_equal(flex_store_reply(st, &c), 0);
    assert_int_equal(flex_reply_integer(c), 25);
    flex_store_free_reply(c);
    const char *from[] = {"+12025550181", "+12025550182", "+12025550183"};
    const char *loc[] = {"loc-1", "loc-1", NULL};
    flex_reply_append_contexts(st, &rq, cfg, from, loc, 3, NOW_MS);
    struct redisReply *r;
    assert_int_equal(flex_store_reply(st, &r), 0);
    assert_int_equal(flex_reply_count(r), 3);
    struct flex_reply_ctx ctx;
    flex_reply_parse_context(cfg, flex_reply_at(r, 0), "loc-1", NOW_MS, &ctx);
    assert_true(ctx.found);
    assert_string_equal(ctx.patient, "p-81");
    flex_reply_parse_context(cfg, flex_reply_at(r, 1), "loc-1", NOW_MS, &ctx);
    assert_false(ctx.found); /* never texted */
    /* only the text sent is read, not the 25 received */
    assert_int_equal(flex_reply_count(flex_reply_at(r, 2)), 1);
    flex_reply_parse_context(cfg, flex_reply_at(r, 2), NULL, NOW_MS, &ctx);
    assert_true(ctx.found);
    assert_string_equal(ctx.patient, "p-83");
    flex_store_free_reply(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_refused_text_stops_alone),
        cmocka_unit_test(test_a_copy_in_the_same_call),
        cmocka_unit_test(test_a_late_start_copy_keeps_the_stop),
        cmocka_unit_test(test_expiry_despite_a_refused_counter),
        cmocka_unit_test(test_contexts_in_one_call),
        cmocka_unit_test(test_plain_writes_what_the_script_writes),
        cmocka_unit_test(test_plain_watched_key_changed),
        cmocka_unit_test(test_plain_refused_write),
        cmocka_unit_test(test_execabort_cause_is_transient),
        cmocka_unit_test(test_plain_exec_oom),
        cmocka_unit_test(test_plain_exec_readonly),
        cmocka_unit_test(test_plain_second_transaction_refused),
        cmocka_unit_test(test_plain_read_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
