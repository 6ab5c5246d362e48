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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
