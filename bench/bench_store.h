/* For the programs in bench/ that measure a redis-server: its own CPU time.
 * Header-only, like bench.h. */
#ifndef FLEX_BENCH_STORE_H
#define FLEX_BENCH_STORE_H

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "bench_sim.h"
#include "store.h"

/* Redis's CPU seconds so far (INFO cpu: user + sys), or -1 when it did not
 * answer. */
static inline double bench_redis_cpu(struct flex_store *st)
{
    flex_store_appendf(st, "INFO cpu");
    struct redisReply *r;
    if (flex_store_reply(st, &r) != 0)
        return -1;
    const char *s = flex_reply_str(r, NULL), *u, *y;
    double v = 0;
    if (s && (u = strstr(s, "used_cpu_user:")) && (y = strstr(s, "used_cpu_sys:")))
        v = atof(u + 14) + atof(y + 13);
    flex_store_free_reply(r);
    return v;
}

/* The same, or the program |prog| ends saying Redis did not answer. */
static inline double bench_redis_cpu_or_exit(struct flex_store *st, const char *prog)
{
    double v = bench_redis_cpu(st);
    if (v < 0) {
        fprintf(stderr, "%s: INFO: %s\n", prog, flex_store_error(st));
        exit(1);
    }
    return v;
}

/* The line of one measurement run three times (|us|: Redis CPU
 * microseconds per |unit|): the best, the range, and the rate one Redis
 * core would reach at the best, in |units| a second. */
static inline void bench_redis_line(const char *name, int width, const char *unit,
                                    const char *units, const double us[3])
{
    double lo = us[0], hi = us[0];
    for (int i = 1; i < 3; i++)
        lo = us[i] < lo ? us[i] : lo, hi = us[i] > hi ? us[i] : hi;
    printf("redis %-*s %6.2f us/%s (%.2f..%.2f)  one Redis core: %.0f %s/s\n", width, name, lo,
           unit, lo, hi, 1e6 / lo, units);
}

/* A redis-server of the caller's own on a free loopback port, without
 * persistence (as flexbench's; its start-up warnings discarded), connected
 * in |*st| within 5 s.  Returns its pid, or -1 with the reason in |why|
 * (the server stopped). */
static inline pid_t bench_redis_spawn(struct flex_store **st, char *why, size_t whysz)
{
    char ps[16], url[64];
    int port = bench_free_port();
    snprintf(ps, sizeof(ps), "%d", port);
    snprintf(why, whysz, "no free port");
    if (port < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execl("/usr/bin/redis-server", "redis-server", "--port", ps, "--bind", "127.0.0.1",
              "--save", "", "--appendonly", "no", "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
    *st = NULL;
    for (int i = 0; i < 100 && flex_store_connect(st, &(struct flex_store_params){.url = url}, 1000,
                                                  why, whysz) != 0;
         i++)
        usleep(50000);
    if (*st)
        return pid;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return -1;
}

#endif
