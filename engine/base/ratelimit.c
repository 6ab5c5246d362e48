#include "ratelimit.h"

#include <string.h>

#include "hash.h"
#include "mem.h"

void flex_gcra_init(struct flex_gcra *g, double rate, uint32_t burst)
{
    if (burst == 0)
        burst = 1;
    if (!(rate > 0)) {
        g->interval_ns = 0;
        g->burst_ns = 0;
        return;
    }
    double t = 1e9 / rate;
    g->interval_ns = t < 1 ? 1 : (uint64_t)(t + 0.5);
    g->burst_ns = g->interval_ns * burst;
}

uint64_t flex_gcra_take(const struct flex_gcra *g, uint64_t *tat, uint64_t now, uint32_t n)
{
    if (g->interval_ns == 0)
        return 0;
    uint64_t base = *tat > now ? *tat : now;
    uint64_t next = base + (uint64_t)n * g->interval_ns;
    if (next - now > g->burst_ns)
        return next - now - g->burst_ns;
    *tat = next;
    return 0;
}

#define KEY_MAX 68 /* "c:" / "l:" / "n:" and a name of up to 64 bytes, NUL */

struct entry {
    uint64_t hash; /* 0 = empty slot */
    uint64_t tat;
    struct flex_gcra gcra;
    uint8_t keylen;
    char key[KEY_MAX];
};

struct flex_ratelimit {
    struct flex_hash_key hkey;
    struct flex_gcra dflt;
    struct entry *slots;
    size_t mask;
    size_t used;
};

struct flex_ratelimit *flex_ratelimit_new(double default_rate, uint32_t default_burst)
{
    struct flex_ratelimit *rl = flex_calloc(1, sizeof(*rl));
    /* Keys are configured names, not attacker input; a fixed key is fine. */
    rl->hkey.k0 = 0x666c65782d726c31ULL;
    rl->hkey.k1 = 0x6763726174616231ULL;
    flex_gcra_init(&rl->dflt, default_rate, default_burst);
    rl->mask = 15;
    rl->slots = flex_calloc(rl->mask + 1, sizeof(struct entry));
    return rl;
}

void flex_ratelimit_del(struct flex_ratelimit *rl)
{
    if (!rl)
        return;
    flex_free(rl->slots);
    flex_free(rl);
}

static uint64_t key_hash(const struct flex_ratelimit *rl, const char *key, size_t len)
{
    uint64_t h = flex_siphash13(&rl->hkey, key, len);
    return h ? h : 1;
}

static struct entry *find_slot(struct entry *slots, size_t mask, uint64_t h, const char *key,
                               size_t len)
{
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct entry *e = &slots[i];
        if (e->hash == 0)
            return e;
        if (e->hash == h && e->keylen == len && memcmp(e->key, key, len) == 0)
            return e;
    }
}

static void grow(struct flex_ratelimit *rl)
{
    size_t nmask = rl->mask * 2 + 1;
    struct entry *ns = flex_calloc(nmask + 1, sizeof(struct entry));
    for (size_t i = 0; i <= rl->mask; i++) {
        struct entry *e = &rl->slots[i];
        if (e->hash)
            *find_slot(ns, nmask, e->hash, e->key, e->keylen) = *e;
    }
    flex_free(rl->slots);
    rl->slots = ns;
    rl->mask = nmask;
}

/* Finds or inserts |key| (truncated to KEY_MAX bytes). */
static struct entry *lookup(struct flex_ratelimit *rl, const char *key, size_t len)
{
    if (len > KEY_MAX)
        len = KEY_MAX;
    uint64_t h = key_hash(rl, key, len);
    struct entry *e = find_slot(rl->slots, rl->mask, h, key, len);
    if (e->hash)
        return e;
    if ((rl->used + 1) * 4 > (rl->mask + 1) * 3) {
        grow(rl);
        e = find_slot(rl->slots, rl->mask, h, key, len);
    }
    e->hash = h;
    e->keylen = (uint8_t)len;
    memcpy(e->key, key, len);
    e->gcra = rl->dflt;
    e->tat = 0;
    rl->used++;
    return e;
}

void flex_ratelimit_set(struct flex_ratelimit *rl, const char *key, size_t keylen, double rate,
                        uint32_t burst)
{
    flex_gcra_init(&lookup(rl, key, keylen)->gcra, rate, burst);
}

uint64_t flex_ratelimit_take(struct flex_ratelimit *rl, const char *key, size_t keylen,
                             uint64_t now, uint32_t n)
{
    struct entry *e = lookup(rl, key, keylen);
    return flex_gcra_take(&e->gcra, &e->tat, now, n);
}

size_t flex_ratelimit_size(const struct flex_ratelimit *rl)
{
    return rl->used;
}

#define AIMD_BURST_NS 100000000ULL /* refusals this close are one burst; probes this far apart */

void flex_aimd_reset(struct flex_aimd *a, double floor, uint64_t now)
{
    *a = (struct flex_aimd){.floor = floor, .checked = now};
}

bool flex_aimd_refused(struct flex_aimd *a, uint64_t now)
{
    if (a->last_hit && now - a->last_hit <= AIMD_BURST_NS)
        return false;
    double secs = (double)(now - a->checked) * 1e-9;
    double est = secs > 0.05 ? (double)a->acks_this_sec / secs : 0;
    double base = a->rate > 0 ? a->rate : est;
    if (base < (double)a->acks_last_sec)
        base = (double)a->acks_last_sec;
    if (base < a->floor) /* no measurement yet: modest, and probing finds the level */
        base = a->floor;
    a->rate = base * 0.7;
    flex_gcra_init(&a->gcra, a->rate, (uint32_t)(a->rate / 100) + 1);
    a->last_hit = now;
    return true;
}

void flex_aimd_tick(struct flex_aimd *a, uint64_t now)
{
    if (now - a->checked >= 1000000000ULL) {
        a->checked = now;
        a->acks_last_sec = a->acks_this_sec;
        a->acks_this_sec = 0;
    }
    if (a->rate > 0 && now - a->last_hit > AIMD_BURST_NS && now - a->probed > AIMD_BURST_NS) {
        a->probed = now;
        a->rate *= 1.2;
        if (a->rate > 1e6)
            a->rate = 0;
        else
            flex_gcra_init(&a->gcra, a->rate, (uint32_t)(a->rate / 100) + 1);
    }
}
