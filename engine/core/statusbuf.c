#include "statusbuf.h"

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "flex.pb-c.h"
#include "mem.h"
#include "store.h"

#define STR_BYTES (FLEX_STATUSBUF_MAX * 384)

struct flex_statusbuf {
    Flex__V1__StatusEvent ev[FLEX_STATUSBUF_MAX];
    Flex__V1__StatusEvent *ptr[FLEX_STATUSBUF_MAX];
    size_t n;
    char strs[STR_BYTES]; /* the events' strings */
    size_t used;
    uint8_t *packed; /* grown as needed, kept */
    size_t packed_cap;
};

struct flex_statusbuf *flex_statusbuf_new(void)
{
    return flex_calloc(1, sizeof(struct flex_statusbuf));
}

void flex_statusbuf_del(struct flex_statusbuf *b)
{
    if (!b)
        return;
    flex_free(b->packed);
    flex_free(b);
}

size_t flex_statusbuf_count(const struct flex_statusbuf *b)
{
    return b->n;
}

/* A copy of |s| in the buffer (strings longer than 200 bytes are cut: no
 * field of an event is that long). */
static char *copy(struct flex_statusbuf *b, const char *s)
{
    if (!s || !*s)
        return (char *)"";
    size_t len = strnlen(s, 200);
    char *dst = b->strs + b->used;
    memcpy(dst, s, len);
    dst[len] = '\0';
    b->used += len + 1;
    return dst;
}

int flex_statusbuf_add(struct flex_statusbuf *b, const Flex__V1__StatusEvent *ev)
{
    if (b->n == FLEX_STATUSBUF_MAX || b->used + 6 * 201 > STR_BYTES)
        return FLEX_E_FULL;
    Flex__V1__StatusEvent *e = &b->ev[b->n];
    *e = *ev;
    e->job_id = copy(b, ev->job_id);
    e->reason = copy(b, ev->reason);
    e->carrier = copy(b, ev->carrier);
    e->carrier_message_id = copy(b, ev->carrier_message_id);
    e->location = copy(b, ev->location);
    e->patient = copy(b, ev->patient);
    b->ptr[b->n] = e;
    b->n++;
    return 0;
}

int flex_statusbuf_add_borrowed(struct flex_statusbuf *b, const Flex__V1__StatusEvent *ev)
{
    if (b->n == FLEX_STATUSBUF_MAX)
        return FLEX_E_FULL;
    b->ev[b->n] = *ev;
    b->ptr[b->n] = &b->ev[b->n];
    b->n++;
    return 0;
}

void flex_statusbuf_clear(struct flex_statusbuf *b)
{
    b->n = 0;
    b->used = 0;
}

int flex_statusbuf_append(struct flex_statusbuf *b, struct flex_store *st, int64_t keep_from_ms)
{
    if (b->n == 0)
        return 0;
    Flex__V1__StatusBatch batch = FLEX__V1__STATUS_BATCH__INIT;
    batch.n_events = b->n;
    batch.events = b->ptr;
    size_t len = flex__v1__status_batch__get_packed_size(&batch);
    if (len > b->packed_cap) {
        b->packed_cap = len * 2;
        b->packed = flex_realloc(b->packed, b->packed_cap);
    }
    flex__v1__status_batch__pack(&batch, b->packed);
    char minid[32], count[24];
    snprintf(minid, sizeof(minid), "%lld", (long long)keep_from_ms);
    int cn = snprintf(count, sizeof(count), "%zu", b->n);
    const char *argv[] = {"XADD", FLEX_KEY_STATUS,         "MINID", "~",  minid, "*",
                          "evs",  (const char *)b->packed, "n",     count};
    size_t lens[] = {4, strlen(FLEX_KEY_STATUS), 5, 1, strlen(minid), 1, 3, len, 1, (size_t)cn};
    flex_store_append(st, 10, argv, lens);
    flex_statusbuf_clear(b);
    return 1;
}
