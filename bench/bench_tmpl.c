/* Rendering the reminder_24h template with typical values. */
#include <string.h>

#include "bench.h"
#include "tmpl.h"

#define ITERS 10000000

int main(void)
{
    const char *body = "Hi {first_name}, see you {date} at {time} at {location_name}. Reply C "
                       "to confirm or call {location_phone} to reschedule. Reply STOP to opt out";
    struct flex_tmpl *t;
    struct flex_tmpl_error err;
    flex_tmpl_compile(&t, body, strlen(body), &err);
    const char *vals[FLEX_TMPL_NVARS] = {"Alexandra",    "Capitol Dental Care",
                                         "+12025550100", "Wed, Dec 10",
                                         "10:30 AM",     "Dr. Martinez"};
    struct flex_tmpl_vars v;
    for (int i = 0; i < FLEX_TMPL_NVARS; i++) {
        v.v[i] = vals[i];
        v.len[i] = strlen(vals[i]);
    }
    char out[512];
    double rates[BENCH_REPEATS];
    for (int r = 0; r < BENCH_REPEATS; r++) {
        uint64_t sum = 0;
        double t0 = bench_now();
        for (int i = 0; i < ITERS; i++)
            sum += (uint64_t)flex_tmpl_render(t, &v, out, sizeof(out), NULL) + (uint8_t)out[i & 63];
        double dt = bench_now() - t0;
        bench_sink(sum);
        rates[r] = ITERS / dt;
    }
    bench_report("template render (reminder_24h)", rates, BENCH_REPEATS, 2);
    flex_tmpl_del(t);
    return 0;
}
