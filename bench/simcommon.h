/*
 * What the carrier simulators (smscsim, httpsim) share: their listening
 * socket and the set of distinct destinations their --stats count.
 */
#ifndef FLEX_SIMCOMMON_H
#define FLEX_SIMCOMMON_H

#include <stddef.h>
#include <stdint.h>

#include <time.h>

#include "hash.h"

static inline uint64_t sim_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Marsaglia's xorshift64: the simulators' cheap random numbers. */
static inline uint64_t sim_xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Listens on |hostport| ("127.0.0.1:2775") with |sock_flags| (SOCK_NONBLOCK
 * or 0) and a backlog of |backlog|; returns the socket, or -1 after
 * printing why, prefixed by |prog|. */
int sim_listen_on(const char *prog, const char *hostport, int sock_flags, int backlog);

/* Distinct destinations, by a keyed hash (a collision undercounts by one in
 * 2^64: fine for a statistic). */
struct sim_destset {
    uint64_t *set; /* open addressing; 0 = empty */
    size_t mask, count;
    struct flex_hash_key key;
};

void sim_destset_init(struct sim_destset *d, uint64_t k0, uint64_t k1);
void sim_destset_add(struct sim_destset *d, const char *dst, size_t len);
void sim_destset_free(struct sim_destset *d);

#endif
