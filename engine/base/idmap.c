/*
 * Open addressing with linear probing.  A removal shifts the entries after
 * it back (no tombstones), so a map whose ids come and go at a steady rate
 * keeps its size and never rebuilds; it grows, dropping entries past their
 * TTL, only when the live ids fill half of it.  Each slot keeps its key's
 * hash: a probe compares it before the key, and a rebuild does not hash.
 */
#include "idmap.h"

#include <stdint.h>
#include <string.h>

#include "hash.h"
#include "mem.h"

#define KEY_MAX 65
#define MIN_SLOTS 1024

struct idslot {
    uint64_t hash; /* 0: empty (a key hashing to 0 is stored as 1) */
    uint64_t cookie;
    uint64_t at_ns;
    char key[KEY_MAX];
};

struct flex_idmap {
    struct idslot *slots;
    size_t mask, used;
    uint64_t ttl_ns;
    struct flex_hash_key hk;
    size_t max;       /* live entries at most (0: no cap) */
    size_t cursor;    /* where the next eviction sample starts */
    uint64_t evicted; /* entries dropped for the cap */
};

#define EVICT_SAMPLE 16 /* occupied slots compared per eviction */

struct flex_idmap *flex_idmap_new(uint64_t ttl_ns, uint64_t seed)
{
    struct flex_idmap *m = flex_calloc(1, sizeof(*m));
    m->mask = MIN_SLOTS - 1;
    m->slots = flex_calloc(m->mask + 1, sizeof(struct idslot));
    m->ttl_ns = ttl_ns;
    m->hk.k0 = seed;
    return m;
}

void flex_idmap_free(struct flex_idmap *m)
{
    if (!m)
        return;
    flex_free(m->slots);
    flex_free(m);
}

static uint64_t key_hash(const struct flex_idmap *m, const char *key)
{
    uint64_t h = flex_siphash13(&m->hk, key, strnlen(key, KEY_MAX - 1));
    return h ? h : 1;
}

/* The slot holding |key| (hash |h|), or the empty slot where it would go.
 * The table is never more than half full, so an empty slot is found. */
static struct idslot *slot_of(const struct flex_idmap *m, const char *key, uint64_t h)
{
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        struct idslot *e = &m->slots[i];
        if (e->hash == 0 || (e->hash == h && strcmp(e->key, key) == 0))
            return e;
    }
}

/* Rebuilds so that the live entries fill at most a quarter, dropping those
 * past their TTL. */
static void grow(struct flex_idmap *m, uint64_t now)
{
    struct idslot *old = m->slots;
    size_t omask = m->mask, live = 0;
    for (size_t i = 0; i <= omask; i++)
        live += old[i].hash != 0 && now - old[i].at_ns < m->ttl_ns;
    m->mask = MIN_SLOTS - 1;
    while ((live + 1) * 4 > m->mask + 1)
        m->mask = m->mask * 2 + 1;
    m->slots = flex_calloc(m->mask + 1, sizeof(struct idslot));
    m->used = 0;
    for (size_t i = 0; i <= omask; i++) {
        if (old[i].hash == 0 || now - old[i].at_ns >= m->ttl_ns)
            continue;
        size_t j = old[i].hash & m->mask;
        while (m->slots[j].hash != 0)
            j = (j + 1) & m->mask;
        m->slots[j] = old[i];
        m->used++;
    }
    flex_free(old);
}

static void remove_at(struct flex_idmap *m, size_t i);

void flex_idmap_set_limit(struct flex_idmap *m, size_t max)
{
    m->max = max;
}

uint64_t flex_idmap_evicted(const struct flex_idmap *m)
{
    return m->evicted;
}

/* Drops the oldest of the next EVICT_SAMPLE live entries from the cursor on
 * (the map is not empty: the caller holds |max| >= 1 of them). */
static void evict_one(struct flex_idmap *m)
{
    size_t best = SIZE_MAX, seen = 0, i = m->cursor & m->mask;
    for (size_t n = 0; n <= m->mask && seen < EVICT_SAMPLE; n++, i = (i + 1) & m->mask)
        if (m->slots[i].hash != 0) {
            if (best == SIZE_MAX || m->slots[i].at_ns < m->slots[best].at_ns)
                best = i;
            seen++;
        }
    m->cursor = i;
    if (best != SIZE_MAX) {
        remove_at(m, best);
        m->evicted++;
    }
}

void flex_idmap_put(struct flex_idmap *m, const char *key, uint64_t cookie, uint64_t now_ns)
{
    if ((m->used + 1) * 2 > m->mask + 1)
        grow(m, now_ns);
    uint64_t h = key_hash(m, key);
    struct idslot *e = slot_of(m, key, h);
    if (e->hash == 0 && m->max > 0 && m->used >= m->max) {
        evict_one(m); /* entries move: look the key's slot up again */
        e = slot_of(m, key, h);
    }
    if (e->hash == 0)
        m->used++;
    e->hash = h;
    size_t n = strnlen(key, KEY_MAX - 1);
    memcpy(e->key, key, n);
    e->key[n] = '\0';
    e->cookie = cookie;
    e->at_ns = now_ns;
}

/* Empties slot |i| and moves back the entries of its probe run that may not
 * stay behind the hole: an entry at j stays only when its home slot lies
 * cyclically in (i, j]. */
static void remove_at(struct flex_idmap *m, size_t i)
{
    for (size_t j = (i + 1) & m->mask; m->slots[j].hash != 0; j = (j + 1) & m->mask) {
        size_t home = m->slots[j].hash & m->mask;
        bool stays = i <= j ? i < home && home <= j : i < home || home <= j;
        if (!stays) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].hash = 0;
    m->used--;
}

bool flex_idmap_has(const struct flex_idmap *m, const char *key)
{
    return slot_of(m, key, key_hash(m, key))->hash != 0;
}

bool flex_idmap_get(const struct flex_idmap *m, const char *key, uint64_t *cookie)
{
    const struct idslot *e = slot_of(m, key, key_hash(m, key));
    if (e->hash == 0)
        return false;
    *cookie = e->cookie;
    return true;
}

bool flex_idmap_take(struct flex_idmap *m, const char *key, uint64_t *cookie)
{
    struct idslot *e = slot_of(m, key, key_hash(m, key));
    if (e->hash == 0)
        return false;
    *cookie = e->cookie;
    remove_at(m, (size_t)(e - m->slots));
    return true;
}

void flex_idmap_each(const struct flex_idmap *m, flex_idmap_each_cb fn, void *arg)
{
    for (size_t i = 0; i <= m->mask; i++)
        if (m->slots[i].hash)
            fn(arg, m->slots[i].key, m->slots[i].cookie);
}

size_t flex_idmap_count(const struct flex_idmap *m)
{
    return m->used;
}

size_t flex_idmap_capacity(const struct flex_idmap *m)
{
    return m->mask + 1;
}
