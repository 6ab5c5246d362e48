/*
 * Keyed hashing: SipHash-1-3 (Aumasson & Bernstein), 64-bit output.
 *
 * Used where an attacker or a leaked dump must not be able to predict or
 * invert the hash: the opt-out bloom filter (a dump of its bits reveals no
 * phone numbers without the key) and hash tables keyed by outside data.
 * OpenSSL 3 offers SipHash only through EVP_MAC, whose per-call context set-up
 * costs more than the whole bloom lookup budget; hence this small, tested
 * implementation (reference vectors in tests/unit/test_hash.c).
 */
#ifndef FLEX_HASH_H
#define FLEX_HASH_H

#include <stddef.h>
#include <stdint.h>

struct flex_hash_key {
    uint64_t k0, k1;
};

/* SipHash-1-3 of |len| bytes at |data| (borrowed) under |key|. */
uint64_t flex_siphash13(const struct flex_hash_key *key, const void *data, size_t len);
/* SipHash-2-4, the original parameters, for the reference test vectors and
 * where speed matters less than margin. */
uint64_t flex_siphash24(const struct flex_hash_key *key, const void *data, size_t len);

/* Key from 16 bytes (little-endian k0 then k1). */
struct flex_hash_key flex_hash_key_from_bytes(const unsigned char bytes[16]);

/* Cheap bijective 64-bit mixer (splitmix64 finalizer), for deriving more
 * bits from a hash already keyed. */
static inline uint64_t flex_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

#endif
