/* Send buffering: a partial send's rest goes first, even with nothing new
 * queued (the ESME once dropped it); queued bytes follow in order. */
#include "test_common.h"

#include <string.h>

#include "sendbuf.h"

static void test_sendbuf_partial_then_rest(void **state)
{
    (void)state;
    struct flex_sendbuf b = {0};
    const uint8_t *p;
    assert_int_equal(flex_sendbuf_next(&b, &p), 0);
    flex_sendbuf_append(&b, "abcdef", 6);
    assert_int_equal(flex_sendbuf_next(&b, &p), 6);
    assert_memory_equal(p, "abcdef", 6);
    flex_sendbuf_sent(&b, 4); /* the kernel took 4 */
    assert_int_equal(flex_sendbuf_pending(&b), 2);
    assert_int_equal(flex_sendbuf_next(&b, &p), 2); /* nothing new: the rest */
    assert_memory_equal(p, "ef", 2);
    flex_sendbuf_append(&b, "gh", 2); /* queued while "ef" is due */
    assert_int_equal(flex_sendbuf_next(&b, &p), 2);
    assert_memory_equal(p, "ef", 2);
    flex_sendbuf_sent(&b, 2);
    assert_int_equal(flex_sendbuf_next(&b, &p), 2);
    assert_memory_equal(p, "gh", 2);
    flex_sendbuf_sent(&b, 2);
    assert_int_equal(flex_sendbuf_next(&b, &p), 0);
    assert_int_equal(flex_sendbuf_pending(&b), 0);
    flex_sendbuf_free(&b);
}

static void test_sendbuf_reserve_commit_grow(void **state)
{
    (void)state;
    struct flex_sendbuf b = {0};
    for (int i = 0; i < 100000; i++) {
        uint8_t *w = flex_sendbuf_reserve(&b, 3);
        w[0] = (uint8_t)i;
        flex_sendbuf_commit(&b, 1);
    }
    const uint8_t *p;
    assert_int_equal(flex_sendbuf_next(&b, &p), 100000);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(p[i], (uint8_t)i);
    flex_sendbuf_clear(&b);
    assert_int_equal(flex_sendbuf_pending(&b), 0);
    flex_sendbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sendbuf_partial_then_rest),
        cmocka_unit_test(test_sendbuf_reserve_commit_grow),
    };
    return cmocka_run_group_tests_name("sendbuf", tests, NULL, NULL);
}
