/* QSBR: a retired snapshot outlives every reader that could hold it.
 * The stress test runs readers against a writer swapping snapshots; under
 * TSan (make tsan) it checks the memory orders, under ASan the frees. */
#include "test_common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "mem.h"
#include "qsbr.h"

struct snap {
    uint64_t a, b; /* always equal in a live snapshot */
    uint64_t gen;
};

static struct flex_qsbr dom;
static _Atomic(struct snap *) current;
static _Atomic int stop;
static atomic_long freed;

static void snap_free(void *p)
{
    struct snap *s = p;
    s->a = 1; /* poison: a reader seeing this would fail its check */
    s->b = 2;
    flex_free(s);
    atomic_fetch_add_explicit(&freed, 1, memory_order_relaxed);
}

static void test_qsbr_waits_for_each_reader(void **state)
{
    (void)state;
    struct flex_qsbr_reader r1, r2;
    flex_qsbr_init(&dom);
    assert_int_equal(flex_qsbr_register(&dom, &r1), 0);
    assert_int_equal(flex_qsbr_register(&dom, &r2), 0);
    atomic_store(&freed, 0);
    struct snap *s = flex_calloc(1, sizeof(*s));
    flex_qsbr_retire(&dom, s, snap_free);
    assert_int_equal(flex_qsbr_poll(&dom), 1);
    flex_qsbr_quiescent(&dom, &r1);
    assert_int_equal(flex_qsbr_poll(&dom), 1); /* r2 has not passed */
    flex_qsbr_offline(&r2);                    /* offline holds nothing */
    assert_int_equal(flex_qsbr_poll(&dom), 0);
    assert_int_equal(atomic_load(&freed), 1);
    /* Back online, r2 blocks a new retirement until it is quiescent. */
    flex_qsbr_online(&dom, &r2);
    flex_qsbr_retire(&dom, flex_calloc(1, sizeof(struct snap)), snap_free);
    flex_qsbr_quiescent(&dom, &r1);
    assert_int_equal(flex_qsbr_poll(&dom), 1);
    flex_qsbr_unregister(&dom, &r2); /* leaving counts as quiescent */
    assert_int_equal(flex_qsbr_poll(&dom), 0);
    flex_qsbr_unregister(&dom, &r1);
    flex_qsbr_free(&dom);
}

static void *reader_main(void *arg)
{
    long *bad = arg;
    struct flex_qsbr_reader r;
    flex_qsbr_register(&dom, &r);
    uint64_t last = 0;
    int i = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        /* acquire: pairs with the writer's release exchange. */
        struct snap *s = atomic_load_explicit(&current, memory_order_acquire);
        if (s->a != s->b || s->gen < last)
            (*bad)++;
        last = s->gen;
        if (++i % 64 == 0) {
            /* Sometimes go offline, as a thread blocking in io_uring does. */
            flex_qsbr_offline(&r);
            flex_qsbr_online(&dom, &r);
        } else {
            flex_qsbr_quiescent(&dom, &r);
        }
    }
    flex_qsbr_unregister(&dom, &r);
    return NULL;
}

static void test_qsbr_stress_readers_and_writer(void **state)
{
    (void)state;
    enum { READERS = 3 };
    const char *env = getenv("FLEX_QSBR_SWAPS");
    long swaps = env ? atol(env) : 200000;
    flex_qsbr_init(&dom);
    atomic_store(&freed, 0);
    struct snap *first = flex_calloc(1, sizeof(*first));
    first->a = first->b = 42;
    atomic_store(&current, first);
    atomic_store(&stop, 0);
    pthread_t th[READERS];
    long bad[READERS] = {0};
    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &bad[i]), 0);
    for (long g = 1; g <= swaps; g++) {
        struct snap *s = flex_malloc(sizeof(*s));
        s->a = s->b = (uint64_t)g * 7;
        s->gen = (uint64_t)g;
        /* release: the fields above are visible to acquiring readers. */
        struct snap *old = atomic_exchange_explicit(&current, s, memory_order_acq_rel);
        flex_qsbr_retire(&dom, old, snap_free);
        if (g % 16 == 0)
            flex_qsbr_poll(&dom);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < READERS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(flex_qsbr_poll(&dom), 0);
    assert_int_equal(atomic_load(&freed), swaps);
    for (int i = 0; i < READERS; i++)
        assert_int_equal(bad[i], 0);
    flex_free(atomic_load(&current));
    flex_qsbr_free(&dom);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qsbr_waits_for_each_reader),
        cmocka_unit_test(test_qsbr_stress_readers_and_writer),
    };
    return cmocka_run_group_tests_name("qsbr", tests, NULL, NULL);
}
