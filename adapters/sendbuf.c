#include "sendbuf.h"

#include <string.h>

#include "mem.h"

uint8_t *flex_sendbuf_reserve(struct flex_sendbuf *b, size_t more)
{
    if (b->queued_len + more > b->queued_cap) {
        size_t cap = b->queued_cap ? b->queued_cap : 65536;
        while (cap < b->queued_len + more)
            cap *= 2;
        b->queued = flex_realloc(b->queued, cap);
        b->queued_cap = cap;
    }
    return b->queued + b->queued_len;
}

void flex_sendbuf_commit(struct flex_sendbuf *b, size_t n)
{
    b->queued_len += n;
}

void flex_sendbuf_append(struct flex_sendbuf *b, const void *p, size_t n)
{
    memcpy(flex_sendbuf_reserve(b, n), p, n);
    b->queued_len += n;
}

size_t flex_sendbuf_next(struct flex_sendbuf *b, const uint8_t **p)
{
    if (b->sending_off == b->sending_len) {
        if (b->queued_len == 0)
            return 0;
        /* Swap: what was queued goes out, the spent buffer takes new bytes. */
        uint8_t *spent = b->sending;
        size_t cap = b->sending_cap;
        b->sending = b->queued;
        b->sending_cap = b->queued_cap;
        b->sending_len = b->queued_len;
        b->sending_off = 0;
        b->queued = spent;
        b->queued_cap = cap;
        b->queued_len = 0;
    }
    *p = b->sending + b->sending_off;
    return b->sending_len - b->sending_off;
}

void flex_sendbuf_sent(struct flex_sendbuf *b, size_t n)
{
    b->sending_off += n;
}

size_t flex_sendbuf_pending(const struct flex_sendbuf *b)
{
    return b->queued_len + (b->sending_len - b->sending_off);
}

void flex_sendbuf_clear(struct flex_sendbuf *b)
{
    b->queued_len = 0;
    b->sending_len = b->sending_off = 0;
}

void flex_sendbuf_abandon_sending(struct flex_sendbuf *b)
{
    b->sending = NULL;
    b->sending_cap = b->sending_len = b->sending_off = 0;
}

void flex_sendbuf_free(struct flex_sendbuf *b)
{
    flex_free(b->queued);
    flex_free(b->sending);
    b->queued = b->sending = NULL;
    b->queued_cap = b->sending_cap = 0;
    flex_sendbuf_clear(b);
}
