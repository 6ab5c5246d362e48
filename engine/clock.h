/*
 * Clocks.  Wall time in milliseconds since the epoch for what is stored or
 * compared with stored times (stream ids, status events, expiries); the
 * monotonic clock for intervals (timeouts, rates, backoff).
 */
#ifndef FLEX_CLOCK_H
#define FLEX_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_REALTIME, ms since the epoch. */
int64_t flex_now_ms(void);

/* CLOCK_MONOTONIC in ns and ms: for intervals only. */
static inline uint64_t flex_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline int64_t flex_mono_ms(void)
{
    return (int64_t)(flex_mono_ns() / 1000000ULL);
}

#endif
