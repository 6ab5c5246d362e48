/*
 * The dead-letter stream (flex:deadletter) for operators: what was refused
 * and why, and sending a job through again once its cause is fixed
 * (`flexctl deadletter list|replay`, docs/operations.md).
 */
#ifndef FLEX_DEADLETTER_H
#define FLEX_DEADLETTER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct flex_store;

/* One JSON line per dead letter from |since_ms| on (0: all), oldest first:
 * "entry", "at" (RFC 3339) and "at_ms", "job_id", "reason", "source" and,
 * when its payload decodes, "job" (its fields, without the body).  Returns
 * the number listed, or -1 when Redis failed (|why|). */
long flex_deadletter_list(struct flex_store *st, int64_t since_ms, FILE *out, char *why,
                          size_t whysz);

/* Puts the dead letter |which| (its entry id in flex:deadletter, or its job
 * id; NULL: every one) back on flex:jobs as it came, clears what would make
 * it a duplicate of itself (its idempotency record naming the refused entry) and
 * its dead_letter status, and deletes it from flex:deadletter.  A payload
 * that does not decode or was cut is left where it is (said on |out|).
 * Returns the number replayed, or -1 (|why|). */
long flex_deadletter_replay(struct flex_store *st, const char *which, FILE *out, char *why,
                            size_t whysz);

#endif
