/*
 * One Redis command built argument by argument, for the store
 * (engine/core/store.h): the intake's and the writer's variable-length
 * commands (XACK of a batch, XCLAIM, HSET of a batch's records) go through
 * it.  Storage is fixed at init; every copy into it is checked against
 * what is left, so nothing is ever written past it: a command that would
 * not fit is marked overflowed, every later call on it does nothing, and
 * flex_cmd_append refuses it.
 *
 *     flex_cmd_reset(&c);
 *     flex_cmd_str(&c, "XACK");             borrowed: must outlive the append
 *     flex_cmd_copy(&c, id, idlen);         copied into the command's bytes
 *     flex_cmd_begin(&c);                   one argument in pieces...
 *     flex_cmd_cat(&c, job); flex_cmd_cat_num(&c, ms);
 *     flex_cmd_end(&c);
 *     rc = flex_cmd_append(store, &c);      0, or FLEX_E_FULL (nothing sent)
 *
 * Pointers to copied arguments stay valid until the next reset: the bytes
 * never move.
 */
#ifndef FLEX_CMD_H
#define FLEX_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct flex_store;

struct flex_cmd {
    const char **argv;
    size_t *lens;
    size_t n, max_args;
    char *bytes;
    size_t used, cap;
    size_t piece;         /* offset of the argument being built (begin..end); SIZE_MAX none */
    const char *overflow; /* NULL, or the bound a call hit ("arguments", "bytes") */
};

/* Room for |max_args| arguments and |max_bytes| copied bytes.  Out of
 * memory aborts (flex_malloc). */
void flex_cmd_init(struct flex_cmd *c, size_t max_args, size_t max_bytes);
void flex_cmd_free(struct flex_cmd *c);
/* Empty again, the overflow mark cleared. */
void flex_cmd_reset(struct flex_cmd *c);
static inline size_t flex_cmd_argc(const struct flex_cmd *c)
{
    return c->n;
}

/* Adds |s| (|len| bytes, borrowed: valid until the command is appended). */
void flex_cmd_arg(struct flex_cmd *c, const char *s, size_t len);
/* Adds the NUL-terminated |s| (borrowed). */
void flex_cmd_str(struct flex_cmd *c, const char *s);
/* Adds a copy of |len| bytes at |s|. */
void flex_cmd_copy(struct flex_cmd *c, const char *s, size_t len);
/* Adds a formatted argument (copied). */
void flex_cmd_argf(struct flex_cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One argument made of pieces, between begin and end (no other argument
 * may be added meanwhile).  The pieces are inline: the writer builds every
 * message's history record from a dozen of them, most constant strings
 * whose length the compiler knows. */
void flex_cmd_begin(struct flex_cmd *c);
void flex_cmd_cat_num(struct flex_cmd *c, long long v);
void flex_cmd_end(struct flex_cmd *c);

static inline void flex_cmd_catn(struct flex_cmd *c, const char *s, size_t len)
{
    if (c->overflow)
        return;
    if (c->piece == SIZE_MAX) {
        c->overflow = "a piece outside begin/end";
        return;
    }
    if (len > c->cap - c->used) { /* the one check every piece goes through */
        c->overflow = "bytes";
        return;
    }
    memcpy(c->bytes + c->used, s, len);
    c->used += len;
}

static inline void flex_cmd_cat(struct flex_cmd *c, const char *s)
{
    flex_cmd_catn(c, s, strlen(s));
}

static inline void flex_cmd_cat_char(struct flex_cmd *c, char ch)
{
    flex_cmd_catn(c, &ch, 1);
}

/* Appends the command to |s| (no I/O).  Returns 0; FLEX_E_FULL when a
 * bound was hit while building it (c->overflow says which), or when it is
 * empty or a piece was begun and not ended: nothing is appended. */
int flex_cmd_append(struct flex_store *s, const struct flex_cmd *c);

#endif
