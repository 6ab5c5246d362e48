/* For benchmarks and tests that run against smscsim: a free loopback port
 * below the kernel's ephemeral range (a client reconnecting to a dead
 * server on an ephemeral port can connect to itself), connecting to it,
 * and starting smscsim on it.  Header-only: tests/integ includes it too. */
#ifndef FLEX_BENCH_SIM_H
#define FLEX_BENCH_SIM_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

/* Whether 127.0.0.1:|port| can be bound now. */
static inline bool bench_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* The first free port from |from| up, below the ephemeral range; -1. */
static inline int bench_free_port_from(int from)
{
    for (int port = from; port < 32768; port++)
        if (bench_port_free(port))
            return port;
    return -1;
}

static inline int bench_free_port(void)
{
    return bench_free_port_from(21000 + getpid() % 5000);
}

/* A TCP connection to 127.0.0.1:|port|, or -1. */
static inline int bench_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
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
