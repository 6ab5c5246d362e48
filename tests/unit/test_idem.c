/* The idempotency bucket of a job id: fixed (every flexd, flexctl and
 * version must find the same hash), spread over every bucket, and the key
 * always fits its buffer. */
#include "test_common.h"

#include <stdio.h>
#include <string.h>

#include "idem.h"

static void test_idem_bucket_fixed(void **state)
{
    (void)state;
    /* FNV-1a 32 modulo 1024, computed independently (Python) */
    assert_int_equal(flex_idem_bucket("m-1", 3), 474);
    assert_int_equal(flex_idem_bucket("fb-0000001", 10), 975);
    assert_int_equal(flex_idem_bucket("", 0), 453);
    assert_int_equal(flex_idem_bucket("a-2001/24h/1764844200", 21), 760);
    char key[FLEX_IDEM_KEY_MAX];
    assert_int_equal(flex_idem_key("m-1", 3, key), strlen("flex:idem:474"));
    assert_string_equal(key, "flex:idem:474");
}

static void test_idem_buckets_spread(void **state)
{
    (void)state;
    static unsigned count[FLEX_IDEM_BUCKETS];
    char id[32], key[FLEX_IDEM_KEY_MAX];
    size_t longest = 0;
    for (int i = 0; i < 200000; i++) {
        int n = snprintf(id, sizeof(id), "fb-%07d", i);
        unsigned b = flex_idem_bucket(id, (size_t)n);
        assert_true(b < FLEX_IDEM_BUCKETS);
        count[b]++;
        size_t kl = flex_idem_key(id, (size_t)n, key);
        assert_int_equal(kl, strlen(key));
        longest = kl > longest ? kl : longest;
    }
    assert_true(longest < FLEX_IDEM_KEY_MAX);
    unsigned lo = count[0], hi = count[0];
    for (int b = 1; b < FLEX_IDEM_BUCKETS; b++) {
        lo = count[b] < lo ? count[b] : lo;
        hi = count[b] > hi ? count[b] : hi;
    }
    /* ~195 each: sequential ids must not pile into a few buckets */
    assert_true(lo > 100);
    assert_true(hi < 300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idem_bucket_fixed),
        cmocka_unit_test(test_idem_buckets_spread),
    };
    return cmocka_run_group_tests_name("idem", tests, NULL, NULL);
}
