/*
 * Jobs: the contract's JSON lines, their protobuf form (flex.v1.Job), and
 * the checks every job passes before anything is sent.
 *
 * A job is validated twice: by flexctl when it reads a JSON line (so an
 * operator sees "LINE: reason" at once) and by flexd when it takes the
 * protobuf from Redis (a pipeline stage in another language may have
 * written it).  Both use flex_job_validate().
 */
#ifndef FLEX_JOB_H
#define FLEX_JOB_H

#include <stddef.h>
#include <stdint.h>

struct flex_cfg;
struct Flex__V1__Job;

#define FLEX_JOB_ID_MAX 64
#define FLEX_JOB_DERIVED_ID_MAX 96 /* ids flexd makes for expanded reminders */
/* jobs in one JobBatch entry (proto/flex.proto), at most */
#define FLEX_JOBBATCH_MAX 64
#define FLEX_JOB_VAR_MAX 200 /* bytes per template variable */

struct flex_job_error {
    int code; /* FLEX_E_* */
    char reason[160];
};

/* Parses one JSON line (|len| bytes, borrowed), validates it against |cfg|
 * and packs it as a flex.v1.Job.  Returns 0 with |*out| (free with
 * flex_free) of |*outlen| bytes and the job id in |id|, or FLEX_E_SYNTAX
 * (not a JSON object), FLEX_E_INVAL (a field missing or wrong) with
 * |err->reason| saying which. */
int flex_job_from_json(const struct flex_cfg *cfg, const char *line, size_t len, uint8_t **out,
                       size_t *outlen, char id[FLEX_JOB_ID_MAX + 1], struct flex_job_error *err);

/* Checks |job| against |cfg|; normalizes its phone number in place (the
 * string is replaced by one from |phone_buf|, 17 bytes the caller keeps
 * alive).  Returns 0 or FLEX_E_INVAL with the reason. */
int flex_job_validate(const struct flex_cfg *cfg, struct Flex__V1__Job *job, char *phone_buf,
                      struct flex_job_error *err);

/* "2026-12-01T09:30:00-07:00" -> Unix ms; "2027-01-15" -> midnight UTC ms
 * of that date.  Return 0 or FLEX_E_SYNTAX. */
int flex_job_parse_time(const char *s, int64_t *ms);
int flex_job_parse_date(const char *s, int64_t *ms);

/* One job's bytes inside a JobBatch (borrowed from the batch). */
struct flex_job_slice {
    const uint8_t *p;
    size_t len;
};

/* Splits a packed flex.v1.JobBatch (|len| bytes from outside: any bytes)
 * into the bytes of its jobs, without decoding them: each is then
 * unpacked, checked and, when bad, dead-lettered on its own with its
 * exact bytes.  Fields other than jobs (a newer producer's) are skipped by
 * their wire type.  Returns the number of jobs (at most |max| written to
 * |out|; more are counted, not written), or -1 when the bytes are no
 * protobuf message (a truncated length, a bad wire type). */
long flex_jobbatch_split(const uint8_t *buf, size_t len, struct flex_job_slice *out, size_t max);

/* The name of a job state (proto/flex.proto State) as every record,
 * status event and audit line spells it: "queued", "scheduled",
 * "accepted", "delivered", "failed", "expired", "suppressed",
 * "dead_letter"; "unknown" for anything else.  |state| is a
 * Flex__V1__State. */
const char *flex_job_state_name(int state);

#endif
