/*
 * A set of strings seen lately: direct-mapped, one 64-bit keyed hash per
 * slot, fixed size.  Best effort by design: a later string whose hash falls
 * in the same slot makes it forget the earlier one, and two strings with
 * the same 64-bit hash are one.  Used to notice a carrier's copy of a
 * receipt already taken (by carrier message id in the SMPP client, by job
 * id in the writer).  The hash key is random per set, so that no sender
 * can aim at a slot.  Not thread-safe: one owner.
 */
#ifndef FLEX_RECENT_H
#define FLEX_RECENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"

struct flex_recent {
    uint64_t *slot; /* 0: empty */
    size_t n;
    struct flex_hash_key key;
};

/* |nslots| > 0.  Out of memory aborts (flex_calloc). */
void flex_recent_init(struct flex_recent *r, size_t nslots);
void flex_recent_free(struct flex_recent *r);

bool flex_recent_has(const struct flex_recent *r, const char *s);
void flex_recent_add(struct flex_recent *r, const char *s);

/* A change that can be taken back (a writer's batch whose transaction
 * failed must not leave its receipts marked as seen). */
struct flex_recent_undo {
    uint64_t *slot, was;
};
/* Adds |s| and records in |u| how to take it back; returns whether |s| was
 * there already (then nothing changes and |u| undoes nothing). */
bool flex_recent_add_undo(struct flex_recent *r, const char *s, struct flex_recent_undo *u);
static inline void flex_recent_undo(const struct flex_recent_undo *u)
{
    *u->slot = u->was;
}

#endif
