/* One Redis command built with every copy bounded (engine/core/cmd.h). */
#include "cmd.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "mem.h"
#include "store.h"

void flex_cmd_init(struct flex_cmd *c, size_t max_args, size_t max_bytes)
{
    c->argv = flex_malloc(max_args * sizeof(*c->argv));
    c->lens = flex_malloc(max_args * sizeof(*c->lens));
    c->max_args = max_args;
    c->bytes = flex_malloc(max_bytes ? max_bytes : 1);
    c->cap = max_bytes;
    flex_cmd_reset(c);
}

void flex_cmd_free(struct flex_cmd *c)
{
    flex_free(c->argv);
    flex_free(c->lens);
    flex_free(c->bytes);
    c->argv = NULL;
    c->lens = NULL;
    c->bytes = NULL;
    c->max_args = c->cap = 0;
}

void flex_cmd_reset(struct flex_cmd *c)
{
    c->n = c->used = 0;
    c->piece = SIZE_MAX;
    c->overflow = NULL;
}

void flex_cmd_arg(struct flex_cmd *c, const char *s, size_t len)
{
    if (c->overflow)
        return;
    if (c->n == c->max_args) {
        c->overflow = "arguments";
        return;
    }
    c->argv[c->n] = s;
    c->lens[c->n++] = len;
}

void flex_cmd_str(struct flex_cmd *c, const char *s)
{
    flex_cmd_arg(c, s, strlen(s));
}

/* |len| more bytes fit (the one check every copy goes through). */
static bool room(struct flex_cmd *c, size_t len)
{
    if (c->overflow)
        return false;
    if (len > c->cap - c->used) {
        c->overflow = "bytes";
        return false;
    }
    return true;
}

void flex_cmd_copy(struct flex_cmd *c, const char *s, size_t len)
{
    if (!room(c, len))
        return;
    char *dst = c->bytes + c->used;
    memcpy(dst, s, len);
    c->used += len;
    flex_cmd_arg(c, dst, len);
}

void flex_cmd_argf(struct flex_cmd *c, const char *fmt, ...)
{
    if (c->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    size_t left = c->cap - c->used;
    char *dst = c->bytes + c->used;
    int n = vsnprintf(dst, left, fmt, ap); /* writes at most |left| bytes */
    va_end(ap);
    if (n < 0 || (size_t)n >= left) { /* the NUL must fit too */
        c->overflow = "bytes";
        return;
    }
    c->used += (size_t)n;
    flex_cmd_arg(c, dst, (size_t)n);
}

void flex_cmd_begin(struct flex_cmd *c)
{
    c->piece = c->used;
}

void flex_cmd_cat_num(struct flex_cmd *c, long long v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do
        tmp[--i] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        tmp[--i] = '-';
    flex_cmd_catn(c, tmp + i, sizeof(tmp) - i);
}

void flex_cmd_end(struct flex_cmd *c)
{
    if (c->piece == SIZE_MAX) {
        c->overflow = "an end without a begin";
        return;
    }
    size_t start = c->piece;
    c->piece = SIZE_MAX;
    flex_cmd_arg(c, c->bytes + start, c->used - start);
}

int flex_cmd_append(struct flex_store *s, const struct flex_cmd *c)
{
    if (c->overflow || c->n == 0 || c->piece != SIZE_MAX)
        return FLEX_E_FULL;
    flex_store_append(s, (int)c->n, c->argv, c->lens);
    return 0;
}
