/* Loopback sockets for the programs that start a server and talk to it:
 * whether 127.0.0.1:|port| can be bound now, and a blocking connection to
 * it.  Header-only; shared by the integration tests (smpp_client.c) and
 * bench/'s drivers (bench_sim.h), each with its own choice of ports
 * (below the kernel's ephemeral range: see tc_free_port). */
#ifndef FLEX_TEST_LOOPBACK_H
#define FLEX_TEST_LOOPBACK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

/* Whether 127.0.0.1:|port| can be bound now. */
static inline bool loopback_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* A TCP connection to 127.0.0.1:|port|, or -1. */
static inline int loopback_connect(int port)
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

#endif
