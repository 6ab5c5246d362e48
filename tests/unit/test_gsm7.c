/* GSM 03.38: both tables, escapes, decoding of wire septets, packing. */
#include "test_common.h"

#include <string.h>

#include "err.h"
#include "gsm7.h"

static void test_gsm7_basic_and_extension(void **state)
{
    (void)state;
    unsigned char out[64];
    struct flex_text_error err;
    /* "@£$¥" -> 00 01 02 03; "€" -> 1B 65; "{}" -> 1B 28 1B 29 */
    const char *in = "@\xc2\xa3$\xc2\xa5\xe2\x82\xac{}";
    long n = flex_gsm7_encode(in, strlen(in), out, sizeof(out), &err);
    const unsigned char want[] = {0x00, 0x01, 0x02, 0x03, 0x1B, 0x65, 0x1B, 0x28, 0x1B, 0x29};
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(out, want, sizeof(want));
    /* Greek capitals live in the basic table. */
    n = flex_gsm7_encode("\xce\x94\xce\xa9", 4, out, sizeof(out), &err); /* ΔΩ */
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 0x10);
    assert_int_equal(out[1], 0x15);
    assert_int_equal(flex_gsm7_count("a^b", 3), 4);
    assert_int_equal(flex_gsm7_count("Zo\xc3\xab", 4), -1); /* ë is not GSM */
}

static void test_gsm7_rejects_with_offsets(void **state)
{
    (void)state;
    unsigned char out[64];
    struct flex_text_error err;
    assert_int_equal(flex_gsm7_encode("ab`c", 4, out, sizeof(out), &err), FLEX_E_NOTGSM);
    assert_int_equal(err.offset, 2); /* backtick is not in GSM 03.38 */
    assert_int_equal(flex_gsm7_encode("Hi \xf0\x9f\x98\x80", 7, out, sizeof(out), &err),
                     FLEX_E_NOTGSM);
    assert_int_equal(err.offset, 3);
    assert_int_equal(flex_gsm7_encode("a\xc3", 2, out, sizeof(out), &err), FLEX_E_UTF8);
    assert_int_equal(err.offset, 1);
    assert_int_equal(flex_gsm7_encode("abc{", 4, out, 4, &err), FLEX_E_TOOLONG);
}

static void test_gsm7_round_trip_every_character(void **state)
{
    (void)state;
    char utf8[1024], back[1024];
    unsigned char sept[512];
    struct flex_text_error err;
    size_t n = 0;
    /* Every basic septet but ESC, then every extension character. */
    for (uint32_t s = 0; s < 128; s++) {
        if (s == FLEX_GSM7_ESC)
            continue;
        unsigned char tmp[8];
        char dec[8];
        tmp[0] = (unsigned char)s;
        long m = flex_gsm7_decode(tmp, 1, dec, sizeof(dec));
        assert_true(m > 0);
        memcpy(utf8 + n, dec, (size_t)m);
        n += (size_t)m;
    }
    const char *ext = "\x0c^{}\\[~]|\xe2\x82\xac";
    memcpy(utf8 + n, ext, strlen(ext));
    n += strlen(ext);
    long k = flex_gsm7_encode(utf8, n, sept, sizeof(sept), &err);
    assert_int_equal(k, 127 + 2 * 10);
    long m = flex_gsm7_decode(sept, (size_t)k, back, sizeof(back));
    assert_int_equal(m, (long)n);
    assert_memory_equal(back, utf8, n);
}

static void test_gsm7_decode_tolerates_odd_escapes(void **state)
{
    (void)state;
    char out[16];
    const unsigned char unknown[] = {0x1B, 0x41};  /* unknown escape: basic 'A' */
    const unsigned char trailing[] = {0x41, 0x1B}; /* ESC at the end: space */
    const unsigned char doubled[] = {0x1B, 0x1B, 0x42};
    const unsigned char high[] = {0xC1}; /* bit 8 ignored */
    flex_gsm7_decode(unknown, 2, out, sizeof(out));
    assert_string_equal(out, "A");
    flex_gsm7_decode(trailing, 2, out, sizeof(out));
    assert_string_equal(out, "A ");
    flex_gsm7_decode(doubled, 3, out, sizeof(out));
    assert_string_equal(out, " B");
    flex_gsm7_decode(high, 1, out, sizeof(out));
    assert_string_equal(out, "A");
    assert_int_equal(flex_gsm7_decode(unknown, 2, out, 1), FLEX_E_NOSPACE);
}

static void test_gsm7_pack_unpack(void **state)
{
    (void)state;
    /* "hellohello" packs to the classic E8329BFD4697D9EC37 */
    unsigned char sept[16], packed[16], back[16];
    struct flex_text_error err;
    long n = flex_gsm7_encode("hellohello", 10, sept, sizeof(sept), &err);
    long p = flex_gsm7_pack(sept, (size_t)n, packed, sizeof(packed));
    const unsigned char want[] = {0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37};
    assert_int_equal(p, sizeof(want));
    assert_memory_equal(packed, want, sizeof(want));
    long u = flex_gsm7_unpack(packed, (size_t)p, (size_t)n, back, sizeof(back));
    assert_int_equal(u, n);
    assert_memory_equal(back, sept, (size_t)n);
    assert_int_equal(flex_gsm7_pack(sept, (size_t)n, packed, 3), FLEX_E_NOSPACE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gsm7_basic_and_extension),
        cmocka_unit_test(test_gsm7_rejects_with_offsets),
        cmocka_unit_test(test_gsm7_round_trip_every_character),
        cmocka_unit_test(test_gsm7_decode_tolerates_odd_escapes),
        cmocka_unit_test(test_gsm7_pack_unpack),
    };
    return cmocka_run_group_tests_name("gsm7", tests, NULL, NULL);
}
