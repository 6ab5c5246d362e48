/*
 * Small string helpers for the per-message path, where snprintf("%s")
 * costs a format parse per copy (it showed in the profile: docs/benchmarks.md).
 */
#ifndef FLEX_STR_H
#define FLEX_STR_H

#include <stddef.h>
#include <string.h>

/* Copies |src| into |dst| (|size| bytes, > 0), truncating, always
 * terminated.  Returns the length copied. */
static inline size_t flex_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
    return n;
}

#endif
