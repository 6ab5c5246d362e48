/*
 * Rate limiting by GCRA (the generic cell rate algorithm, a token bucket
 * expressed as one timestamp per key).
 *
 * For a rate r and a burst b, the emission interval is T = 1/r and the
 * state is the theoretical arrival time (TAT) of the next conforming
 * message.  A request for n messages at time now conforms when
 *     max(TAT, now) + n*T - now <= b*T
 * and then TAT becomes max(TAT, now) + n*T.  So b messages may go at once
 * after an idle period, and the long-run rate never exceeds r.
 *
 * Time is always passed in by the caller (nanoseconds on any monotonic
 * clock): the limiter never reads a clock, so tests drive it with a
 * simulated one.  Not thread-safe: each limiter belongs to one thread.
 */
#ifndef FLEX_RATELIMIT_H
#define FLEX_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flex_gcra {
    uint64_t interval_ns; /* T; 0 = unlimited */
    uint64_t burst_ns;    /* b*T */
};

/* |rate| messages per second (0 = unlimited), |burst| >= 1. */
void flex_gcra_init(struct flex_gcra *g, double rate, uint32_t burst);

/* Takes |n| messages at |now| against |*tat| (caller-owned state, 0 when
 * new).  Returns 0 when allowed (and advances *tat), else the nanoseconds to
 * wait before the same request would conform (*tat unchanged). */
uint64_t flex_gcra_take(const struct flex_gcra *g, uint64_t *tat, uint64_t now, uint32_t n);

/* The rate of a carrier that refuses "too fast" without saying its limit
 * (SMPP ESME_RTHROTTLED, HTTP 429): a refusal sets the rate to 70% of what
 * was being achieved (acknowledgements over the current and last second,
 * at least |floor|), once per burst of refusals (100 ms); every 100 ms
 * without one it grows 20% (tenfold back in about 1.3 s); far above
 * anything seen (10^6/s) the limit is lifted.  Time in ns from the caller. */
struct flex_aimd {
    struct flex_gcra gcra;
    uint64_t tat;
    double rate;  /* 0 = unlimited */
    double floor; /* the rate a refusal with no measurement yet starts from */
    uint64_t last_hit, checked, probed;
    uint64_t acks_this_sec, acks_last_sec;
};

/* Unlimited, counters from |now|. */
void flex_aimd_reset(struct flex_aimd *a, double floor, uint64_t now);
/* A refusal at |now|.  Returns true when it lowered the rate (the first
 * of a burst), false for the burst's other answers. */
bool flex_aimd_refused(struct flex_aimd *a, uint64_t now);
/* Each loop: rolls the acknowledgement count per second, and probes. */
void flex_aimd_tick(struct flex_aimd *a, uint64_t now);
static inline void flex_aimd_accepted(struct flex_aimd *a)
{
    a->acks_this_sec++;
}
/* Whether one more message may go at |now| (and takes its token). */
static inline bool flex_aimd_take(struct flex_aimd *a, uint64_t now)
{
    return a->rate == 0 || flex_gcra_take(&a->gcra, &a->tat, now, 1) == 0;
}

/* A table of limiters by key (carrier name, sender number, location id).
 * Keys not configured use the table's default parameters. */
struct flex_ratelimit;

struct flex_ratelimit *flex_ratelimit_new(double default_rate, uint32_t default_burst);
void flex_ratelimit_del(struct flex_ratelimit *rl);

/* Sets |key|'s parameters (|key| borrowed, copied).  Keeps its TAT, so a
 * reload that changes a rate does not reset the bucket. */
void flex_ratelimit_set(struct flex_ratelimit *rl, const char *key, size_t keylen, double rate,
                        uint32_t burst);
/* As flex_gcra_take() for |key|.  Returns 0 allowed or ns to wait. */
uint64_t flex_ratelimit_take(struct flex_ratelimit *rl, const char *key, size_t keylen,
                             uint64_t now, uint32_t n);
size_t flex_ratelimit_size(const struct flex_ratelimit *rl);

#endif
