/* The ESME end to end against smscsim: one session, window 512, every
 * message with a receipt; messages per second from the first submit to the
 * last receipt, and the client's CPU time per 100k messages.
 *   bench_esme [MESSAGES] [SMSCSIM_PATH] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "bench_sim.h"
#include "err.h"
#include "smpp.h"

struct counts {
    long accepted, failed, receipts;
};

static void on_event(void *arg, const struct flex_smpp_event *ev)
{
    struct counts *c = arg;
    c->accepted += ev->kind == FLEX_SMPP_EV_ACCEPTED;
    c->failed += ev->kind == FLEX_SMPP_EV_FAILED;
    c->receipts += ev->kind == FLEX_SMPP_EV_RECEIPT;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

int main(int argc, char **argv)
{
    long total = argc > 1 ? atol(argv[1]) : 300000;
    const char *sim = argc > 2 ? argv[2] : "build/smscsim";
    int port = bench_free_port();
    pid_t pid = bench_spawn_smscsim(sim, port);
    struct counts n = {0};
    struct flex_smpp_config cfg;
    flex_smpp_config_defaults(&cfg);
    cfg.port = (uint16_t)port;
    cfg.system_id = "flex";
    cfg.password = "flexpass";
    cfg.window = 512;
    usleep(200000);
    struct flex_smpp_client *c = flex_smpp_client_new(&cfg, on_event, &n);
    for (int i = 0; i < 2000 && !flex_smpp_client_ready(c); i++)
        flex_smpp_client_run(c, 5);
    if (!flex_smpp_client_ready(c)) {
        fprintf(stderr, "bench_esme: no bind to %s\n", sim);
        return 1;
    }
    const char *text = "Hi Alexandra, see you Wed, Dec 10 at 10:30 AM at Capitol Dental Care. "
                       "Reply C to confirm or call +12025550100 to reschedule.";
    size_t len = strlen(text);
    char dst[16];
    double t0 = bench_now(), c0 = cpu_s();
    long next = 1;
    while (n.receipts < total) {
        while (next <= total) {
            snprintf(dst, sizeof(dst), "+1202555%04ld", next % 10000);
            struct flex_smpp_msg m = {.cookie = (uint64_t)next,
                                      .src = "+12025550100",
                                      .dst = dst,
                                      .text = text,
                                      .len = len,
                                      .receipt = true};
            if (flex_smpp_submit(c, &m) != 0)
                break;
            next++;
        }
        if (flex_smpp_client_run(c, 1) < 0)
            break;
        if (bench_now() - t0 > 120)
            break;
    }
    double dt = bench_now() - t0, cpu = cpu_s() - c0;
    struct flex_smpp_stats st;
    flex_smpp_client_stats(c, &st);
    printf("%-44s %8.0f msg/s  (%ld accepted, %ld receipts, %ld failed in %.2f s; "
           "client CPU %.2f s per 100k)\n",
           "esme -> smscsim, 1 session, window 512", (double)n.receipts / dt, n.accepted,
           n.receipts, n.failed, dt, cpu / ((double)total / 1e5));
    flex_smpp_client_shutdown(c, 1000);
    flex_smpp_client_del(c);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return n.receipts == total ? 0 : 1;
}
