#include "qsbr.h"

#include <stddef.h>

#include "err.h"
#include "mem.h"

struct flex_qsbr_retired {
    struct flex_qsbr_retired *next;
    void *ptr;
    flex_qsbr_free_cb cb;
    uint64_t epoch; /* freeable once every online reader has seen >= epoch */
};

void flex_qsbr_init(struct flex_qsbr *q)
{
    /* relaxed: the domain is published to threads by thread creation. */
    atomic_store_explicit(&q->_epoch, 1, memory_order_relaxed);
    for (int i = 0; i < FLEX_QSBR_MAX_READERS; i++)
        atomic_store_explicit(&q->_readers[i], NULL, memory_order_relaxed);
    q->_retired = NULL;
}

void flex_qsbr_free(struct flex_qsbr *q)
{
    struct flex_qsbr_retired *r = q->_retired;
    while (r) {
        struct flex_qsbr_retired *next = r->next;
        r->cb(r->ptr);
        flex_free(r);
        r = next;
    }
    q->_retired = NULL;
}

int flex_qsbr_register(struct flex_qsbr *q, struct flex_qsbr_reader *r)
{
    flex_qsbr_online(q, r);
    for (int i = 0; i < FLEX_QSBR_MAX_READERS; i++) {
        struct flex_qsbr_reader *expected = NULL;
        /* acq_rel: release publishes r->_seen (set online above) to a writer
         * that acquires the slot; acquire orders against a prior
         * unregister's store of NULL. */
        if (atomic_compare_exchange_strong_explicit(&q->_readers[i], &expected, r,
                                                    memory_order_acq_rel, memory_order_relaxed)) {
            /* seq_cst fence: the registration store must be visible to a
             * writer before this thread loads any snapshot pointer (pairs
             * with the fence in flex_qsbr_retire). */
            atomic_thread_fence(memory_order_seq_cst);
            return 0;
        }
    }
    return FLEX_E_FULL;
}

void flex_qsbr_unregister(struct flex_qsbr *q, struct flex_qsbr_reader *r)
{
    flex_qsbr_offline(r);
    for (int i = 0; i < FLEX_QSBR_MAX_READERS; i++) {
        /* relaxed load: only this thread stores r into its slot. */
        if (atomic_load_explicit(&q->_readers[i], memory_order_relaxed) == r) {
            /* release: our last snapshot reads happen before a writer that
             * sees the slot empty frees anything. */
            atomic_store_explicit(&q->_readers[i], NULL, memory_order_release);
            return;
        }
    }
}

void flex_qsbr_quiescent(struct flex_qsbr *q, struct flex_qsbr_reader *r)
{
    /* acquire: pairs with the writer's release increment, so once we record
     * the new epoch our later pointer loads see the new snapshot. */
    uint64_t e = atomic_load_explicit(&q->_epoch, memory_order_acquire);
    /* release: every read of the old snapshot above happens before a writer
     * that acquires this value and frees it. */
    atomic_store_explicit(&r->_seen, e, memory_order_release);
}

void flex_qsbr_offline(struct flex_qsbr_reader *r)
{
    /* release: as in quiescent, our reads of any snapshot are done. */
    atomic_store_explicit(&r->_seen, 0, memory_order_release);
}

void flex_qsbr_online(struct flex_qsbr *q, struct flex_qsbr_reader *r)
{
    uint64_t e = atomic_load_explicit(&q->_epoch, memory_order_acquire);
    atomic_store_explicit(&r->_seen, e, memory_order_relaxed);
    /* seq_cst fence: store(seen) must be ordered before our next load of a
     * snapshot pointer (store-load), pairing with the writer's fence between
     * its pointer swap and its scan of readers: either the writer sees us
     * online, or we see the new pointer. */
    atomic_thread_fence(memory_order_seq_cst);
}

void flex_qsbr_retire(struct flex_qsbr *q, void *ptr, flex_qsbr_free_cb cb)
{
    struct flex_qsbr_retired *r = flex_malloc(sizeof(*r));
    /* release: the caller's swap of the published pointer happens before
     * the new epoch; a reader acquiring the epoch then sees the new pointer. */
    uint64_t e = atomic_fetch_add_explicit(&q->_epoch, 1, memory_order_release) + 1;
    /* seq_cst fence: pairs with the fence in flex_qsbr_online/register. */
    atomic_thread_fence(memory_order_seq_cst);
    r->ptr = ptr;
    r->cb = cb;
    r->epoch = e;
    r->next = q->_retired;
    q->_retired = r;
}

/* True when no online reader can still hold something retired at |epoch|. */
static int safe_at(struct flex_qsbr *q, uint64_t epoch)
{
    for (int i = 0; i < FLEX_QSBR_MAX_READERS; i++) {
        /* acquire: pairs with register's release, so _seen is readable. */
        struct flex_qsbr_reader *r = atomic_load_explicit(&q->_readers[i], memory_order_acquire);
        if (!r)
            continue;
        /* acquire: pairs with the reader's release in quiescent/offline, so
         * its reads of the old snapshot happen before our free. */
        uint64_t seen = atomic_load_explicit(&r->_seen, memory_order_acquire);
        if (seen != 0 && seen < epoch)
            return 0;
    }
    return 1;
}

int flex_qsbr_poll(struct flex_qsbr *q)
{
    int left = 0;
    struct flex_qsbr_retired **pp = &q->_retired;
    while (*pp) {
        struct flex_qsbr_retired *r = *pp;
        if (safe_at(q, r->epoch)) {
            *pp = r->next;
            r->cb(r->ptr);
            flex_free(r);
        } else {
            left++;
            pp = &r->next;
        }
    }
    return left;
}
