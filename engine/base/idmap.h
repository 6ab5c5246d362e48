/*
 * A map from a string key to a number, with a TTL: the ESME's map from a
 * carrier's message id (its matching key) to the submit it answered, so
 * that a receipt on this client finds its message without asking Redis,
 * and the intake's set of stream entries in flight.  Ids come and go at the
 * message rate: an id is put when its submit_sm_resp arrives and taken
 * when its receipt does, usually within seconds.  Entries whose receipt
 * never comes are dropped after a TTL when the map next grows (the engine's
 * Redis map still matches their receipts).  One thread only.
 */
#ifndef FLEX_IDMAP_H
#define FLEX_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flex_idmap;

/* |ttl_ns|: how long an entry is kept; |seed|: hash key (per process). */
struct flex_idmap *flex_idmap_new(uint64_t ttl_ns, uint64_t seed);
void flex_idmap_free(struct flex_idmap *m);

/* Caps the live entries at |max| (0: no cap, the default): a put of a new
 * key into a full map first evicts an old entry (the oldest of a sample of
 * slots, Redis-style), counted in flex_idmap_evicted. */
void flex_idmap_set_limit(struct flex_idmap *m, size_t max);
uint64_t flex_idmap_evicted(const struct flex_idmap *m);

/* Maps |key| (a NUL-terminated string under 65 bytes) to |cookie| at time
 * |now_ns|, replacing an earlier mapping of the same key. */
void flex_idmap_put(struct flex_idmap *m, const char *key, uint64_t cookie, uint64_t now_ns);

/* Whether |key| is mapped. */
bool flex_idmap_has(const struct flex_idmap *m, const char *key);

/* Whether |key| is mapped, with its cookie. */
bool flex_idmap_get(const struct flex_idmap *m, const char *key, uint64_t *cookie);

/* Removes |key|; true with its cookie when it was there. */
bool flex_idmap_take(struct flex_idmap *m, const char *key, uint64_t *cookie);

/* Calls |fn|(|arg|, key, cookie) for every entry, in no order; |fn| must
 * not change |m|. */
typedef void (*flex_idmap_each_cb)(void *arg, const char *key, uint64_t cookie);
void flex_idmap_each(const struct flex_idmap *m, flex_idmap_each_cb fn, void *arg);

/* Live entries, and slots in the table (for tests and metrics). */
size_t flex_idmap_count(const struct flex_idmap *m);
size_t flex_idmap_capacity(const struct flex_idmap *m);

#endif
