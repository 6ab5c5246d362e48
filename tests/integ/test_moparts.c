/* The parts of a longer inbound text, joined in Redis (engine/core/reply.h)
 * against a real redis-server started here: parts in any order and more
 * than once, a part the adapter cut, the cap on the joined bytes, the
 * set's lifetime from its first part, and the set's key. */
#include "../unit/test_common.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reply.h"
#include "smpp_client.h"
#include "store.h"

static pid_t redis_pid;
static struct flex_store *st;
static struct flex_reply rq;

static int setup(void **state)
{
    (void)state;
    return tc_redis_scripts(&redis_pid, &st, &rq);
}

static int teardown(void **state)
{
    (void)state;
    tc_redis_scripts_end(redis_pid, st, &rq);
    return 0;
}

/* Stores part |seq| of |total|; returns what the script said (1 whole, with
 * the joined bytes copied into |out|, NUL-terminated, and |*cut|). */
static int part(const char *key, unsigned seq, unsigned total, const char *b, size_t n, bool cut,
                char *out, size_t outsz, size_t *outlen, bool *outcut)
{
    flex_reply_append_part(st, &rq, key, seq, total, (const uint8_t *)b, n, cut);
    struct redisReply *r;
    assert_int_equal(flex_store_reply(st, &r), 0);
    const char *data;
    size_t len = 0;
    bool c = false;
    int rc = flex_reply_parse_part(r, &data, &len, &c);
    if (rc == 1) {
        assert_true(len < outsz);
        memcpy(out, data, len);
        out[len] = '\0';
        *outlen = len;
        *outcut = c;
    }
    flex_store_free_reply(r);
    return rc;
}

static long long cmd_int(const char *fmt, const char *arg)
{
    flex_store_appendf(st, fmt, arg);
    struct redisReply *r;
    assert_int_equal(flex_store_reply(st, &r), 0);
    long long v = flex_reply_integer(r);
    flex_store_free_reply(r);
    return v;
}

static void test_parts_any_order_and_copies(void **state)
{
    (void)state;
    char key[FLEX_PARTS_KEY_SZ], out[8192];
    size_t len;
    bool cut;
    flex_parts_key("+12025550161", "+12025550100", 7, 3, 8, key);
    assert_int_equal(part(key, 3, 3, "CC", 2, false, out, sizeof(out), &len, &cut), 0);
    assert_int_equal(part(key, 1, 3, "AAAA", 4, false, out, sizeof(out), &len, &cut), 0);
    /* a carrier's copy of a part stored: the first copy stands */
    assert_int_equal(part(key, 1, 3, "XXXX", 4, false, out, sizeof(out), &len, &cut), 0);
    assert_int_equal(part(key, 2, 3, "BBB", 3, false, out, sizeof(out), &len, &cut), 1);
    assert_string_equal(out, "AAAABBBCC");
    assert_false(cut);
    /* a copy after the text is whole (the set not deleted yet: a crash
     * before the text was stored): whole again, the same bytes */
    assert_int_equal(part(key, 2, 3, "ZZZ", 3, false, out, sizeof(out), &len, &cut), 1);
    assert_string_equal(out, "AAAABBBCC");
    assert_int_equal(cmd_int("DEL %s", key), 1);
}

static void test_parts_cut_and_cap(void **state)
{
    (void)state;
    char key[FLEX_PARTS_KEY_SZ], out[8192];
    size_t len;
    bool cut;
    /* part 2 cut by the adapter: nothing after it is kept */
    flex_parts_key("+12025550162", "+12025550100", 9, 3, 0, key);
    assert_int_equal(part(key, 1, 3, "one ", 4, false, out, sizeof(out), &len, &cut), 0);
    assert_int_equal(part(key, 2, 3, "two", 3, true, out, sizeof(out), &len, &cut), 0);
    assert_int_equal(part(key, 3, 3, " three", 6, false, out, sizeof(out), &len, &cut), 1);
    assert_string_equal(out, "one two");
    assert_true(cut);
    /* four parts of 1,600 bytes: the first FLEX_PARTS_TEXT_MAX kept, flagged */
    static char big[1600];
    memset(big, 'q', sizeof(big));
    flex_parts_key("+12025550163", "+12025550100", 10, 4, 0, key);
    for (unsigned s = 1; s <= 3; s++)
        assert_int_equal(part(key, s, 4, big, sizeof(big), false, out, sizeof(out), &len, &cut), 0);
    assert_int_equal(part(key, 4, 4, big, sizeof(big), false, out, sizeof(out), &len, &cut), 1);
    assert_int_equal(len, FLEX_PARTS_TEXT_MAX);
    assert_true(cut);
    /* binary bytes (UCS-2 has NULs) come back as they went */
    static const char ucs[] = {0x00, 'H', 0x00, 'i', 0xd8, 0x3d, 0xde, 0x00};
    flex_parts_key("+12025550164", "+12025550100", 11, 2, 8, key);
    assert_int_equal(part(key, 2, 2, ucs + 4, 4, false, out, sizeof(out), &len, &cut), 0);
    assert_int_equal(part(key, 1, 2, ucs, 4, false, out, sizeof(out), &len, &cut), 1);
    assert_int_equal(len, 8);
    assert_memory_equal(out, ucs, 8);
}

static void test_parts_lifetime_from_first_part(void **state)
{
    (void)state;
    char key[FLEX_PARTS_KEY_SZ], out[64];
    size_t len;
    bool cut;
    flex_parts_key("+12025550165", "+12025550100", 12, 3, 0, key);
    assert_int_equal(part(key, 1, 3, "a", 1, false, out, sizeof(out), &len, &cut), 0);
    assert_int_equal(cmd_int("PEXPIRE %s 1000", key), 1); /* as if 299 s had passed */
    assert_int_equal(part(key, 2, 3, "b", 1, false, out, sizeof(out), &len, &cut), 0);
    long long ttl = cmd_int("PTTL %s", key);
    assert_true(ttl > 0 && ttl <= 1000); /* a later part does not keep it alive */
    assert_int_equal(cmd_int("DEL %s", key), 1);
    flex_parts_key("+12025550166", "+12025550100", 12, 3, 0, key);
    assert_int_equal(part(key, 3, 3, "c", 1, false, out, sizeof(out), &len, &cut), 0);
    ttl = cmd_int("PTTL %s", key);
    assert_true(ttl > FLEX_PARTS_TTL_MS - 10000 && ttl <= FLEX_PARTS_TTL_MS);
}

/* What one process may store per window (engine.inbound_parts_kb). */
static void test_parts_budget(void **state)
{
    (void)state;
    struct flex_parts_budget b = {0};
    int64_t t = 1000000;
    uint64_t max = 3 * (100 + FLEX_PARTS_COST);
    for (int i = 0; i < 3; i++)
        assert_true(flex_parts_budget_take(&b, t + i, 100, max));
    assert_false(flex_parts_budget_take(&b, t + 10, 100, max)); /* full */
    assert_false(flex_parts_budget_take(&b, t + FLEX_PARTS_TTL_MS - 1, 0, max));
    assert_true(flex_parts_budget_take(&b, t + FLEX_PARTS_TTL_MS, 100, max)); /* a new window */
    assert_int_equal(b.used, 100 + FLEX_PARTS_COST);
    assert_true(flex_parts_budget_take(&b, t, 100, max));  /* the clock set back: a new one */
    assert_false(flex_parts_budget_take(&b, t, max, max)); /* one part over the whole */
}

static void test_parts_key(void **state)
{
    (void)state;
    char a[FLEX_PARTS_KEY_SZ], b[FLEX_PARTS_KEY_SZ];
    flex_parts_key("+12025550161", "+12025550100", 7, 3, 8, a);
    assert_int_equal(strncmp(a, FLEX_KEY_MOPARTS, strlen(FLEX_KEY_MOPARTS)), 0);
    assert_null(strstr(a, "2025550161")); /* no number in a key name */
    assert_int_equal(strlen(a), strlen(FLEX_KEY_MOPARTS) + 32);
    flex_parts_key("+12025550161", "+12025550100", 7, 3, 8, b);
    assert_string_equal(a, b); /* the same in every process */
    const char *other[][2] = {{"+12025550162", "+12025550100"}, {"+12025550161", "+12025550101"}};
    for (int i = 0; i < 2; i++) {
        flex_parts_key(other[i][0], other[i][1], 7, 3, 8, b);
        assert_string_not_equal(a, b);
    }
    flex_parts_key("+12025550161", "+12025550100", 8, 3, 8, b);
    assert_string_not_equal(a, b);
    flex_parts_key("+12025550161", "+12025550100", 7, 4, 8, b);
    assert_string_not_equal(a, b);
    flex_parts_key("+12025550161", "+12025550100", 7, 3, 0, b);
    assert_string_not_equal(a, b);
    /* the fields cannot run into each other */
    flex_parts_key("+1202555016", "1+12025550100", 7, 3, 8, b);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts_any_order_and_copies),
        cmocka_unit_test(test_parts_cut_and_cap),
        cmocka_unit_test(test_parts_lifetime_from_first_part),
        cmocka_unit_test(test_parts_key),
        cmocka_unit_test(test_parts_budget),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
