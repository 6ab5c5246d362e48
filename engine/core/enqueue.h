/*
 * The enqueue path: a JSON job line checked, packed and appended to the
 * jobs stream.  flexctl enqueue and flexbench's open-loop feeder both go
 * through it, so a benchmark pays what a producer pays.
 */
#ifndef FLEX_ENQUEUE_H
#define FLEX_ENQUEUE_H

#include <stddef.h>

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
/* Appends the count of |n| jobs enqueued to flex:stats (one reply). */
void flex_enqueue_count(struct flex_store *st, long n);

#endif
