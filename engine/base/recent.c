/* The set of strings seen lately (engine/base/recent.h). */
#include "recent.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "mem.h"

void flex_recent_init(struct flex_recent *r, size_t nslots)
{
    r->slot = flex_calloc(nslots, sizeof(*r->slot));
    r->n = nslots;
    unsigned char k[16];
    if (getrandom(k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k)) {
        /* no entropy yet (early boot): the clock, which only weakens the
         * "no one can aim at a slot" property, never correctness */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t a = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)ts.tv_sec;
        uint64_t b = flex_mix64(a ^ (uint64_t)(uintptr_t)r);
        memcpy(k, &a, 8);
        memcpy(k + 8, &b, 8);
    }
    r->key = flex_hash_key_from_bytes(k);
}

void flex_recent_free(struct flex_recent *r)
{
    flex_free(r->slot);
    r->slot = NULL;
    r->n = 0;
}

static uint64_t *find(const struct flex_recent *r, const char *s, uint64_t *h)
{
    *h = flex_siphash13(&r->key, s, strlen(s));
    if (*h == 0)
        *h = 1; /* 0 marks an empty slot */
    return &r->slot[*h % r->n];
}

bool flex_recent_has(const struct flex_recent *r, const char *s)
{
    uint64_t h;
    const uint64_t *slot = find(r, s, &h); /* before reading h: sets it */
    return *slot == h;
}

void flex_recent_add(struct flex_recent *r, const char *s)
{
    uint64_t h;
    uint64_t *slot = find(r, s, &h);
    *slot = h;
}

bool flex_recent_add_undo(struct flex_recent *r, const char *s, struct flex_recent_undo *u)
{
    uint64_t h, *slot = find(r, s, &h);
    *u = (struct flex_recent_undo){slot, *slot};
    if (*slot == h)
        return true;
    *slot = h;
    return false;
}
