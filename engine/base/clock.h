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

/* A retry delay that doubles from |min| to |max| (ms) with each failure in
 * a row and starts again from |min| after a success: the Redis reconnects
 * of the intake and the writer (carriers have their own, with jitter and
 * a configured maximum). */
struct flex_backoff {
    unsigned min_ms, max_ms, cur_ms;
};

/* The delay to wait now; the next one is doubled, up to max_ms. */
static inline unsigned flex_backoff_next(struct flex_backoff *b)
{
    unsigned now = b->cur_ms ? b->cur_ms : b->min_ms;
    b->cur_ms = now < b->max_ms / 2 ? now * 2 : b->max_ms;
    return now;
}

static inline void flex_backoff_reset(struct flex_backoff *b)
{
    b->cur_ms = 0;
}

/* |ms| since the epoch as RFC 3339 in UTC with milliseconds
 * ("2026-11-30T14:55:25.123Z") into |out| (FLEX_RFC3339_SZ bytes). */
#define FLEX_RFC3339_SZ 40
void flex_rfc3339_ms(int64_t ms, char out[FLEX_RFC3339_SZ]);

#endif
