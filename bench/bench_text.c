/* GSM-7 detection, encoding and segmentation of a 150-character reminder,
 * and the same for a UCS-2 text (one emoji). */
#include <string.h>

#include "bench.h"
#include "sms.h"

#define ITERS bench_iters(5000000)

static double run(const char *text)
{
    static struct flex_sms sms;
    struct flex_text_error err;
    size_t len = strlen(text);
    uint64_t sum = 0;
    double t0 = bench_now();
    long iters = ITERS;
    for (long i = 0; i < iters; i++) {
        flex_sms_encode(&sms, text, len, 6, &err);
        sum += sms.nparts + sms.data[i % 64];
    }
    double dt = bench_now() - t0;
    bench_sink(sum);
    return (double)iters / dt;
}

int main(void)
{
    const char *gsm =
        "Hi Alexandra, see you Wed, Dec 10 at 10:30 AM at Capitol Dental Care. "
        "Reply C to confirm or call +12025550100 to reschedule. Reply STOP to opt out.";
    const char *ucs = "Hi Zo\xc3\xab, see you Wed, Dec 10 at 10:30 AM at Capitol Dental Care "
                      "\xf0\x9f\x98\x80 Reply C to confirm or call +12025550100. STOP to opt "
                      "out";
    double rates[BENCH_REPEATS];
    for (int r = 0; r < BENCH_REPEATS; r++)
        rates[r] = run(gsm);
    char name[80];
    snprintf(name, sizeof(name), "sms encode+segment GSM-7 (%zu chars)", strlen(gsm));
    bench_report(name, rates, BENCH_REPEATS, 5);
    for (int r = 0; r < BENCH_REPEATS; r++)
        rates[r] = run(ucs);
    bench_report("sms encode+segment UCS-2 (2 parts)", rates, BENCH_REPEATS, 0);
    return 0;
}
