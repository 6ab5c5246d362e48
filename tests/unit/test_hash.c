/* SipHash against the reference vectors (Aumasson & Bernstein, key
 * 00 01 .. 0f, message 00 01 .. (len-1)). */
#include "test_common.h"

#include "hash.h"

static struct flex_hash_key ref_key(void)
{
    unsigned char k[16];
    for (int i = 0; i < 16; i++)
        k[i] = (unsigned char)i;
    return flex_hash_key_from_bytes(k);
}

static void test_hash_siphash24_reference_vectors(void **state)
{
    (void)state;
    struct flex_hash_key key = ref_key();
    unsigned char msg[64];
    for (int i = 0; i < 64; i++)
        msg[i] = (unsigned char)i;
    assert_int_equal(flex_siphash24(&key, msg, 0), 0x726fdb47dd0e0e31ULL);
    assert_int_equal(flex_siphash24(&key, msg, 1), 0x74f839c593dc67fdULL);
    assert_int_equal(flex_siphash24(&key, msg, 8), 0x93f5f5799a932462ULL);
    assert_int_equal(flex_siphash24(&key, msg, 15), 0xa129ca6149be45e5ULL);
}

static void test_hash_siphash13_depends_on_key_and_every_byte(void **state)
{
    (void)state;
    struct flex_hash_key key = ref_key(), other = {key.k0, key.k1 ^ 0x100};
    const char *a = "+12025550143";
    uint64_t h = flex_siphash13(&key, a, 12);
    assert_int_not_equal(h, flex_siphash13(&other, a, 12));
    assert_int_not_equal(h, flex_siphash24(&key, a, 12));
    char b[13] = "+12025550143";
    for (int i = 0; i < 12; i++) {
        b[i] ^= 1;
        assert_int_not_equal(h, flex_siphash13(&key, b, 12));
        b[i] ^= 1;
    }
    assert_int_equal(h, flex_siphash13(&key, b, 12));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_siphash24_reference_vectors),
        cmocka_unit_test(test_hash_siphash13_depends_on_key_and_every_byte),
    };
    return cmocka_run_group_tests_name("hash", tests, NULL, NULL);
}
