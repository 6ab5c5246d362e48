/* SMPP codec: encode plus decode of a submit_sm carrying a one-part
 * reminder (147 septets), on one core. */
#include <string.h>

#include "bench.h"
#include "smpp_pdu.h"

int main(void)
{
    const char *text = "Hi Alexandra, see you Wed, Dec 10 at 10:30 AM at Capitol Dental Care. "
                       "Reply C to confirm or call +12025550100 to reschedule. Reply STOP";
    struct flex_smpp_pdu p = {0}, q;
    p.command_id = FLEX_SMPP_SUBMIT_SM;
    p.source_addr_ton = 1;
    p.source_addr_npi = 1;
    memcpy(p.source_addr, "12025550100", 12);
    p.dest_addr_ton = 1;
    p.dest_addr_npi = 1;
    memcpy(p.destination_addr, "12025550143", 12);
    p.registered_delivery = 1;
    p.short_message = (const uint8_t *)text;
    p.sm_length = (uint8_t)strlen(text);
    uint8_t buf[512];
    long iters = bench_iters(10000000);
    double rates[BENCH_REPEATS];
    for (int r = 0; r < BENCH_REPEATS; r++) {
        uint64_t sum = 0;
        struct flex_smpp_error err;
        double t0 = bench_now();
        for (long i = 0; i < iters; i++) {
            p.sequence = (uint32_t)i;
            long n = flex_smpp_encode(&p, buf, sizeof(buf));
            sum += (uint64_t)flex_smpp_decode(&q, buf, (size_t)n, &err) + q.sequence;
        }
        rates[r] = (double)iters / (bench_now() - t0);
        bench_sink(sum);
    }
    bench_report("smpp submit_sm encode+decode (1 core)", rates, BENCH_REPEATS, 5);
    return 0;
}
