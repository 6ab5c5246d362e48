/* The ESME's message-id map: random churn against a plain array as the
 * reference, removal in the middle of wrapped probe runs, the TTL on
 * growth, and a steady rate of ids that never grows the table. */
#include "test_common.h"

#include <stdio.h>
#include <string.h>

#include "idmap.h"

#define NKEYS 5000

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void key_of(unsigned i, char *out)
{
    snprintf(out, 65, "%08X%u", i * 2654435761u, i);
}

static void test_idmap_matches_reference(void **state)
{
    (void)state;
    struct flex_idmap *m = flex_idmap_new(UINT64_MAX / 2, 42);
    static uint64_t ref[NKEYS]; /* 0: absent, else cookie */
    memset(ref, 0, sizeof(ref));
    size_t live = 0;
    char key[65];
    for (int step = 0; step < 400000; step++) {
        unsigned i = (unsigned)(next_rand() % NKEYS);
        key_of(i, key);
        uint64_t got = 0;
        if (next_rand() % 3 == 0) { /* put (or replace) */
            uint64_t c = next_rand() | 1;
            flex_idmap_put(m, key, c, (uint64_t)step);
            live += ref[i] == 0;
            ref[i] = c;
        } else { /* take */
            bool found = flex_idmap_take(m, key, &got);
            assert_int_equal(found, ref[i] != 0);
            if (found) {
                assert_int_equal(got, ref[i]);
                ref[i] = 0;
                live--;
            }
        }
        assert_int_equal(flex_idmap_count(m), live);
    }
    /* Every key still mapped is found once, then gone. */
    for (unsigned i = 0; i < NKEYS; i++) {
        key_of(i, key);
        uint64_t got = 0;
        assert_int_equal(flex_idmap_take(m, key, &got), ref[i] != 0);
        if (ref[i])
            assert_int_equal(got, ref[i]);
        assert_false(flex_idmap_take(m, key, &got));
    }
    assert_int_equal(flex_idmap_count(m), 0);
    flex_idmap_free(m);
}

/* Half full, so probe runs are long and wrap around the end; removing
 * from anywhere in them must leave every other key reachable. */
static void test_idmap_remove_in_runs(void **state)
{
    (void)state;
    struct flex_idmap *m = flex_idmap_new(UINT64_MAX / 2, 7);
    size_t cap = flex_idmap_capacity(m), n = cap / 2 - 1;
    char key[65];
    for (unsigned i = 0; i < n; i++) {
        key_of(i, key);
        flex_idmap_put(m, key, i + 1, 0);
    }
    assert_int_equal(flex_idmap_capacity(m), cap); /* no growth yet */
    for (unsigned i = 0; i < n; i += 2) {
        key_of(i, key);
        uint64_t c;
        assert_true(flex_idmap_take(m, key, &c));
        assert_int_equal(c, i + 1);
    }
    for (unsigned i = 1; i < n; i += 2) {
        key_of(i, key);
        uint64_t c;
        assert_true(flex_idmap_take(m, key, &c));
        assert_int_equal(c, i + 1);
    }
    assert_int_equal(flex_idmap_count(m), 0);
    flex_idmap_free(m);
}

/* Growth drops entries past their TTL; the rest survive it. */
static void test_idmap_ttl_on_growth(void **state)
{
    (void)state;
    struct flex_idmap *m = flex_idmap_new(1000, 9);
    char key[65];
    size_t cap = flex_idmap_capacity(m);
    for (unsigned i = 0; i < cap / 2; i++) { /* stale by the time the map grows */
        key_of(i, key);
        flex_idmap_put(m, key, 1, 0);
    }
    key_of(999999, key);
    flex_idmap_put(m, key, 77, 5000); /* this put grows the map */
    assert_int_equal(flex_idmap_count(m), 1);
    uint64_t c = 0;
    assert_true(flex_idmap_take(m, key, &c));
    assert_int_equal(c, 77);
    key_of(3, key);
    assert_false(flex_idmap_take(m, key, &c));
    flex_idmap_free(m);
}

/* Ids that come and go (a window of live ones at any time) never grow
 * the table: removals leave nothing behind. */
static void test_idmap_steady_rate_keeps_size(void **state)
{
    (void)state;
    struct flex_idmap *m = flex_idmap_new(UINT64_MAX / 2, 11);
    size_t cap = flex_idmap_capacity(m);
    char key[65];
    const unsigned window = 300;
    for (unsigned i = 0; i < 200000; i++) {
        key_of(i, key);
        flex_idmap_put(m, key, i + 1, i);
        if (i >= window) {
            key_of(i - window, key);
            uint64_t c;
            assert_true(flex_idmap_take(m, key, &c));
            assert_int_equal(c, i - window + 1);
        }
    }
    assert_int_equal(flex_idmap_capacity(m), cap);
    assert_int_equal(flex_idmap_count(m), window);
    flex_idmap_free(m);
}

/* A cap holds the count whatever the flow; evictions are counted and take
 * old entries (a sample's oldest), so the newest are all still there. */
static void test_idmap_limit_evicts_old(void **state)
{
    (void)state;
    struct flex_idmap *m = flex_idmap_new(UINT64_MAX, 7);
    flex_idmap_set_limit(m, 1000);
    char key[32];
    for (uint64_t i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "%llx", (unsigned long long)i);
        flex_idmap_put(m, key, i + 1, i);
        assert_true(flex_idmap_count(m) <= 1000);
    }
    assert_int_equal(flex_idmap_count(m), 1000);
    assert_int_equal(flex_idmap_evicted(m), 99000);
    /* the last 100 put are never the oldest of a sample of 16 */
    for (uint64_t i = 99900; i < 100000; i++) {
        uint64_t c;
        snprintf(key, sizeof(key), "%llx", (unsigned long long)i);
        assert_true(flex_idmap_get(m, key, &c));
        assert_int_equal(c, i + 1);
    }
    /* a key already there is replaced, not counted as new */
    snprintf(key, sizeof(key), "%llx", 99999ULL);
    flex_idmap_put(m, key, 5, 100000);
    assert_int_equal(flex_idmap_evicted(m), 99000);
    assert_true(flex_idmap_capacity(m) <= 4096);
    flex_idmap_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idmap_matches_reference),
        cmocka_unit_test(test_idmap_remove_in_runs),
        cmocka_unit_test(test_idmap_ttl_on_growth),
        cmocka_unit_test(test_idmap_steady_rate_keeps_size),
        cmocka_unit_test(test_idmap_limit_evicts_old),
    };
    return cmocka_run_group_tests_name("idmap", tests, NULL, NULL);
}
