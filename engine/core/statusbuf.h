/*
 * Status events gathered into one stream entry per batch.
 *
 * flex:status gets one XADD per batch of events (field "evs" = a packed
 * flex.v1.StatusBatch, field "n" = how many), not one per event: an XADD
 * per event was, with the history keys, most of Redis's work per message
 * (docs/benchmarks.md).  The buffer copies the strings of each event, so
 * callers may free theirs at once; it has one owner thread.
 */
#ifndef FLEX_STATUSBUF_H
#define FLEX_STATUSBUF_H

#include <stddef.h>
#include <stdint.h>

struct flex_store;
struct Flex__V1__StatusEvent;

#define FLEX_STATUSBUF_MAX 4096 /* events per entry */

struct flex_statusbuf;

struct flex_statusbuf *flex_statusbuf_new(void);
void flex_statusbuf_del(struct flex_statusbuf *b);

/* Adds a copy of |ev| (its strings copied; borrowed).  Returns 0, or
 * FLEX_E_FULL when the buffer holds FLEX_STATUSBUF_MAX events (append it,
 * then add again). */
int flex_statusbuf_add(struct flex_statusbuf *b, const struct Flex__V1__StatusEvent *ev);

/* As flex_statusbuf_add, but |ev|'s strings are borrowed until the next
 * flex_statusbuf_append or _clear (no copies: the writer's records live
 * that long). */
int flex_statusbuf_add_borrowed(struct flex_statusbuf *b, const struct Flex__V1__StatusEvent *ev);

size_t flex_statusbuf_count(const struct flex_statusbuf *b);

/* Appends the XADD of the buffered events to |st| (no I/O; one reply to
 * read) and empties the buffer.  Trims the stream (approximately) to
 * entries from |keep_from_ms| on ([retention] status_days before now).
 * Returns the number of commands appended: 0 (empty) or 1. */
int flex_statusbuf_append(struct flex_statusbuf *b, struct flex_store *st, int64_t keep_from_ms);

/* Empties the buffer without writing (a batch given up). */
void flex_statusbuf_clear(struct flex_statusbuf *b);

#endif
