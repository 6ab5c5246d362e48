/* Bloom lookups on a filter sized for 1 M numbers at 0.1% false positives.
 * The probe sequence is precomputed and read in order (in the engine the
 * number is in the job just decoded, hot in cache); what is measured is
 * the keyed hash plus the random block access in the filter. */
#include <string.h>

#include "bench.h"
#include "bloom.h"
#include "mem.h"

#define N 1000000
#define SEQ (2 * N)
#define ROUNDS 10 /* 20 M probes per run */

static char nums[2 * N][16];
static char probe[SEQ][16]; /* the probe sequence, copied so it reads in order */
static const void *seq[SEQ];

static double run_single(const struct flex_bloom *b)
{
    uint64_t hits = 0;
    double t0 = bench_now();
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < SEQ; i++)
            hits += flex_bloom_maybe(b, seq[i], 12);
    double dt = bench_now() - t0;
    bench_sink(hits);
    return (double)SEQ * ROUNDS / dt;
}

static double run_batched(const struct flex_bloom *b)
{
    static size_t lens[256];
    static bool out[256];
    uint64_t hits = 0;
    for (int i = 0; i < 256; i++)
        lens[i] = 12;
    double t0 = bench_now();
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i + 256 <= SEQ; i += 256) {
            flex_bloom_maybe_batch(b, seq + i, lens, 256, out);
            hits += out[0] + out[255];
        }
    double dt = bench_now() - t0;
    bench_sink(hits);
    return (double)(SEQ / 256 * 256) * ROUNDS / dt;
}

/* Fills seq with members at a rate of 1 in |every| (members are the even
 * numbers, non-members the odd ones). */
static void make_seq(int every)
{
    for (int i = 0; i < SEQ; i++) {
        const char *n = i % every == 0 ? nums[2 * ((i / every) % N)] : nums[(2 * i + 1) % (2 * N)];
        memcpy(probe[i], n, 16);
        seq[i] = probe[i];
    }
}

int main(void)
{
    static const struct flex_hash_key key = {0x1234, 0x5678};
    struct flex_bloom *b;
    flex_bloom_new(&b, N, 0.001, &key);
    for (int i = 0; i < 2 * N; i++)
        snprintf(nums[i], 16, "+1%03d555%04d", 200 + (i / 10000) % 800, i % 10000);
    for (int i = 0; i < N; i++)
        flex_bloom_add(b, nums[2 * i], 12);
    double rates[BENCH_REPEATS];
    char name[96];

    make_seq(2);
    for (int r = 0; r < BENCH_REPEATS; r++)
        rates[r] = run_single(b);
    snprintf(name, sizeof(name), "bloom lookup, 50%% members (1M, %.1f MB, k=%u)",
             (double)flex_bloom_bits(b) / 8 / 1e6, flex_bloom_k(b));
    bench_report(name, rates, BENCH_REPEATS, 20);
    for (int r = 0; r < BENCH_REPEATS; r++)
        rates[r] = run_batched(b);
    bench_report("bloom lookup batched 256, 50% members", rates, BENCH_REPEATS, 20);

    /* The engine's mix: 2% of jobs to opted-out numbers (flexbench's
     * default), so most lookups stop at the first clear bit. */
    make_seq(50);
    for (int r = 0; r < BENCH_REPEATS; r++)
        rates[r] = run_single(b);
    bench_report("bloom lookup, 2% members", rates, BENCH_REPEATS, 20);
    for (int r = 0; r < BENCH_REPEATS; r++)
        rates[r] = run_batched(b);
    bench_report("bloom lookup batched 256, 2% members", rates, BENCH_REPEATS, 20);
    flex_bloom_del(b);
    return 0;
}
