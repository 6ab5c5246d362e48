/*
 * Blocked bloom filter for the opt-out set.
 *
 * Each key sets k bits inside one 512-bit block (one cache line), so a lookup
 * touches one line.  Keys are hashed with SipHash under a secret key: a dump
 * of the bits (or the serialized form) cannot be tested against candidate
 * phone numbers without that key.  The filter answers "maybe present" or
 * "certainly absent"; Flex checks the exact Redis set behind every "maybe".
 * Bits are never cleared (an opt-in leaves its bits set and costs one exact
 * lookup until the next rebuild).
 *
 * Thread use: adds and lookups may run on different threads when the caller
 * publishes adds (the engine rebuilds and swaps whole filters, or adds on the
 * thread that looks up).
 */
#ifndef FLEX_BLOOM_H
#define FLEX_BLOOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"

struct flex_bloom;

/* Sizes a filter for |expected| keys at false-positive rate |fpr| (0 < fpr
 * < 1), accounting for the extra false positives of blocking.  Returns 0 and
 * sets |*out| (owned by the caller, free with flex_bloom_del), or
 * FLEX_E_INVAL. */
int flex_bloom_new(struct flex_bloom **out, uint64_t expected, double fpr,
                   const struct flex_hash_key *key);
void flex_bloom_del(struct flex_bloom *b);

void flex_bloom_add(struct flex_bloom *b, const void *data, size_t len);
/* false: certainly never added.  true: added, or a false positive. */
bool flex_bloom_maybe(const struct flex_bloom *b, const void *data, size_t len);

/* As flex_bloom_maybe for |n| keys (|keys|[i], |lens|[i] borrowed) into
 * |out|[i].  Hashes a group first and prefetches its blocks, so the memory
 * latency of the group overlaps: the intake path checks a whole batch of
 * jobs at once. */
void flex_bloom_maybe_batch(const struct flex_bloom *b, const void *const *keys, const size_t *lens,
                            size_t n, bool *out);

/* Predicted false-positive rate for the current count, from the blocked
 * model; and sizing facts for metrics and docs. */
double flex_bloom_predicted_fpr(const struct flex_bloom *b);
uint64_t flex_bloom_count(const struct flex_bloom *b);
uint64_t flex_bloom_bits(const struct flex_bloom *b);
unsigned flex_bloom_k(const struct flex_bloom *b);

/* Serialized size, and serialization into |buf| (|len| >= that size).  The
 * key is never written; a check value lets load detect the wrong key.
 * Returns bytes written or FLEX_E_NOSPACE. */
size_t flex_bloom_serialized_size(const struct flex_bloom *b);
long flex_bloom_serialize(const struct flex_bloom *b, void *buf, size_t len);
/* Parses |buf| (borrowed).  Returns 0 and a new filter in |*out|, or
 * FLEX_E_CORRUPT (bad magic, size or checksum) or FLEX_E_KEY (made with
 * another key). */
int flex_bloom_load(struct flex_bloom **out, const void *buf, size_t len,
                    const struct flex_hash_key *key);

#endif
