#include "bloom.h"

#include <math.h>
#include <string.h>

#include "err.h"
#include "mem.h"

#define BLOCK_BITS 512
#define BLOCK_WORDS (BLOCK_BITS / 64)
#define K_MAX 16
#define MAGIC "FLXBLM01"
#define HEADER_SIZE 48

struct flex_bloom {
    struct flex_hash_key key;
    uint64_t nblocks;
    uint64_t count;
    unsigned k;
    uint64_t *words; /* nblocks * BLOCK_WORDS, cache-line aligned */
};

/* Expected false-positive rate of a blocked filter: keys land in blocks as a
 * Poisson process with mean |lambda|; a block holding i keys has bit density
 * 1 - (1 - 1/B)^(k i), and a probe hits k set bits with that density^k. */
static double blocked_fpr(double lambda, unsigned k)
{
    double fpr = 0, p = exp(-lambda); /* Poisson P(0) */
    double limit = lambda + 12 * sqrt(lambda) + 32;
    for (unsigned i = 0; i <= limit; i++) {
        if (i > 0)
            p *= lambda / i;
        double density = 1 - pow(1 - 1.0 / BLOCK_BITS, (double)k * i);
        fpr += p * pow(density, k);
    }
    return fpr;
}

int flex_bloom_new(struct flex_bloom **out, uint64_t expected, double fpr,
                   const struct flex_hash_key *key)
{
    if (!(fpr > 0 && fpr < 1) || expected == 0 || expected > (1ULL << 40))
        return FLEX_E_INVAL;
    /* Start at the classic size, grow by 2% until the blocked model meets the
     * target with its best k. */
    double bits = -(double)expected * log(fpr) / (M_LN2 * M_LN2);
    uint64_t nblocks;
    unsigned best_k = 1;
    for (;;) {
        nblocks = (uint64_t)ceil(bits / BLOCK_BITS);
        double lambda = (double)expected / (double)nblocks, best = 1;
        for (unsigned k = 1; k <= K_MAX; k++) {
            double f = blocked_fpr(lambda, k);
            if (f < best) {
                best = f;
                best_k = k;
            }
        }
        if (best <= fpr)
            break;
        bits *= 1.02;
    }
    struct flex_bloom *b = flex_calloc(1, sizeof(*b));
    b->key = *key;
    b->nblocks = nblocks;
    b->k = best_k;
    b->words = flex_aligned_alloc(64, nblocks * BLOCK_WORDS * 8);
    memset(b->words, 0, nblocks * BLOCK_WORDS * 8);
    *out = b;
    return 0;
}

void flex_bloom_del(struct flex_bloom *b)
{
    if (!b)
        return;
    flex_free(b->words);
    flex_free(b);
}

static inline uint64_t *block_of(const struct flex_bloom *b, uint64_t h)
{
    /* Block index from the high half of a 64x64 multiply: no modulo. */
    return b->words + (uint64_t)(((unsigned __int128)h * b->nblocks) >> 64) * BLOCK_WORDS;
}

/* Bit positions come from successive mixes of the same keyed hash. */
#define BLOOM_BITS(b, h, w, ON_BIT)                                                                \
    uint64_t x = 0;                                                                                \
    for (unsigned i = 0; i < (b)->k; i++) {                                                        \
        if (i % 7 == 0) /* 7 positions of 9 bits per fresh 64-bit mix of h */                      \
            x = flex_mix64(h + (i / 7 + 1) * 0x9e3779b97f4a7c15ULL);                               \
        unsigned pos = (unsigned)(x & (BLOCK_BITS - 1));                                           \
        x >>= 9;                                                                                   \
        uint64_t bit = 1ULL << (pos & 63);                                                         \
        ON_BIT                                                                                     \
    }

void flex_bloom_add(struct flex_bloom *b, const void *data, size_t len)
{
    uint64_t h = flex_siphash13(&b->key, data, len);
    uint64_t *w = block_of(b, h);
    BLOOM_BITS(b, h, w, { w[pos >> 6] |= bit; })
    b->count++;
}

static inline bool probe(const struct flex_bloom *b, uint64_t h, const uint64_t *w)
{
    BLOOM_BITS(b, h, w, {
        if (!(w[pos >> 6] & bit))
            return false;
    })
    return true;
}

bool flex_bloom_maybe(const struct flex_bloom *b, const void *data, size_t len)
{
    uint64_t h = flex_siphash13(&b->key, data, len);
    return probe(b, h, block_of(b, h));
}

#define BATCH_GROUP 16

void flex_bloom_maybe_batch(const struct flex_bloom *b, const void *const *keys, const size_t *lens,
                            size_t n, bool *out)
{
    uint64_t h[BATCH_GROUP];
    const uint64_t *w[BATCH_GROUP];
    for (size_t base = 0; base < n; base += BATCH_GROUP) {
        size_t m = n - base < BATCH_GROUP ? n - base : BATCH_GROUP;
        /* Hash the whole group and start loading its blocks, then probe:
         * the cache misses of the group overlap instead of queueing. */
        for (size_t i = 0; i < m; i++) {
            h[i] = flex_siphash13(&b->key, keys[base + i], lens[base + i]);
            w[i] = block_of(b, h[i]);
            __builtin_prefetch(w[i]);
        }
        for (size_t i = 0; i < m; i++)
            out[base + i] = probe(b, h[i], w[i]);
    }
}

double flex_bloom_predicted_fpr(const struct flex_bloom *b)
{
    return blocked_fpr((double)b->count / (double)b->nblocks, b->k);
}

uint64_t flex_bloom_count(const struct flex_bloom *b)
{
    return b->count;
}

uint64_t flex_bloom_bits(const struct flex_bloom *b)
{
    return b->nblocks * BLOCK_BITS;
}

unsigned flex_bloom_k(const struct flex_bloom *b)
{
    return b->k;
}

/* Serialized form, all integers little-endian:
 *   0  magic "FLXBLM01"        8
 *   8  k                       u32, then u32 reserved (0)
 *  16  nblocks                 u64
 *  24  count                   u64
 *  32  key check               u64  SipHash of a fixed string under the key
 *  40  data checksum           u64  SipHash, zero key, of the bit words
 *  48  words                   nblocks * 64 bytes
 */
static const struct flex_hash_key zero_key = {0, 0};
static const char key_check_text[] = "flex bloom key check v1";

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

size_t flex_bloom_serialized_size(const struct flex_bloom *b)
{
    return HEADER_SIZE + b->nblocks * BLOCK_WORDS * 8;
}

long flex_bloom_serialize(const struct flex_bloom *b, void *buf, size_t len)
{
    size_t need = flex_bloom_serialized_size(b);
    if (len < need)
        return FLEX_E_NOSPACE;
    unsigned char *p = buf;
    memcpy(p, MAGIC, 8);
    put64(p + 8, b->k);
    put64(p + 16, b->nblocks);
    put64(p + 24, b->count);
    put64(p + 32, flex_siphash13(&b->key, key_check_text, sizeof(key_check_text) - 1));
    unsigned char *d = p + HEADER_SIZE;
    for (uint64_t i = 0; i < b->nblocks * BLOCK_WORDS; i++)
        put64(d + 8 * i, b->words[i]);
    put64(p + 40, flex_siphash13(&zero_key, d, need - HEADER_SIZE));
    return (long)need;
}

int flex_bloom_load(struct flex_bloom **out, const void *buf, size_t len,
                    const struct flex_hash_key *key)
{
    const unsigned char *p = buf;
    if (len < HEADER_SIZE || memcmp(p, MAGIC, 8) != 0)
        return FLEX_E_CORRUPT;
    uint64_t k = get64(p + 8), nblocks = get64(p + 16);
    if (k == 0 || k > K_MAX || nblocks == 0 || nblocks > (len - HEADER_SIZE) / 64 ||
        HEADER_SIZE + nblocks * 64 != len)
        return FLEX_E_CORRUPT;
    if (get64(p + 40) != flex_siphash13(&zero_key, p + HEADER_SIZE, len - HEADER_SIZE))
        return FLEX_E_CORRUPT;
    if (get64(p + 32) != flex_siphash13(key, key_check_text, sizeof(key_check_text) - 1))
        return FLEX_E_KEY;
    struct flex_bloom *b = flex_calloc(1, sizeof(*b));
    b->key = *key;
    b->k = (unsigned)k;
    b->nblocks = nblocks;
    b->count = get64(p + 24);
    b->words = flex_aligned_alloc(64, nblocks * 64);
    for (uint64_t i = 0; i < nblocks * BLOCK_WORDS; i++)
        b->words[i] = get64(p + HEADER_SIZE + 8 * i);
    *out = b;
    return 0;
}
