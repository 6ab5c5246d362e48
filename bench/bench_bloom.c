/* Bloom lookups on a filter sized for 1 M numbers at 0.1% false positives,
 * half of the probes members, half not (the engine's mix is ~98% not). */
#include <string.h>

#include "bench.h"
#include "bloom.h"

#define N 1000000
#define PROBES 20000000

int main(void)
{
    static const struct flex_hash_key key = {0x1234, 0x5678};
    struct flex_bloom *b;
    flex_bloom_new(&b, N, 0.001, &key);
    static char nums[2 * N][16];
    for (int i = 0; i < 2 * N; i++)
        snprintf(nums[i], 16, "+1%03d555%04d", 200 + (i / 10000) % 800, i % 10000);
    for (int i = 0; i < N; i++)
        flex_bloom_add(b, nums[2 * i], 12);
    double rates[BENCH_REPEATS];
    for (int r = 0; r < BENCH_REPEATS; r++) {
        uint64_t hits = 0;
        double t0 = bench_now();
        /* The numbers are read in order (in the engine the number is in the
         * job just decoded, hot in cache); the filter is probed at random
         * blocks by the hash, which is what is measured. */
        for (int i = 0; i < PROBES; i++)
            hits += flex_bloom_maybe(b, nums[i % (2 * N)], 12);
        double dt = bench_now() - t0;
        bench_sink(hits);
        rates[r] = PROBES / dt;
    }
    char name[96];
    snprintf(name, sizeof(name), "bloom lookup (1M keys, %.1f MB, k=%u)",
             (double)flex_bloom_bits(b) / 8 / 1e6, flex_bloom_k(b));
    bench_report(name, rates, BENCH_REPEATS, 20);
    /* Batches of 256, as the intake hands them over. */
    static const void *keys[256];
    static size_t lens[256];
    static bool out[256];
    for (int i = 0; i < 256; i++)
        lens[i] = 12;
    for (int r = 0; r < BENCH_REPEATS; r++) {
        uint64_t hits = 0;
        double t0 = bench_now();
        for (int i = 0; i < PROBES; i += 256) {
            for (int j = 0; j < 256; j++)
                keys[j] = nums[(i + j) % (2 * N)];
            flex_bloom_maybe_batch(b, keys, lens, 256, out);
            hits += out[0] + out[255];
        }
        double dt = bench_now() - t0;
        bench_sink(hits);
        rates[r] = PROBES / dt;
    }
    bench_report("bloom lookup batched (256, prefetch)", rates, BENCH_REPEATS, 20);
    flex_bloom_del(b);
    return 0;
}
