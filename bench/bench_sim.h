/* For benchmarks that run against smscsim, httpsim or redis-server: a free
 * loopback port below the kernel's ephemeral range (a client reconnecting
 * to a dead server on an ephemeral port can connect to itself), and
 * starting smscsim on it.  Probing and connecting are in
 * tests/integ/loopback.h, shared with the integration tests.  Header-only. */
#ifndef FLEX_BENCH_SIM_H
#define FLEX_BENCH_SIM_H

#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>

#include "../tests/integ/loopback.h"

/* The first free port from |from| up, below the ephemeral range; -1. */
static inline int bench_free_port_from(int from)
{
    for (int port = from; port < 32768; port++)
        if (loopback_port_free(port))
            return port;
    return -1;
}

static inline int bench_free_port(void)
{
    return bench_free_port_from(21000 + getpid() % 5000);
}

/* Forks |sim| listening on 127.0.0.1:|port| with receipts at once; returns
 * its pid (the caller waits until it accepts). */
static inline pid_t bench_spawn_smscsim(const char *sim, int port)
{
    char listen[32];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    pid_t pid = fork();
    if (pid == 0) {
        execl(sim, sim, "--listen", listen, "--dlr-delay-ms", "0", (char *)NULL);
        _exit(127);
    }
    return pid;
}

#endif
