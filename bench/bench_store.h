/* For the programs in bench/ that measure a redis-server: its own CPU time.
 * Header-only, like bench.h. */
#ifndef FLEX_BENCH_STORE_H
#define FLEX_BENCH_STORE_H

#include <stdlib.h>
#include <string.h>

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

#endif
