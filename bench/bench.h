/* Tiny harness for the microbenchmarks: time a loop, repeat, report the
 * median rate.  Header-only so each bench_*.c stays one file. */
#ifndef FLEX_BENCH_H
#define FLEX_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BENCH_REPEATS 5

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Prints "name: median M/s (min..max)" for rates in ops/s; |target| (M/s,
 * 0 = none) is printed beside it, not asserted: benchmarks never fail. */
static inline void bench_report(const char *name, double *rates, int n, double target)
{
    qsort(rates, (size_t)n, sizeof(double), bench_cmp);
    printf("%-44s %8.2f M/s  (min %.2f, max %.2f, %d runs)", name, rates[n / 2] / 1e6,
           rates[0] / 1e6, rates[n - 1] / 1e6, n);
    if (target > 0)
        printf("  target %.0f M/s", target);
    printf("\n");
}

/* Iteration count |n| divided by $FLEX_BENCH_DIV (default 1): lets
 * `valgrind --tool=callgrind` count instructions per operation, which is
 * repeatable on this VM where wall-clock rates swing by tens of percent. */
static inline long bench_iters(long n)
{
    const char *d = getenv("FLEX_BENCH_DIV");
    long div = d ? atol(d) : 1;
    return div > 1 ? n / div : n;
}

/* Keeps the compiler from deleting a computed value. */
static inline void bench_sink(uint64_t v)
{
    __asm__ volatile("" : : "r"(v) : "memory");
}

#endif
