/* Template compile and render. */
#include "test_common.h"

#include <string.h>

#include "err.h"
#include "tmpl.h"

static struct flex_tmpl *compile_ok(const char *body)
{
    struct flex_tmpl *t = NULL;
    struct flex_tmpl_error err = {0};
    int rc = flex_tmpl_compile(&t, body, strlen(body), &err);
    if (rc)
        fail_msg("'%s': %s", body, err.reason);
    return t;
}

/* |body| refused with |code| at byte |offset|. */
static void refused(const char *body, int code, size_t offset)
{
    struct flex_tmpl_error err = {0};
    struct flex_tmpl *x = NULL;
    assert_int_equal(flex_tmpl_compile(&x, body, strlen(body), &err), code);
    assert_int_equal(err.offset, offset);
    assert_null(x);
}

static void set(struct flex_tmpl_vars *v, enum flex_tmpl_var i, const char *s)
{
    v->v[i] = s;
    v->len[i] = strlen(s);
}

static void test_tmpl_render_all_placeholders(void **state)
{
    (void)state;
    struct flex_tmpl *t = compile_ok(
        "Hi {first_name}, {location_name} ({location_phone}): {date} {time} with {provider}.");
    struct flex_tmpl_vars v = {0};
    set(&v, FLEX_TMPL_FIRST_NAME, "Zo\xc3\xab");
    set(&v, FLEX_TMPL_LOCATION_NAME, "Capitol Dental");
    set(&v, FLEX_TMPL_LOCATION_PHONE, "+12025550100");
    set(&v, FLEX_TMPL_DATE, "Dec 1");
    set(&v, FLEX_TMPL_TIME, "9:30 AM");
    set(&v, FLEX_TMPL_PROVIDER, "Dr. Lee");
    char out[256];
    long n = flex_tmpl_render(t, &v, out, sizeof(out), NULL);
    const char *want = "Hi Zo\xc3\xab, Capitol Dental (+12025550100): Dec 1 9:30 AM with Dr. Lee.";
    assert_string_equal(out, want);
    assert_int_equal(n, (long)strlen(want));
    assert_int_equal(flex_tmpl_uses(t), (1u << FLEX_TMPL_NVARS) - 1);
    /* Exactly enough room, then one byte short. */
    assert_int_equal(flex_tmpl_render(t, &v, out, strlen(want) + 1, NULL), n);
    assert_int_equal(flex_tmpl_render(t, &v, out, strlen(want), NULL), FLEX_E_NOSPACE);
    flex_tmpl_del(t);
}

static void test_tmpl_missing_value_is_reported(void **state)
{
    (void)state;
    struct flex_tmpl *t = compile_ok("See you {date} at {time}");
    struct flex_tmpl_vars v = {0};
    set(&v, FLEX_TMPL_DATE, "Dec 1");
    enum flex_tmpl_var missing = FLEX_TMPL_NVARS;
    char out[64];
    assert_int_equal(flex_tmpl_render(t, &v, out, sizeof(out), &missing), FLEX_E_NOTFOUND);
    assert_int_equal(missing, FLEX_TMPL_TIME);
    assert_int_equal(flex_tmpl_uses(t), (1u << FLEX_TMPL_DATE) | (1u << FLEX_TMPL_TIME));
    flex_tmpl_del(t);
}

static void test_tmpl_braces_and_errors(void **state)
{
    (void)state;
    struct flex_tmpl *t = compile_ok("{{literal}} and }}{{");
    struct flex_tmpl_vars v = {0};
    char out[64];
    flex_tmpl_render(t, &v, out, sizeof(out), NULL);
    assert_string_equal(out, "{literal} and }{");
    flex_tmpl_del(t);

    struct {
        const char *body;
        int code;
        size_t offset;
    } bad[] = {
        {"Hi {first}", FLEX_E_PLACEHOLDER, 3},
        {"Hi {first_name", FLEX_E_SYNTAX, 3},
        {"Hi {first_{name}}", FLEX_E_SYNTAX, 3},
        {"Hi } there", FLEX_E_SYNTAX, 3},
        {"", FLEX_E_SYNTAX, 0},
        {"{}", FLEX_E_PLACEHOLDER, 0},
        {"Hi \x01 there", FLEX_E_SYNTAX, 3},
        {"Hi \xff", FLEX_E_UTF8, 3},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        refused(bad[i].body, bad[i].code, bad[i].offset);
}

/* "{[...]}": kept when each of its placeholders has a value, else left out
 * whole; the placeholders in it are optional, the others still needed. */
static void test_tmpl_optional_section(void **state)
{
    (void)state;
    struct flex_tmpl *t = compile_ok("See you {date}{[ with {provider} [room]]} at {time}]");
    assert_int_equal(flex_tmpl_uses(t), (1u << FLEX_TMPL_DATE) | (1u << FLEX_TMPL_TIME));
    assert_int_equal(flex_tmpl_optional(t), 1u << FLEX_TMPL_PROVIDER);
    struct flex_tmpl_vars v = {0};
    set(&v, FLEX_TMPL_DATE, "Dec 1");
    set(&v, FLEX_TMPL_TIME, "9:30");
    char out[128];
    long n = flex_tmpl_render(t, &v, out, sizeof(out), NULL);
    assert_string_equal(out, "See you Dec 1 at 9:30]"); /* the text after it is not its */
    assert_int_equal(n, (long)strlen(out));
    set(&v, FLEX_TMPL_PROVIDER, ""); /* empty: as missing */
    flex_tmpl_render(t, &v, out, sizeof(out), NULL);
    assert_string_equal(out, "See you Dec 1 at 9:30]");
    set(&v, FLEX_TMPL_PROVIDER, "Dr. Lee");
    flex_tmpl_render(t, &v, out, sizeof(out), NULL);
    assert_string_equal(out, "See you Dec 1 with Dr. Lee [room] at 9:30]");
    /* A needed placeholder still fails the rendering. */
    v.v[FLEX_TMPL_TIME] = NULL;
    enum flex_tmpl_var missing = FLEX_TMPL_NVARS;
    assert_int_equal(flex_tmpl_render(t, &v, out, sizeof(out), &missing), FLEX_E_NOTFOUND);
    assert_int_equal(missing, FLEX_TMPL_TIME);
    flex_tmpl_del(t);

    /* Two sections, one kept and one not; one at the very start. */
    t = compile_ok("{[{first_name}, ]}{[Dr. {provider}: ]}ok");
    struct flex_tmpl_vars w = {0};
    set(&w, FLEX_TMPL_FIRST_NAME, "Ana");
    flex_tmpl_render(t, &w, out, sizeof(out), NULL);
    assert_string_equal(out, "Ana, ok");
    flex_tmpl_del(t);

    refused("a {[b {[{date}]}]}", FLEX_E_SYNTAX, 6);   /* nested */
    refused("a {[ with {provider}", FLEX_E_SYNTAX, 2); /* unclosed */
    refused("a {[ nothing ]} b", FLEX_E_SYNTAX, 2);    /* no placeholder */
    refused("a ]} b", FLEX_E_SYNTAX, 3);               /* a close with none open: a stray brace */
}

static void test_tmpl_var_names(void **state)
{
    (void)state;
    for (int i = 0; i < FLEX_TMPL_NVARS; i++) {
        const char *n = flex_tmpl_var_name((enum flex_tmpl_var)i);
        assert_int_equal(flex_tmpl_var_lookup(n, strlen(n)), i);
    }
    assert_int_equal(flex_tmpl_var_lookup("first", 5), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tmpl_render_all_placeholders),
        cmocka_unit_test(test_tmpl_missing_value_is_reported),
        cmocka_unit_test(test_tmpl_braces_and_errors),
        cmocka_unit_test(test_tmpl_optional_section),
        cmocka_unit_test(test_tmpl_var_names),
    };
    return cmocka_run_group_tests_name("tmpl", tests, NULL, NULL);
}
