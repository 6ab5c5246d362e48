/* For benchmarks that run against smscsim: a free loopback port below the
 * kernel's ephemeral range (a client reconnecting to a dead server on an
 * ephemeral port can connect to itself), and starting smscsim on it. */
#ifndef FLEX_BENCH_SIM_H
#define FLEX_BENCH_SIM_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static inline int bench_free_port(void)
{
    for (int port = 21000 + getpid() % 5000; port < 32768; port++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        close(fd);
        if (ok)
            return port;
    }
    return -1;
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
