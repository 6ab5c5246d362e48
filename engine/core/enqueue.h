/*
 * The enqueue path: a JSON job line checked, packed and appended to the
 * jobs stream.  flexctl enqueue and flexbench's open-loop feeder both go
 * through it, so a benchmark pays what a producer pays.
 */
#ifndef FLEX_ENQUEUE_H
#define FLEX_ENQUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "job.h"

struct flex_cfg;
struct flex_store;

/* Checks |line| (|len| bytes, borrowed) against |cfg|, stamps its
 * enqueued_at with the clock now (milliseconds) and appends its XADD to
 * flex:jobs on |st| (no I/O: the caller reads one reply per job
 * appended).  Returns 0 with the job id in |id|, or the error of
 * flex_job_from_json (FLEX_E_SYNTAX, FLEX_E_INVAL) with |err| saying why;
 * then nothing is appended. */
int flex_enqueue_line(struct flex_store *st, const struct flex_cfg *cfg, const char *line,
                      size_t len, char id[FLEX_JOB_ID_MAX + 1], struct flex_job_error *err);
/* Jobs gathered into JobBatch entries (proto/flex.proto): one XADD, one
 * entry read and one acknowledgement for up to |max| jobs.  A batch of one
 * is written as an entry of one job ("job"), as flex_enqueue_line does. */
struct flex_enqueue_batch {
    unsigned max, n;
    uint8_t *buf; /* the JobBatch so far: field 1, length, Job, per job */
    size_t len, cap;
    size_t first_at, first_len; /* the first job's bytes in |buf| */
    char first_id[FLEX_JOB_ID_MAX + 1];
};
/* |max| from 1 to FLEX_JOBBATCH_MAX (clamped). */
void flex_enqueue_batch_init(struct flex_enqueue_batch *b, unsigned max);
void flex_enqueue_batch_free(struct flex_enqueue_batch *b);
/* flex_enqueue_line into |b|: returns 0, with |*appended| the XADDs
 * appended (1 when the batch became full, else 0), or the error of
 * flex_job_from_json (nothing gathered). */
int flex_enqueue_add(struct flex_enqueue_batch *b, struct flex_store *st,
                     const struct flex_cfg *cfg, const char *line, size_t len,
                     char id[FLEX_JOB_ID_MAX + 1], struct flex_job_error *err, int *appended);
/* Appends the XADD of the jobs gathered, if any; returns 1 when it did,
 * else 0. */
int flex_enqueue_flush(struct flex_enqueue_batch *b, struct flex_store *st);

/* Appends the count of |n| jobs enqueued to flex:stats (one reply). */
void flex_enqueue_count(struct flex_store *st, long n);

#endif
