/* The bounded Redis command builder: arguments borrowed, copied, formatted
 * and built in pieces; every bound (arguments, bytes) stops the command
 * without writing past its storage, and an overflowed command is refused. */
#include "test_common.h"

#include <string.h>

#include "cmd.h"
#include "err.h"

static void assert_arg(const struct flex_cmd *c, size_t i, const char *want)
{
    assert_true(i < c->n);
    assert_int_equal(c->lens[i], strlen(want));
    assert_memory_equal(c->argv[i], want, strlen(want));
}

static void test_cmd_builds(void **state)
{
    (void)state;
    struct flex_cmd c;
    flex_cmd_init(&c, 8, 64);
    flex_cmd_str(&c, "HSET");
    flex_cmd_argf(&c, "flex:hist:%d", 42);
    flex_cmd_copy(&c, "abc", 3);
    flex_cmd_begin(&c);
    flex_cmd_cat(&c, "job-1");
    flex_cmd_cat_char(&c, ' ');
    flex_cmd_cat_num(&c, -1234567890123LL);
    flex_cmd_cat_char(&c, ' ');
    flex_cmd_cat_num(&c, 0);
    flex_cmd_end(&c);
    assert_null(c.overflow);
    assert_int_equal(flex_cmd_argc(&c), 4);
    assert_arg(&c, 0, "HSET");
    assert_arg(&c, 1, "flex:hist:42");
    assert_arg(&c, 2, "abc");
    assert_arg(&c, 3, "job-1 -1234567890123 0");
    flex_cmd_reset(&c);
    assert_int_equal(flex_cmd_argc(&c), 0);
    assert_int_equal(c.used, 0);
    flex_cmd_free(&c);
}

static void test_cmd_bounds(void **state)
{
    (void)state;
    struct flex_cmd c;
    /* arguments */
    flex_cmd_init(&c, 2, 64);
    flex_cmd_str(&c, "A");
    flex_cmd_str(&c, "B");
    assert_null(c.overflow);
    flex_cmd_str(&c, "C");
    assert_string_equal(c.overflow, "arguments");
    assert_int_equal(flex_cmd_argc(&c), 2);
    assert_int_equal(flex_cmd_append(NULL, &c), FLEX_E_FULL); /* refused before the store */
    flex_cmd_free(&c);

    /* bytes: the storage is sized exactly, with a canary after it checked
     * by ASan in `make asan` */
    flex_cmd_init(&c, 16, 10);
    flex_cmd_copy(&c, "12345", 5);
    flex_cmd_copy(&c, "67890", 5); /* exactly full */
    assert_null(c.overflow);
    flex_cmd_copy(&c, "x", 1);
    assert_string_equal(c.overflow, "bytes");
    assert_int_equal(c.used, 10);
    flex_cmd_str(&c, "borrowed"); /* after an overflow nothing more is taken */
    assert_int_equal(flex_cmd_argc(&c), 2);
    flex_cmd_reset(&c);
    assert_null(c.overflow);

    /* a formatted argument needs room for its NUL too */
    flex_cmd_argf(&c, "%s", "123456789");
    assert_null(c.overflow);
    flex_cmd_reset(&c);
    flex_cmd_argf(&c, "%s", "1234567890");
    assert_string_equal(c.overflow, "bytes");
    flex_cmd_reset(&c);

    /* pieces: a piece past the end stops the command */
    flex_cmd_begin(&c);
    flex_cmd_cat(&c, "12345678");
    flex_cmd_cat_num(&c, 123);
    assert_string_equal(c.overflow, "bytes");
    flex_cmd_end(&c);
    assert_int_equal(flex_cmd_argc(&c), 0);
    assert_int_equal(flex_cmd_append(NULL, &c), FLEX_E_FULL);
    flex_cmd_reset(&c);

    /* an unfinished piece, or an empty command, is not appended */
    flex_cmd_str(&c, "PING");
    flex_cmd_begin(&c);
    assert_int_equal(flex_cmd_append(NULL, &c), FLEX_E_FULL);
    flex_cmd_reset(&c);
    assert_int_equal(flex_cmd_append(NULL, &c), FLEX_E_FULL);
    /* a piece without its begin is a misuse, marked as one */
    flex_cmd_cat(&c, "x");
    assert_non_null(c.overflow);
    flex_cmd_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmd_builds),
        cmocka_unit_test(test_cmd_bounds),
    };
    return cmocka_run_group_tests_name("cmd", tests, NULL, NULL);
}
