/* UTF-8 validation and UTF-16BE conversion. */
#include "test_common.h"

#include <string.h>

#include "err.h"
#include "utf.h"

static void test_utf_validate_offsets(void **state)
{
    (void)state;
    struct flex_text_error err;
    assert_int_equal(flex_utf8_validate("Zo\xc3\xab \xf0\x9f\x98\x80", 9, &err), 0);
    struct {
        const char *s;
        size_t len, offset;
    } cases[] = {
        {"ab\x80", 3, 2},             /* lone continuation byte */
        {"ab\xc3", 3, 2},             /* truncated 2-byte */
        {"\xc0\xaf", 2, 0},           /* overlong '/' */
        {"x\xe0\x80\xaf", 4, 1},      /* overlong 3-byte */
        {"xy\xed\xa0\x80", 5, 2},     /* UTF-16 surrogate in UTF-8 */
        {"\xf4\x90\x80\x80", 4, 0},   /* beyond U+10FFFF */
        {"ok\xf5\x80\x80\x80", 6, 2}, /* F5 lead */
        {"ok\xe2\x82", 4, 2},         /* truncated 3-byte at end */
        {"a\xe2(b", 4, 1},            /* bad continuation */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&err, 0, sizeof(err));
        assert_int_equal(flex_utf8_validate(cases[i].s, cases[i].len, &err), FLEX_E_UTF8);
        assert_int_equal(err.offset, cases[i].offset);
    }
}

static void test_utf_to_utf16be_with_surrogates(void **state)
{
    (void)state;
    unsigned char out[32];
    struct flex_text_error err;
    /* "A€😀" = 41 / 20AC / D83D DE00 */
    long n = flex_utf8_to_utf16be("A\xe2\x82\xac\xf0\x9f\x98\x80", 8, out, sizeof(out), &err);
    assert_int_equal(n, 4);
    const unsigned char want[] = {0x00, 0x41, 0x20, 0xAC, 0xD8, 0x3D, 0xDE, 0x00};
    assert_memory_equal(out, want, sizeof(want));
    assert_int_equal(flex_utf8_to_utf16be("ab\xff", 3, out, sizeof(out), &err), FLEX_E_UTF8);
    assert_int_equal(err.offset, 2);
    assert_int_equal(flex_utf8_to_utf16be("abc", 3, out, 4, &err), FLEX_E_TOOLONG);
}

static void test_utf16be_to_utf8_round_trip_and_repair(void **state)
{
    (void)state;
    const unsigned char in[] = {0x00, 0x5A, 0x00, 0x6F, 0x00, 0xEB, 0xD8, 0x3D, 0xDE, 0x00};
    char out[32];
    long n = flex_utf16be_to_utf8(in, sizeof(in), out, sizeof(out));
    assert_int_equal(n, 8);
    assert_string_equal(out, "Zo\xc3\xab\xf0\x9f\x98\x80");
    /* Unpaired surrogates and an odd byte are shown as U+FFFD, not dropped. */
    const unsigned char bad[] = {0xD8, 0x3D, 0x00, 0x41, 0xDE, 0x00, 0x42};
    n = flex_utf16be_to_utf8(bad, sizeof(bad), out, sizeof(out));
    assert_string_equal(out, "\xef\xbf\xbd"
                             "A"
                             "\xef\xbf\xbd"
                             "\xef\xbf\xbd");
    assert_int_equal(n, 10);
    assert_int_equal(flex_utf16be_to_utf8(in, sizeof(in), out, 4), FLEX_E_NOSPACE);
}

static void test_utf_put_and_next_agree(void **state)
{
    (void)state;
    const uint32_t cps[] = {0,      0x7F,   0x80,    0x7FF,   0x800,   0xD7FF,
                            0xE000, 0xFFFD, 0x10000, 0x1F600, 0x10FFFF};
    for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
        unsigned char buf[4];
        uint32_t back;
        size_t n = flex_utf8_put(cps[i], buf);
        assert_int_equal(flex_utf8_next(buf, n, &back), (int)n);
        assert_int_equal(back, cps[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf_validate_offsets),
        cmocka_unit_test(test_utf_to_utf16be_with_surrogates),
        cmocka_unit_test(test_utf16be_to_utf8_round_trip_and_repair),
        cmocka_unit_test(test_utf_put_and_next_agree),
    };
    return cmocka_run_group_tests_name("utf", tests, NULL, NULL);
}
