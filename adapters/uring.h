/*
 * Small helpers shared by every io_uring user (smscsim, the SMPP sessions).
 *
 * user_data carries what a completion belongs to, as one 64-bit value:
 *     bits 63..56  type    (accept, recv, send, timer, ...)
 *     bits 55..32  slot    (index of the connection in its table)
 *     bits 31..0   generation of the slot when the request was made
 * A completion whose generation no longer matches its slot's is stale (the
 * connection was closed and the slot reused) and is dropped: nginx's
 * "instance" bit, widened.
 */
#ifndef FLEX_URING_H
#define FLEX_URING_H

#include <liburing.h>
#include <stdint.h>

static inline uint64_t flex_uring_ud(unsigned type, uint32_t slot, uint32_t gen)
{
    return (uint64_t)(type & 0xff) << 56 | (uint64_t)(slot & 0xffffff) << 32 | gen;
}

static inline unsigned flex_uring_ud_type(uint64_t ud)
{
    return (unsigned)(ud >> 56);
}

static inline uint32_t flex_uring_ud_slot(uint64_t ud)
{
    return (uint32_t)(ud >> 32) & 0xffffff;
}

static inline uint32_t flex_uring_ud_gen(uint64_t ud)
{
    return (uint32_t)ud;
}

/* The one place that handles a full submission queue: submit what is
 * queued and try again.  Never returns NULL on a ring that works. */
static inline struct io_uring_sqe *flex_uring_sqe(struct io_uring *ring)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    while (!sqe) {
        io_uring_submit(ring);
        sqe = io_uring_get_sqe(ring);
    }
    return sqe;
}

/* Sets up |ring| with |entries| slots, single issuer and deferred task
 * work when the kernel has them (6.1+), plain otherwise.  Returns 0 or
 * -errno. */
static inline int flex_uring_init(struct io_uring *ring, unsigned entries)
{
#if defined(IORING_SETUP_SINGLE_ISSUER) && defined(IORING_SETUP_DEFER_TASKRUN)
    int rc =
        io_uring_queue_init(entries, ring, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
    if (rc == 0)
        return 0;
#endif
    return io_uring_queue_init(entries, ring, 0);
}

#endif
