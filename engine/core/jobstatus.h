/*
 * Where a job is, as `flexctl status ID` tells it: one JSON object per job,
 * from what Redis holds about it (docs/operations.md, "A job's status").
 */
#ifndef FLEX_JOBSTATUS_H
#define FLEX_JOBSTATUS_H

#include <stddef.h>
#include <stdio.h>

struct flex_store;
struct flex_cfg;

/* How many entries of flex:jobs a status looks through for a job not read
 * yet (a queued one): a backlog larger than this answers "not found". */
#define FLEX_STATUS_SCAN_MAX 200000

/* Writes |id|'s status to |out| as one JSON line: "id", "state" (queued,
 * in_flight, held, scheduled, accepted, delivered, failed, expired,
 * suppressed, dead_letter...), what is known of it ("reason", "location",
 * "carrier", "send_at"...), every time as RFC 3339 with its milliseconds
 * since the epoch beside it ("accepted_at" and "accepted_at_ms").  Returns
 * 0, 1 when the job is unknown, -1 when Redis failed, with the reason in
 * |why|. */
int flex_job_status(struct flex_store *st, const struct flex_cfg *cfg, const char *id, FILE *out,
                    char *why, size_t whysz);

#endif
