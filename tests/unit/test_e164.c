/* E.164 normalization: accepted spellings and precise rejections. */
#include "test_common.h"

#include <string.h>

#include "e164.h"
#include "err.h"

static void ok(const char *in, const char *want)
{
    char out[FLEX_E164_BUFSZ];
    struct flex_e164_error err = {0};
    int rc = flex_e164_normalize(in, strlen(in), out, &err);
    if (rc < 0)
        fail_msg("'%s' rejected: %s", in, err.reason);
    assert_int_equal(rc, (int)strlen(want));
    assert_string_equal(out, want);
    assert_true(flex_e164_is_normal(out, strlen(out)));
}

static void bad(const char *in, int code, const char *reason_part)
{
    char out[FLEX_E164_BUFSZ];
    struct flex_e164_error err = {0};
    int rc = flex_e164_normalize(in, strlen(in), out, &err);
    if (rc != code)
        fail_msg("'%s': got %d (%s), want %d", in, rc, rc < 0 ? err.reason : out, code);
    if (!strstr(err.reason, reason_part))
        fail_msg("'%s': reason '%s' lacks '%s'", in, err.reason, reason_part);
}

static void test_e164_nanp_spellings(void **state)
{
    (void)state;
    ok("2025550143", "+12025550143");
    ok("202-555-0143", "+12025550143");
    ok("(202) 555-0143", "+12025550143");
    ok("202.555.0143", "+12025550143");
    ok("1 202 555 0143", "+12025550143");
    ok("1-202-555-0143", "+12025550143");
    ok("+1 (202) 555-0143", "+12025550143");
    ok("+12025550143", "+12025550143");
    ok("  +1 202/555-0143  ", "+12025550143");
    ok("\t3035550199", "+13035550199");
}

static void test_e164_international(void **state)
{
    (void)state;
    ok("+44 20 7946 0958", "+442079460958");
    ok("0044 20 7946 0958", "+442079460958");
    ok("011 44 20 7946 0958", "+442079460958");
    ok("+52 55 5555 0100", "+525555550100");
    ok("+861012345678901", "+861012345678901"); /* 15 digits */
}

static void test_e164_rejections(void **state)
{
    (void)state;
    bad("", FLEX_E_TOOSHORT, "no digits");
    bad("555-0143", FLEX_E_TOOSHORT, "7 digits");
    bad("202555014", FLEX_E_TOOSHORT, "9 digits");
    bad("202555014312", FLEX_E_TOOLONG, "12 digits");
    bad("+8610123456789012", FLEX_E_TOOLONG, "too long");
    bad("+1202555014", FLEX_E_TOOSHORT, "NANP needs 11");
    bad("+120255501433", FLEX_E_TOOLONG, "NANP needs 11");
    bad("1-800-FLOWERS", FLEX_E_LETTERS, "offset 6");
    bad("202-555-0143 x12", FLEX_E_LETTERS, "offset 13");
    bad("202*555*0143", FLEX_E_SYNTAX, "offset 3");
    bad("20+25550143", FLEX_E_SYNTAX, "offset 2");
    bad("+0 202 555 0143", FLEX_E_COUNTRY, "cannot start with 0");
    bad("22025550143", FLEX_E_COUNTRY, "country code 1");
    bad("+12345", FLEX_E_TOOSHORT, "too short");
}

static void test_e164_nanp_plan(void **state)
{
    (void)state;
    bad("00 44 1234", FLEX_E_TOOSHORT, "6 digits"); /* 00 = international prefix */
    bad("1025550143", FLEX_E_AREACODE, "cannot start with 1");
    bad("(911) 555-0143", FLEX_E_AREACODE, "service code");
    bad("(292) 555-0143", FLEX_E_AREACODE, "reserved");
    bad("202-055-0143", FLEX_E_EXCHANGE, "cannot start with 0");
    bad("202-155-0143", FLEX_E_EXCHANGE, "cannot start with 1");
    bad("202-411-0143", FLEX_E_EXCHANGE, "service code");
    ok("202-555-0100", "+12025550100"); /* fictional 555-01xx is valid */
}

static void test_e164_is_normal(void **state)
{
    (void)state;
    assert_true(flex_e164_is_normal("+12025550143", 12));
    assert_false(flex_e164_is_normal("12025550143", 11));
    assert_false(flex_e164_is_normal("+1202555014a", 12));
    assert_false(flex_e164_is_normal("+0202555014", 11));
    assert_false(flex_e164_is_normal("+1234", 5));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_e164_nanp_spellings), cmocka_unit_test(test_e164_international),
        cmocka_unit_test(test_e164_rejections),     cmocka_unit_test(test_e164_nanp_plan),
        cmocka_unit_test(test_e164_is_normal),
    };
    return cmocka_run_group_tests_name("e164", tests, NULL, NULL);
}
