#include "clock.h"

#include <stdio.h>

int64_t flex_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void flex_rfc3339_ms(int64_t ms, char out[FLEX_RFC3339_SZ])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, FLEX_RFC3339_SZ, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, FLEX_RFC3339_SZ - n, ".%03dZ", (int)(ms % 1000));
}
