/* The set of strings seen lately: what was added is there until a later
 * string takes its slot, what was not is not; an undo takes an add back;
 * two sets hash differently (a random key each). */
#include "test_common.h"

#include <stdio.h>
#include <string.h>

#include "recent.h"

static void test_recent_has_what_was_added(void **state)
{
    (void)state;
    struct flex_recent r;
    flex_recent_init(&r, 1 << 20);
    char s[32];
    for (int i = 0; i < 100; i++) {
        snprintf(s, sizeof(s), "job-%d", i);
        assert_false(flex_recent_has(&r, s));
        flex_recent_add(&r, s);
    }
    int kept = 0, phantom = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(s, sizeof(s), "job-%d", i);
        kept += flex_recent_has(&r, s);
        snprintf(s, sizeof(s), "other-%d", i);
        phantom += flex_recent_has(&r, s);
    }
    /* 100 strings in 2^20 slots: a collision forgets one at most now
     * and then; a string never added is never there */
    assert_true(kept >= 99);
    assert_int_equal(phantom, 0);
    flex_recent_free(&r);
}

static void test_recent_forgets_when_full(void **state)
{
    (void)state;
    struct flex_recent r;
    flex_recent_init(&r, 16);
    char s[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(s, sizeof(s), "%d", i);
        flex_recent_add(&r, s);
    }
    int kept = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(s, sizeof(s), "%d", i);
        kept += flex_recent_has(&r, s);
    }
    assert_true(kept <= 16); /* fixed size: never more than its slots */
    assert_true(kept >= 1);
    flex_recent_free(&r);
}

static void test_recent_undo(void **state)
{
    (void)state;
    struct flex_recent r;
    flex_recent_init(&r, 1 << 20);
    flex_recent_add(&r, "kept");
    struct flex_recent_undo u[3];
    assert_false(flex_recent_add_undo(&r, "a", &u[0]));
    assert_false(flex_recent_add_undo(&r, "b", &u[1]));
    assert_true(flex_recent_add_undo(&r, "a", &u[2])); /* a copy in the same batch */
    assert_true(flex_recent_has(&r, "a"));
    flex_recent_undo(&u[2]); /* a no-op: it changed nothing */
    flex_recent_undo(&u[1]);
    flex_recent_undo(&u[0]);
    assert_false(flex_recent_has(&r, "a"));
    assert_false(flex_recent_has(&r, "b"));
    assert_true(flex_recent_has(&r, "kept"));
    flex_recent_free(&r);
}

static void test_recent_keys_differ(void **state)
{
    (void)state;
    struct flex_recent a, b;
    flex_recent_init(&a, 1 << 20);
    flex_recent_init(&b, 1 << 20);
    assert_true(a.key.k0 != b.key.k0 || a.key.k1 != b.key.k1);
    flex_recent_free(&a);
    flex_recent_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recent_has_what_was_added),
        cmocka_unit_test(test_recent_forgets_when_full),
        cmocka_unit_test(test_recent_undo),
        cmocka_unit_test(test_recent_keys_differ),
    };
    return cmocka_run_group_tests_name("recent", tests, NULL, NULL);
}
