/*
 * Quiescent-state-based reclamation (QSBR) for read-mostly snapshots.
 *
 * Used for the config snapshot (flex_cfg_current): readers on worker threads
 * load the current pointer and use it freely until their next quiescent
 * point (the top of their event loop); a reload publishes a new snapshot and
 * retires the old one, which is freed only once every reader has passed a
 * quiescent point or gone offline since the swap.  Readers never write
 * shared memory per access, never wait, and never see half of two configs.
 *
 * Cardinality: any number of registered readers (one per thread), writers
 * serialized by the caller (the main thread does reloads).
 *
 *   epoch (global, writer bumps)      reader.seen
 *   1 --swap A->B, retire A@2--> 2    0 = offline (holds nothing)
 *                                     e = passed a quiescent point in epoch e
 *   A is freed once every reader has seen == 0 or seen >= 2.
 *
 * Why not liburcu: Debian 12 ships liburcu 0.13, whose barriers are inline
 * assembly that ThreadSanitizer cannot see, so every TSan run of the engine
 * would report false races; this file is small and uses C11 atomics only.
 */
#ifndef FLEX_QSBR_H
#define FLEX_QSBR_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include "ring.h" /* FLEX_CACHELINE */

#define FLEX_QSBR_MAX_READERS 64

struct flex_qsbr_reader {
    alignas(FLEX_CACHELINE) _Atomic uint64_t _seen;
};

typedef void (*flex_qsbr_free_cb)(void *ptr);

struct flex_qsbr_retired;

struct flex_qsbr {
    alignas(FLEX_CACHELINE) _Atomic uint64_t _epoch;
    _Atomic(struct flex_qsbr_reader *) _readers[FLEX_QSBR_MAX_READERS];
    struct flex_qsbr_retired *_retired; /* writer only */
};

void flex_qsbr_init(struct flex_qsbr *q);
/* Frees everything still retired, without waiting: call only when no reader
 * is left. */
void flex_qsbr_free(struct flex_qsbr *q);

/* Registers |r| (caller-owned, lives until unregister) online.  Returns 0 or
 * FLEX_E_FULL. */
int flex_qsbr_register(struct flex_qsbr *q, struct flex_qsbr_reader *r);
void flex_qsbr_unregister(struct flex_qsbr *q, struct flex_qsbr_reader *r);

/* Reader: "I hold no snapshot pointer loaded before this call". */
void flex_qsbr_quiescent(struct flex_qsbr *q, struct flex_qsbr_reader *r);
/* Reader: before blocking (holds nothing while offline), and after. */
void flex_qsbr_offline(struct flex_qsbr_reader *r);
void flex_qsbr_online(struct flex_qsbr *q, struct flex_qsbr_reader *r);

/* Writer: after unpublishing |ptr|, hands it over to be freed with |cb|
 * once no reader can hold it. */
void flex_qsbr_retire(struct flex_qsbr *q, void *ptr, flex_qsbr_free_cb cb);
/* Writer: frees what is safe now; returns how many items are still
 * waiting. */
int flex_qsbr_poll(struct flex_qsbr *q);

#endif
