/*
 * Bounded single-producer single-consumer ring of pointers.
 *
 * Exactly one producer thread calls the push functions and exactly one
 * consumer thread calls the pop functions; the pipeline gives every pair of
 * threads its own ring (intake -> dispatcher, dispatcher -> each adapter,
 * each adapter -> result writer) instead of sharing an MPSC ring, so no
 * operation ever needs a compare-and-swap.
 *
 * Indices are free-running size_t counters (they never wrap in practice:
 * 2^64 items), masked by capacity-1 (capacity is a power of two).
 *
 *   producer owns |tail|          consumer owns |head|
 *
 *        head                      tail
 *         v                         v
 *   [ .  | A | B | C | D | .  | .  ]
 *          \___ full slots ___/ \_ free _/
 *
 *   invariants: 0 <= tail - head <= capacity
 *               slots [head, tail) hold items published by the producer
 *               slots [tail, head + capacity) are free, owned by the producer
 *
 * Each side keeps a private cached copy of the other side's index and only
 * reloads the shared one when the cache says the ring looks full (producer)
 * or empty (consumer), so in steady state the two cache lines are each
 * written by one thread and read rarely by the other.
 */
#ifndef FLEX_RING_H
#define FLEX_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define FLEX_CACHELINE 64

struct flex_ring {
    /* Producer's line: tail is published to the consumer. */
    alignas(FLEX_CACHELINE) _Atomic size_t _tail;
    size_t _head_cache; /* producer's last view of _head */
    /* Consumer's line: head is published to the producer. */
    alignas(FLEX_CACHELINE) _Atomic size_t _head;
    size_t _tail_cache; /* consumer's last view of _tail */
    /* Read-only after init. */
    alignas(FLEX_CACHELINE) size_t _mask;
    void **_slots;
};

/* Makes |r| (caller-owned) a ring of |capacity| slots, a power of two >= 2.
 * Returns 0, or FLEX_E_INVAL for a bad capacity. */
int flex_ring_init(struct flex_ring *r, size_t capacity);
void flex_ring_free(struct flex_ring *r);

/* Producer only.  Pushes up to |n| items from |items| (borrowed; the
 * pointers themselves pass to the consumer).  Returns the number pushed,
 * 0 when full. */
size_t flex_ring_push_batch(struct flex_ring *r, void *const *items, size_t n);
/* Producer only.  Returns 1 pushed, 0 full. */
int flex_ring_push(struct flex_ring *r, void *item);

/* Consumer only.  Pops up to |n| items into |out|.  Returns the number
 * popped, 0 when empty. */
size_t flex_ring_pop_batch(struct flex_ring *r, void **out, size_t n);
/* Consumer only.  Returns the item or NULL when empty (so NULL cannot be
 * pushed through flex_ring_push when using this). */
void *flex_ring_pop(struct flex_ring *r);

/* Any thread: approximate fill level, for metrics. */
size_t flex_ring_count(const struct flex_ring *r);
size_t flex_ring_capacity(const struct flex_ring *r);

/* Pushes |n| items into |r|, waiting (200 us sleeps) while it is full,
 * until all are in or |stop| (may be NULL) becomes true.  Returns how many
 * were pushed.  Single producer, as flex_ring_push_batch. */
size_t flex_ring_push_all(struct flex_ring *r, void *const *items, size_t n, _Atomic bool *stop);

#endif
