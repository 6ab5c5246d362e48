/* Opt-out bloom filter: no false negatives, false-positive rate near the
 * target, keyed hashing, and a serialized form that checks itself. */
#include "test_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bloom.h"
#include "err.h"
#include "mem.h"

static const struct flex_hash_key key = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};

/* Fictional numbers: +1 202 555 xxxx style, unique per i. */
static size_t number(uint64_t i, char *buf)
{
    return (size_t)snprintf(buf, 24, "+1%03llu555%04llu", 200ULL + (i / 10000) % 800,
                            (unsigned long long)(i % 10000));
}

static void check_rate(uint64_t n, double target)
{
    struct flex_bloom *b;
    char buf[24];
    assert_int_equal(flex_bloom_new(&b, n, target, &key), 0);
    for (uint64_t i = 0; i < n; i++)
        flex_bloom_add(b, buf, number(i, buf));
    for (uint64_t i = 0; i < n; i++)
        assert_true(flex_bloom_maybe(b, buf, number(i, buf)));
    /* Non-members: the same shape of string, disjoint range. */
    uint64_t trials = 2000000, fp = 0;
    for (uint64_t i = 0; i < trials; i++) {
        int len = snprintf(buf, sizeof(buf), "+44%010llu", (unsigned long long)i);
        fp += flex_bloom_maybe(b, buf, (size_t)len);
    }
    double rate = (double)fp / (double)trials;
    printf("# n=%llu target=%g measured=%g predicted=%g bits/key=%.2f k=%u\n",
           (unsigned long long)n, target, rate, flex_bloom_predicted_fpr(b),
           (double)flex_bloom_bits(b) / (double)n, flex_bloom_k(b));
    /* 25% over target allows for sampling noise (2M trials); the sizing
     * aims at the target itself. */
    assert_true(rate <= target * 1.25);
    assert_true(flex_bloom_predicted_fpr(b) <= target);
    flex_bloom_del(b);
}

static void test_bloom_one_million_at_0_1_percent(void **state)
{
    (void)state;
    check_rate(1000000, 0.001);
}

static void test_bloom_other_sizes(void **state)
{
    (void)state;
    check_rate(10000, 0.01);
    check_rate(200000, 0.0001);
}

static void test_bloom_rejects_bad_parameters(void **state)
{
    (void)state;
    struct flex_bloom *b;
    assert_int_equal(flex_bloom_new(&b, 0, 0.01, &key), FLEX_E_INVAL);
    assert_int_equal(flex_bloom_new(&b, 100, 0, &key), FLEX_E_INVAL);
    assert_int_equal(flex_bloom_new(&b, 100, 1, &key), FLEX_E_INVAL);
}

static void test_bloom_serialize_round_trip(void **state)
{
    (void)state;
    struct flex_bloom *b, *c;
    char buf[24];
    assert_int_equal(flex_bloom_new(&b, 5000, 0.001, &key), 0);
    for (uint64_t i = 0; i < 5000; i++)
        flex_bloom_add(b, buf, number(i, buf));
    size_t sz = flex_bloom_serialized_size(b);
    unsigned char *data = flex_malloc(sz);
    assert_int_equal(flex_bloom_serialize(b, data, sz - 1), FLEX_E_NOSPACE);
    assert_int_equal(flex_bloom_serialize(b, data, sz), (long)sz);
    assert_int_equal(flex_bloom_load(&c, data, sz, &key), 0);
    assert_int_equal(flex_bloom_count(c), 5000);
    for (uint64_t i = 0; i < 5000; i++)
        assert_true(flex_bloom_maybe(c, buf, number(i, buf)));
    flex_bloom_del(c);

    /* The wrong key is detected, not silently used. */
    struct flex_hash_key other = {1, 2};
    assert_int_equal(flex_bloom_load(&c, data, sz, &other), FLEX_E_KEY);
    /* Any flipped bit or truncation is corruption. */
    data[sz / 2] ^= 0x10;
    assert_int_equal(flex_bloom_load(&c, data, sz, &key), FLEX_E_CORRUPT);
    data[sz / 2] ^= 0x10;
    assert_int_equal(flex_bloom_load(&c, data, sz - 64, &key), FLEX_E_CORRUPT);
    assert_int_equal(flex_bloom_load(&c, data, 10, &key), FLEX_E_CORRUPT);
    data[0] = 'X';
    assert_int_equal(flex_bloom_load(&c, data, sz, &key), FLEX_E_CORRUPT);
    flex_free(data);
    flex_bloom_del(b);
}

/* The same numbers under two keys set different bits: a dump cannot be
 * tested against candidate numbers without the key. */
static void test_bloom_bits_depend_on_key(void **state)
{
    (void)state;
    struct flex_hash_key k2 = {key.k0 ^ 1, key.k1};
    struct flex_bloom *a, *b;
    char buf[24];
    assert_int_equal(flex_bloom_new(&a, 1000, 0.01, &key), 0);
    assert_int_equal(flex_bloom_new(&b, 1000, 0.01, &k2), 0);
    for (uint64_t i = 0; i < 100; i++) {
        size_t n = number(i, buf);
        flex_bloom_add(a, buf, n);
        flex_bloom_add(b, buf, n);
    }
    size_t sz = flex_bloom_serialized_size(a);
    unsigned char *da = flex_malloc(sz), *db = flex_malloc(sz);
    flex_bloom_serialize(a, da, sz);
    flex_bloom_serialize(b, db, sz);
    size_t same = 0;
    for (size_t i = 48; i < sz; i++)
        same += da[i] == db[i];
    assert_true(same < (sz - 48) * 95 / 100 || (sz - 48) - same > 100);
    assert_memory_not_equal(da + 48, db + 48, sz - 48);
    flex_free(da);
    flex_free(db);
    flex_bloom_del(a);
    flex_bloom_del(b);
}

static void test_bloom_batch_agrees_with_single(void **state)
{
    (void)state;
    struct flex_bloom *b;
    static char nums[1000][24];
    const void *keys[1000];
    size_t lens[1000];
    bool out[1000];
    assert_int_equal(flex_bloom_new(&b, 500, 0.01, &key), 0);
    for (int i = 0; i < 1000; i++) {
        lens[i] = number((uint64_t)i * 7, nums[i]);
        keys[i] = nums[i];
        if (i % 2 == 0)
            flex_bloom_add(b, nums[i], lens[i]);
    }
    flex_bloom_maybe_batch(b, keys, lens, 1000, out);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(out[i], flex_bloom_maybe(b, nums[i], lens[i]));
        if (i % 2 == 0)
            assert_true(out[i]);
    }
    flex_bloom_del(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bloom_one_million_at_0_1_percent),
        cmocka_unit_test(test_bloom_other_sizes),
        cmocka_unit_test(test_bloom_rejects_bad_parameters),
        cmocka_unit_test(test_bloom_serialize_round_trip),
        cmocka_unit_test(test_bloom_bits_depend_on_key),
        cmocka_unit_test(test_bloom_batch_agrees_with_single),
    };
    return cmocka_run_group_tests_name("bloom", tests, NULL, NULL);
}
