/* SPSC ring throughput between two threads, batched and single. */
#include <pthread.h>
#include <sched.h>

#include "bench.h"
#include "ring.h"

#define ITEMS 100000000ULL

struct run {
    struct flex_ring ring;
    size_t batch;
};

static void *producer(void *arg)
{
    struct run *r = arg;
    void *buf[256];
    for (size_t i = 0; i < 256; i++)
        buf[i] = (void *)(uintptr_t)(i + 1);
    for (uint64_t sent = 0; sent < ITEMS;) {
        size_t want = ITEMS - sent < r->batch ? (size_t)(ITEMS - sent) : r->batch;
        size_t k = flex_ring_push_batch(&r->ring, buf, want);
        if (k == 0)
            sched_yield();
        sent += k;
    }
    return NULL;
}

static double one(size_t batch)
{
    struct run r = {.batch = batch};
    flex_ring_init(&r.ring, 4096);
    void *buf[256];
    pthread_t p;
    double t0 = bench_now();
    pthread_create(&p, NULL, producer, &r);
    uint64_t got = 0, sum = 0;
    while (got < ITEMS) {
        size_t k = flex_ring_pop_batch(&r.ring, buf, batch);
        if (k == 0) {
            sched_yield();
            continue;
        }
        sum += (uintptr_t)buf[0];
        got += k;
    }
    pthread_join(p, NULL);
    double dt = bench_now() - t0;
    bench_sink(sum);
    flex_ring_free(&r.ring);
    return (double)ITEMS / dt;
}

int main(void)
{
    double rates[BENCH_REPEATS];
    for (int i = 0; i < BENCH_REPEATS; i++)
        rates[i] = one(64);
    bench_report("ring spsc 2 threads, batch 64", rates, BENCH_REPEATS, 50);
    for (int i = 0; i < 3; i++)
        rates[i] = one(1);
    bench_report("ring spsc 2 threads, batch 1", rates, 3, 0);
    return 0;
}
