/* Per-message helpers on the dispatch path: E.164 normalization and a GCRA
 * rate-limit check by key. */
#include <string.h>

#include "bench.h"
#include "e164.h"
#include "ratelimit.h"

#define ITERS 10000000

int main(void)
{
    double rates[BENCH_REPEATS];
    char out[FLEX_E164_BUFSZ];
    const char *in[] = {"(202) 555-0143", "+12025550143", "303.555.0199", "+44 20 7946 0958"};
    for (int r = 0; r < BENCH_REPEATS; r++) {
        uint64_t sum = 0;
        double t0 = bench_now();
        for (int i = 0; i < ITERS; i++) {
            const char *s = in[i & 3];
            sum += (uint64_t)flex_e164_normalize(s, strlen(s), out, NULL);
        }
        rates[r] = ITERS / (bench_now() - t0);
        bench_sink(sum);
    }
    bench_report("e164 normalize", rates, BENCH_REPEATS, 0);

    struct flex_ratelimit *rl = flex_ratelimit_new(0, 1);
    const char *keys[] = {"primary", "loc-1", "+12025550100", "loc-2"};
    for (int k = 0; k < 4; k++)
        flex_ratelimit_set(rl, keys[k], strlen(keys[k]), 1e6, 100);
    for (int r = 0; r < BENCH_REPEATS; r++) {
        uint64_t sum = 0, now = 1000000000ULL;
        double t0 = bench_now();
        for (int i = 0; i < ITERS; i++) {
            now += 1000;
            sum += flex_ratelimit_take(rl, keys[i & 3], strlen(keys[i & 3]), now, 1);
        }
        rates[r] = ITERS / (bench_now() - t0);
        bench_sink(sum);
    }
    bench_report("ratelimit take (keyed GCRA)", rates, BENCH_REPEATS, 0);
    flex_ratelimit_del(rl);
    return 0;
}
