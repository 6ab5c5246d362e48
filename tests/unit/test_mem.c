/* Allocation wrappers, the OOM handler, and the arena. */
#include "test_common.h"

#include <string.h>

#include "mem.h"

static jmp_buf oom_jmp;
static size_t oom_size;

static void oom_to_test(size_t size)
{
    oom_size = size;
    longjmp(oom_jmp, 1);
}

static void test_mem_oom_handler_is_called(void **state)
{
    (void)state;
    flex_mem_set_oom_handler(oom_to_test);
    if (setjmp(oom_jmp) == 0) {
        volatile size_t huge = (size_t)1 << 62; /* no machine has this */
        void *p = flex_malloc(huge);
        flex_free(p);
        fail_msg("allocation of 2^62 bytes succeeded");
    }
    assert_int_equal(oom_size, (size_t)1 << 62);
    flex_mem_set_oom_handler(NULL);
}

static int order[8], norder;
static void cleanup_cb(void *data)
{
    order[norder++] = *(int *)data;
}

static void test_mem_arena_alignment_cleanup_and_reuse(void **state)
{
    (void)state;
    struct flex_arena a = {0};
    for (int i = 1; i < 200; i++) {
        unsigned char *p = flex_arena_alloc(&a, (size_t)i);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xAB, (size_t)i);
    }
    char *big = flex_arena_alloc(&a, 100000); /* bigger than a chunk */
    memset(big, 1, 100000);
    char *s = flex_arena_strndup(&a, "hello world", 5);
    assert_string_equal(s, "hello");
    int *z = flex_arena_calloc(&a, 64 * sizeof(int));
    for (int i = 0; i < 64; i++)
        assert_int_equal(z[i], 0);
    static int one = 1, two = 2;
    norder = 0;
    flex_arena_cleanup_add(&a, cleanup_cb, &one);
    flex_arena_cleanup_add(&a, cleanup_cb, &two);
    flex_arena_free(&a);
    assert_int_equal(norder, 2);
    assert_int_equal(order[0], 2); /* newest first */
    assert_int_equal(order[1], 1);
    /* An emptied arena is reusable. */
    assert_string_equal(flex_arena_strdup(&a, "again"), "again");
    flex_arena_free(&a);
}

static void test_mem_aligned_and_dup(void **state)
{
    (void)state;
    void *p = flex_aligned_alloc(64, 100);
    assert_int_equal((uintptr_t)p % 64, 0);
    flex_free(p);
    char *d = flex_strndup("abcdef", 3);
    assert_string_equal(d, "abc");
    flex_free(d);
    int *c = flex_calloc(10, sizeof(int));
    c = flex_realloc(c, 1000 * sizeof(int));
    assert_int_equal(c[9], 0);
    flex_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mem_oom_handler_is_called),
        cmocka_unit_test(test_mem_arena_alignment_cleanup_and_reuse),
        cmocka_unit_test(test_mem_aligned_and_dup),
    };
    return cmocka_run_group_tests_name("mem", tests, NULL, NULL);
}
