/*
 * Output buffering for a socket driven by io_uring: bytes are queued while
 * one send is in flight, and the next send takes the rest of a partial send
 * first, then everything queued (by swapping the two buffers, no copy).
 * Used by the SMPP client and smscsim.  All-zero is an empty buffer.
 */
#ifndef FLEX_SENDBUF_H
#define FLEX_SENDBUF_H

#include <stddef.h>
#include <stdint.h>

struct flex_sendbuf {
    uint8_t *queued; /* waiting for the next send */
    size_t queued_len, queued_cap;
    uint8_t *sending; /* handed to the kernel; [sending_off, sending_len) still due */
    size_t sending_len, sending_off, sending_cap;
};

/* Room for |more| bytes after the queued ones; returns where to write them
 * (valid until the next call), then flex_sendbuf_commit() what was written. */
uint8_t *flex_sendbuf_reserve(struct flex_sendbuf *b, size_t more);
void flex_sendbuf_commit(struct flex_sendbuf *b, size_t n);
void flex_sendbuf_append(struct flex_sendbuf *b, const void *p, size_t n);

/* The span the next send must carry: the rest of a partial send, else all
 * that is queued.  Returns its length (0: nothing due) and sets |*p|.  Call
 * only while no send is in flight. */
size_t flex_sendbuf_next(struct flex_sendbuf *b, const uint8_t **p);
/* |n| bytes of the span went out. */
void flex_sendbuf_sent(struct flex_sendbuf *b, size_t n);

/* Bytes queued or still due. */
size_t flex_sendbuf_pending(const struct flex_sendbuf *b);
/* Drops everything (the buffers are kept for reuse). */
void flex_sendbuf_clear(struct flex_sendbuf *b);
/* Gives the in-flight buffer up without freeing it (the kernel may still
 * write from it); a new one is allocated when needed. */
void flex_sendbuf_abandon_sending(struct flex_sendbuf *b);
void flex_sendbuf_free(struct flex_sendbuf *b);

#endif
