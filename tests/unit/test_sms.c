/* Coding choice and segmentation. */
#include "test_common.h"

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "gsm7.h"
#include "sms.h"

static struct flex_sms sms;

static void enc(const char *s, unsigned max_parts, int want_rc)
{
    struct flex_text_error err = {0};
    assert_int_equal(flex_sms_encode(&sms, s, strlen(s), max_parts, &err), want_rc);
}

/* Appends |s| to the string in |buf| (|cap| bytes), failing the test when
 * it would not fit. */
static void append(char *buf, size_t cap, const char *s)
{
    size_t have = strlen(buf), add = strlen(s);
    assert_true(have + add < cap);
    memcpy(buf + have, s, add + 1);
}

static void fill_n(char *buf, size_t cap, const char *unit, size_t times)
{
    buf[0] = '\0';
    for (size_t i = 0; i < times; i++)
        append(buf, cap, unit);
}
#define fill(buf, unit, times) fill_n(buf, sizeof(buf), unit, times)

static void test_sms_single_part_limits(void **state)
{
    (void)state;
    char buf[2048];
    fill(buf, "a", 160);
    enc(buf, 6, 0);
    assert_int_equal(sms.coding, FLEX_SMS_GSM7);
    assert_int_equal(sms.nparts, 1);
    assert_int_equal(sms.units, 160);
    fill(buf, "a", 161);
    enc(buf, 6, 0);
    assert_int_equal(sms.nparts, 2);
    assert_int_equal(sms.part_end[0], 153);
    assert_int_equal(sms.part_end[1], 161);
    fill(buf, "\xc3\xab", 70); /* ë x 70: UCS-2 */
    enc(buf, 6, 0);
    assert_int_equal(sms.coding, FLEX_SMS_UCS2);
    assert_int_equal(sms.nparts, 1);
    assert_int_equal(sms.len, 140);
    fill(buf, "\xc3\xab", 71);
    enc(buf, 6, 0);
    assert_int_equal(sms.nparts, 2);
    assert_int_equal(sms.part_end[0], 134);
}

static void test_sms_never_splits_escape_pair(void **state)
{
    (void)state;
    char buf[2048];
    /* 152 plain septets then '{': the escape pair would straddle 153. */
    fill(buf, "a", 152);
    append(buf, sizeof(buf), "{bcdefghij");
    enc(buf, 6, 0);
    assert_int_equal(sms.nparts, 2);
    assert_int_equal(sms.part_end[0], 152);
    assert_int_equal(sms.data[152], FLEX_GSM7_ESC);
    /* Every part of an all-escape text holds whole pairs. */
    fill(buf, "\xe2\x82\xac", 200); /* € x 200 = 400 septets */
    enc(buf, 6, 0);
    for (unsigned i = 0; i < sms.nparts; i++) {
        size_t start = flex_sms_part_start(&sms, i), end = sms.part_end[i];
        assert_true(end - start <= 153);
        assert_int_equal((end - start) % 2, 0);
        assert_int_equal(sms.data[start], FLEX_GSM7_ESC);
    }
}

static void test_sms_never_splits_surrogate_pair(void **state)
{
    (void)state;
    char buf[2048];
    /* 66 units of ë then emoji: the pair would straddle unit 67. */
    fill(buf, "\xc3\xab", 66);
    append(buf, sizeof(buf), "\xf0\x9f\x98\x80 and more text here");
    enc(buf, 6, 0);
    assert_int_equal(sms.coding, FLEX_SMS_UCS2);
    assert_int_equal(sms.part_end[0], 132); /* 66 units: the pair moved on */
    unsigned char hi = sms.data[132];
    assert_true(hi >= 0xD8 && hi <= 0xDB);
    fill(buf, "\xf0\x9f\x98\x80", 100); /* 200 units, all pairs */
    enc(buf, 6, 0);
    for (unsigned i = 0; i < sms.nparts; i++) {
        size_t start = flex_sms_part_start(&sms, i), end = sms.part_end[i];
        assert_true(end - start <= 134);
        assert_int_equal((end - start) % 4, 0);
    }
}

static void test_sms_too_many_parts_and_bad_input(void **state)
{
    (void)state;
    char buf[4096];
    fill(buf, "a", 153 * 2 + 1);
    enc(buf, 2, FLEX_E_TOOMANY);
    enc(buf, 3, 0);
    assert_int_equal(sms.nparts, 3);
    fill(buf, "a", 161);
    enc(buf, 1, FLEX_E_TOOMANY);
    enc("", 1, FLEX_E_TOOSHORT);
    struct flex_text_error err;
    assert_int_equal(flex_sms_encode(&sms, "ok \xff", 4, 1, &err), FLEX_E_UTF8);
    assert_int_equal(err.offset, 3);
    /* A bad byte after the GSM capacity is still reported as bad UTF-8. */
    fill(buf, "a", 200);
    append(buf, sizeof(buf), "\xff");
    assert_int_equal(flex_sms_encode(&sms, buf, strlen(buf), 1, &err), FLEX_E_UTF8);
    assert_int_equal(err.offset, 200);
    assert_int_equal(flex_sms_encode(&sms, "x", 1, 0, &err), FLEX_E_INVAL);
    assert_int_equal(flex_sms_encode(&sms, "x", 1, FLEX_SMS_MAX_PARTS + 1, &err), FLEX_E_INVAL);
}

static void test_sms_emoji_reminder_is_ucs2(void **state)
{
    (void)state;
    enc("Hi Zo\xc3\xab, see you Dec 1 at 9:30 AM \xf0\x9f\x98\x80", 6, 0);
    assert_int_equal(sms.coding, FLEX_SMS_UCS2);
    assert_int_equal(sms.nparts, 1);
    enc("Hi Ana, see you Dec 1 at 9:30 AM. Reply C to confirm.", 6, 0);
    assert_int_equal(sms.coding, FLEX_SMS_GSM7);
}

/* Receiving: the user data of each data_coding into UTF-8, and where a cut
 * text may end. */
static void test_sms_decode_codings(void **state)
{
    (void)state;
    char out[64];
    /* GSM-7: '@' is 0x00 (not an end), an escape pair is one character */
    static const uint8_t g[] = {0x00, 'a', FLEX_GSM7_ESC, 0x65, 'b'}; /* "@a€b" */
    assert_int_equal(flex_sms_decode(0, g, sizeof(g), out, sizeof(out)), 6);
    assert_string_equal(out, "@a\xe2\x82\xac"
                             "b");
    assert_true(flex_sms_dcs_gsm7(0) && flex_sms_dcs_gsm7(1) && flex_sms_dcs_gsm7(0xF0));
    assert_false(flex_sms_dcs_gsm7(8) || flex_sms_dcs_gsm7(3));
    /* GSM 03.38's coding groups, as SMSCs pass a handset's DCS on: a
     * class (0x10-0x13 GSM-7, 0x18-0x1B UCS-2), auto-deletion (0x40,
     * 0x48), message waiting (0xC0 GSM-7, 0xE0 UCS-2), 0xF1 GSM-7, 0xF4
     * 8-bit */
    assert_true(flex_sms_dcs_gsm7(0x11) && flex_sms_dcs_gsm7(0x40) && flex_sms_dcs_gsm7(0xC8) &&
                flex_sms_dcs_gsm7(0xF1));
    assert_true(flex_sms_dcs_ucs2(8) && flex_sms_dcs_ucs2(0x18) && flex_sms_dcs_ucs2(0x19) &&
                flex_sms_dcs_ucs2(0x48) && flex_sms_dcs_ucs2(0xE0));
    assert_false(flex_sms_dcs_ucs2(0) || flex_sms_dcs_ucs2(3) || flex_sms_dcs_ucs2(0xF4) ||
                 flex_sms_dcs_gsm7(0xF4) || flex_sms_dcs_gsm7(0x14));
    static const uint8_t stop16[] = {0, 'S', 0, 'T', 0, 'O', 0, 'P'};
    assert_int_equal(flex_sms_decode(0x18, stop16, sizeof(stop16), out, sizeof(out)), 4);
    assert_string_equal(out, "STOP");
    assert_int_equal(flex_sms_char_boundary(0x48, stop16, 7), 6);
    /* UCS-2 with a pair; a NUL unit becomes U+FFFD, not the string's end */
    static const uint8_t u[] = {0x00, 'H', 0xD8, 0x3D, 0xDE, 0x00, 0x00, 0x00, 0x00, '!'};
    assert_int_equal(flex_sms_decode(8, u, sizeof(u), out, sizeof(out)), 1 + 4 + 3 + 1);
    assert_string_equal(out, "H\xf0\x9f\x98\x80\xef\xbf\xbd!");
    /* Latin-1 (3, and any other coding): a NUL byte too */
    static const uint8_t l[] = {'S', 0xED, 0x00, '.'};
    assert_int_equal(flex_sms_decode(3, l, sizeof(l), out, sizeof(out)), 1 + 2 + 3 + 1);
    assert_string_equal(out, "S\xc3\xad\xef\xbf\xbd.");
    /* 3 bytes of output per byte of input always fit; one less does not */
    static const uint8_t z[] = {0, 0, 0};
    assert_int_equal(flex_sms_decode(3, z, 3, out, 10), 9);
    assert_int_equal(flex_sms_decode(3, z, 3, out, 9), FLEX_E_NOSPACE);
}

static void test_sms_char_boundary(void **state)
{
    (void)state;
    static const uint8_t g[] = {'a', FLEX_GSM7_ESC, 0x65, 'b'};
    assert_int_equal(flex_sms_char_boundary(0, g, 2), 1); /* not half an escape */
    assert_int_equal(flex_sms_char_boundary(0, g, 3), 3);
    static const uint8_t u[] = {0x00, 'H', 0xD8, 0x3D, 0xDE, 0x00};
    assert_int_equal(flex_sms_char_boundary(8, u, 5), 2); /* odd, and half a pair */
    assert_int_equal(flex_sms_char_boundary(8, u, 4), 2);
    assert_int_equal(flex_sms_char_boundary(8, u, 6), 6);
    assert_int_equal(flex_sms_char_boundary(3, u, 5), 5); /* Latin-1: any byte */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sms_single_part_limits),
        cmocka_unit_test(test_sms_never_splits_escape_pair),
        cmocka_unit_test(test_sms_never_splits_surrogate_pair),
        cmocka_unit_test(test_sms_too_many_parts_and_bad_input),
        cmocka_unit_test(test_sms_emoji_reminder_is_ucs2),
        cmocka_unit_test(test_sms_decode_codings),
        cmocka_unit_test(test_sms_char_boundary),
    };
    return cmocka_run_group_tests_name("sms", tests, NULL, NULL);
}
