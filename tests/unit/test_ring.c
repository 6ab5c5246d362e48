/* SPSC ring: semantics, wrap-around, and a two-thread stress test that moves
 * tens of millions of items checking order and that nothing is lost. */
#include "test_common.h"

#include <pthread.h>
#include <stdlib.h>

#include "err.h"
#include "ring.h"

static void test_ring_init_rejects_bad_capacity(void **state)
{
    (void)state;
    struct flex_ring r;
    assert_int_equal(flex_ring_init(&r, 0), FLEX_E_INVAL);
    assert_int_equal(flex_ring_init(&r, 1), FLEX_E_INVAL);
    assert_int_equal(flex_ring_init(&r, 12), FLEX_E_INVAL);
    assert_int_equal(flex_ring_init(&r, 16), 0);
    assert_int_equal(flex_ring_capacity(&r), 16);
    flex_ring_free(&r);
}

static void test_ring_fifo_full_empty(void **state)
{
    (void)state;
    struct flex_ring r;
    assert_int_equal(flex_ring_init(&r, 4), 0);
    assert_null(flex_ring_pop(&r));
    for (uintptr_t i = 1; i <= 4; i++)
        assert_int_equal(flex_ring_push(&r, (void *)i), 1);
    assert_int_equal(flex_ring_push(&r, (void *)5), 0); /* full */
    assert_int_equal(flex_ring_count(&r), 4);
    for (uintptr_t i = 1; i <= 4; i++)
        assert_ptr_equal(flex_ring_pop(&r), (void *)i);
    assert_null(flex_ring_pop(&r));
    assert_int_equal(flex_ring_count(&r), 0);
    flex_ring_free(&r);
}

static void test_ring_batch_wraps(void **state)
{
    (void)state;
    struct flex_ring r;
    void *in[8], *out[8];
    assert_int_equal(flex_ring_init(&r, 8), 0);
    uintptr_t next_in = 1, next_out = 1;
    /* Odd batch sizes force every wrap position. */
    for (int round = 0; round < 1000; round++) {
        size_t want = (size_t)(round % 7) + 1;
        for (size_t i = 0; i < want; i++)
            in[i] = (void *)(next_in + i);
        size_t pushed = flex_ring_push_batch(&r, in, want);
        next_in += pushed;
        size_t popped = flex_ring_pop_batch(&r, out, (size_t)(round % 5) + 1);
        for (size_t i = 0; i < popped; i++)
            assert_ptr_equal(out[i], (void *)next_out++);
        assert_true(flex_ring_count(&r) <= 8);
    }
    size_t popped;
    while ((popped = flex_ring_pop_batch(&r, out, 8)) > 0)
        for (size_t i = 0; i < popped; i++)
            assert_ptr_equal(out[i], (void *)next_out++);
    assert_int_equal(next_in, next_out);
    flex_ring_free(&r);
}

static void test_ring_partial_batch_when_nearly_full(void **state)
{
    (void)state;
    struct flex_ring r;
    void *in[16];
    for (uintptr_t i = 0; i < 16; i++)
        in[i] = (void *)(i + 1);
    assert_int_equal(flex_ring_init(&r, 8), 0);
    assert_int_equal(flex_ring_push_batch(&r, in, 5), 5);
    assert_int_equal(flex_ring_push_batch(&r, in + 5, 16), 3);
    assert_int_equal(flex_ring_push_batch(&r, in, 1), 0);
    flex_ring_free(&r);
}

struct stress {
    struct flex_ring ring;
    uint64_t items;
    uint64_t received;
    uint64_t errors;
};

#define BATCH 64

static void *producer(void *arg)
{
    struct stress *s = arg;
    void *buf[BATCH];
    uint64_t next = 1;
    while (next <= s->items) {
        size_t n = 0;
        while (n < BATCH && next + n <= s->items) {
            buf[n] = (void *)(uintptr_t)(next + n);
            n++;
        }
        size_t done = 0;
        while (done < n) {
            size_t k = flex_ring_push_batch(&s->ring, buf + done, n - done);
            if (k == 0)
                sched_yield();
            done += k;
        }
        next += n;
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct stress *s = arg;
    void *buf[BATCH];
    uint64_t expect = 1;
    while (expect <= s->items) {
        size_t n = flex_ring_pop_batch(&s->ring, buf, BATCH);
        if (n == 0) {
            sched_yield();
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            if ((uintptr_t)buf[i] != expect)
                s->errors++;
            expect++;
        }
        s->received += n;
    }
    return NULL;
}

static void test_ring_two_thread_stress(void **state)
{
    (void)state;
    struct stress s = {0};
    const char *env = getenv("FLEX_RING_STRESS_ITEMS");
    s.items = env ? strtoull(env, NULL, 10) : 20000000ULL;
    assert_int_equal(flex_ring_init(&s.ring, 1024), 0);
    pthread_t p, c;
    assert_int_equal(pthread_create(&c, NULL, consumer, &s), 0);
    assert_int_equal(pthread_create(&p, NULL, producer, &s), 0);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    assert_int_equal(s.errors, 0);
    assert_int_equal(s.received, s.items);
    assert_null(flex_ring_pop(&s.ring));
    flex_ring_free(&s.ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_init_rejects_bad_capacity),
        cmocka_unit_test(test_ring_fifo_full_empty),
        cmocka_unit_test(test_ring_batch_wraps),
        cmocka_unit_test(test_ring_partial_batch_when_nearly_full),
        cmocka_unit_test(test_ring_two_thread_stress),
    };
    return cmocka_run_group_tests_name("ring", tests, NULL, NULL);
}
