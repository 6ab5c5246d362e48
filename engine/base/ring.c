#include "ring.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "mem.h"

int flex_ring_init(struct flex_ring *r, size_t capacity)
{
    if (capacity < 2 || (capacity & (capacity - 1)) != 0)
        return FLEX_E_INVAL;
    memset(r, 0, sizeof(*r));
    r->_mask = capacity - 1;
    r->_slots = flex_calloc(capacity, sizeof(void *));
    /* relaxed: no other thread can see the ring before init returns; the
     * caller publishes it (thread creation is a synchronizing operation). */
    atomic_store_explicit(&r->_head, 0, memory_order_relaxed);
    atomic_store_explicit(&r->_tail, 0, memory_order_relaxed);
    assert(((uintptr_t)&r->_head - (uintptr_t)&r->_tail) >= FLEX_CACHELINE);
    return 0;
}

void flex_ring_free(struct flex_ring *r)
{
    flex_free(r->_slots);
    r->_slots = NULL;
}

size_t flex_ring_push_batch(struct flex_ring *r, void *const *items, size_t n)
{
    /* relaxed: only this (producer) thread writes _tail. */
    size_t tail = atomic_load_explicit(&r->_tail, memory_order_relaxed);
    size_t cap = r->_mask + 1;
    size_t free_slots = cap - (tail - r->_head_cache);
    if (free_slots < n) {
        /* acquire: pairs with the consumer's release store of _head, so the
         * consumer's reads of the slots we are about to overwrite happened
         * before our writes. */
        r->_head_cache = atomic_load_explicit(&r->_head, memory_order_acquire);
        free_slots = cap - (tail - r->_head_cache);
        if (free_slots == 0)
            return 0;
        if (n > free_slots)
            n = free_slots;
    }
    size_t idx = tail & r->_mask;
    size_t first = cap - idx < n ? cap - idx : n;
    memcpy(&r->_slots[idx], items, first * sizeof(void *));
    memcpy(&r->_slots[0], items + first, (n - first) * sizeof(void *));
    /* release: makes the slot writes above visible before the consumer can
     * observe the new tail; pairs with the acquire load in pop. */
    atomic_store_explicit(&r->_tail, tail + n, memory_order_release);
    return n;
}

int flex_ring_push(struct flex_ring *r, void *item)
{
    return (int)flex_ring_push_batch(r, &item, 1);
}

size_t flex_ring_pop_batch(struct flex_ring *r, void **out, size_t n)
{
    /* relaxed: only this (consumer) thread writes _head. */
    size_t head = atomic_load_explicit(&r->_head, memory_order_relaxed);
    size_t avail = r->_tail_cache - head;
    if (avail < n) {
        /* acquire: pairs with the producer's release store of _tail, so the
         * slot contents it wrote are visible to the reads below. */
        r->_tail_cache = atomic_load_explicit(&r->_tail, memory_order_acquire);
        avail = r->_tail_cache - head;
        if (avail == 0)
            return 0;
        if (n > avail)
            n = avail;
    }
    size_t cap = r->_mask + 1;
    size_t idx = head & r->_mask;
    size_t first = cap - idx < n ? cap - idx : n;
    memcpy(out, &r->_slots[idx], first * sizeof(void *));
    memcpy(out + first, &r->_slots[0], (n - first) * sizeof(void *));
    /* release: our slot reads above complete before the producer can see
     * the slots as free and overwrite them; pairs with the producer's
     * acquire load of _head. */
    atomic_store_explicit(&r->_head, head + n, memory_order_release);
    return n;
}

void *flex_ring_pop(struct flex_ring *r)
{
    void *item = NULL;
    return flex_ring_pop_batch(r, &item, 1) ? item : NULL;
}

size_t flex_ring_count(const struct flex_ring *r)
{
    /* relaxed: a monitoring snapshot; read head first so the difference can
     * only over-estimate, then clamp. */
    size_t head = atomic_load_explicit(&r->_head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&r->_tail, memory_order_relaxed);
    size_t n = tail - head;
    return n > r->_mask + 1 ? r->_mask + 1 : n;
}

size_t flex_ring_capacity(const struct flex_ring *r)
{
    return r->_mask + 1;
}

size_t flex_ring_push_all(struct flex_ring *r, void *const *items, size_t n, _Atomic bool *stop)
{
    size_t done = 0;
    while (done < n) {
        size_t k = flex_ring_push_batch(r, items + done, n - done);
        done += k;
        if (k == 0) {
            /* relaxed: a stop flag, polled; nothing is published through it. */
            if (stop && atomic_load_explicit(stop, memory_order_relaxed))
                break;
            usleep(200);
        }
    }
    return done;
}
