#include "simcommon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mem.h"

int sim_listen_on(const char *prog, const char *hostport, int sock_flags, int backlog)
{
    char host[64];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof(host)) {
        fprintf(stderr, "%s: --listen expects HOST:PORT, got '%s'\n", prog, hostport);
        return -1;
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "%s: bad listen address '%s'\n", prog, host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | sock_flags, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, backlog) != 0) {
        fprintf(stderr, "%s: cannot listen on %s: %s\n", prog, hostport, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

void sim_destset_init(struct sim_destset *d, uint64_t k0, uint64_t k1)
{
    d->key.k0 = k0;
    d->key.k1 = k1;
    /* 2^21 slots (16 MB): no growth below a million destinations.  A
     * growth rehashes every entry at once, and at 131,072 destinations that
     * held the simulator for milliseconds, a spike in flexbench's latency
     * that was the simulator's, not Flex's. */
    d->mask = (1u << 21) - 1;
    d->count = 0;
    d->set = flex_calloc(d->mask + 1, sizeof(uint64_t));
}

void sim_destset_add(struct sim_destset *d, const char *dst, size_t len)
{
    uint64_t h = flex_siphash13(&d->key, dst, len) | 1;
    if ((d->count + 1) * 2 > d->mask + 1) {
        size_t nmask = d->mask * 2 + 1;
        uint64_t *n = flex_calloc(nmask + 1, sizeof(uint64_t));
        for (size_t i = 0; i <= d->mask; i++)
            if (d->set[i]) {
                size_t j = d->set[i] & nmask;
                while (n[j])
                    j = (j + 1) & nmask;
                n[j] = d->set[i];
            }
        flex_free(d->set);
        d->set = n;
        d->mask = nmask;
    }
    size_t j = h & d->mask;
    while (d->set[j]) {
        if (d->set[j] == h)
            return;
        j = (j + 1) & d->mask;
    }
    d->set[j] = h;
    d->count++;
}

void sim_destset_free(struct sim_destset *d)
{
    flex_free(d->set);
    d->set = NULL;
}
