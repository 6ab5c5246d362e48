/*
 * Redis: connections and the key layout (docs/schemas.md).
 *
 * A struct flex_store is one connection (TCP, TLS or a unix socket), used
 * by one thread; hiredis parses its replies.
 * Commands are appended and their replies read in order (pipelining): a
 * batch of N commands costs one round trip, which is what keeps Flex far
 * from the ~70k/s ceiling of one command per round trip
 * (../shared/MEASUREMENTS.md).
 */
#ifndef FLEX_STORE_H
#define FLEX_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct redisReply;
struct flex_store;

/* Every key Flex uses.  {...} parts are appended by the caller. */
#define FLEX_KEY_JOBS "flex:jobs"          /* stream: field job = Job, or jobs = JobBatch */
#define FLEX_KEY_GROUP "flexd"             /* its consumer group */
#define FLEX_KEY_URGENT "flex:jobs:urgent" /* stream: automatic replies, read by every flexd */
#define FLEX_URGENT_PREFIX "u:"            /* record entries of urgent jobs (no XACK) */

/* Whether a record's |entry| is an urgent job's (read without a group:
 * nothing to acknowledge or claim). */
static inline bool flex_entry_urgent(const char *entry)
{
    return entry[0] == 'u' && entry[1] == ':';
}
/* The stream entry id of a record's |entry|: past an urgent job's
 * "u:{process tag}:" (intake.c), else |entry| itself. */
static inline const char *flex_entry_id(const char *entry)
{
    if (!flex_entry_urgent(entry))
        return entry;
    for (const char *c = entry + 2; *c; c++)
        if (*c == ':')
            return c + 1;
    return entry + 2; /* no tag (records of older versions) */
}
/* A job of a JobBatch entry (field "jobs") is "{entry id}#{k}" in its
 * record, its idempotency record and its dead letter: the entry is
 * acknowledged by the intake once all its jobs are settled, never by the
 * writer with one job's outcome. */
#define FLEX_BATCH_SEP '#'

/* Where the job's number begins in a batch job's |entry| ("#k"), or NULL
 * for an entry of one job. */
static inline const char *flex_entry_batch(const char *entry)
{
    for (const char *c = entry; *c; c++)
        if (*c == FLEX_BATCH_SEP)
            return c;
    return NULL;
}
#define FLEX_KEY_STATUS "flex:status"         /* stream: field ev = StatusEvent */
#define FLEX_KEY_INBOUND "flex:inbound"       /* stream: field msg = InboundMessage */
#define FLEX_KEY_DEADLETTER "flex:deadletter" /* stream: field dl = DeadLetter */
#define FLEX_KEY_OPTOUT "flex:optout"         /* set of E.164 numbers */
#define FLEX_KEY_OPTOUT_LOG "flex:optout:log" /* stream: op (+/-), number */
#define FLEX_KEY_PAUSED "flex:paused"         /* set of location ids */
#define FLEX_KEY_DRAINED "flex:drained"       /* set of carrier names (flexctl carrier drain) */
#define FLEX_KEY_CONTROL "flex:control" /* stream: cmd (reload/pause/resume/drain/undrain), arg */
#define FLEX_KEY_CHANGES "flex:changes" /* stream: k (parent key), v (its version now) */
#define FLEX_KEY_STATS "flex:stats"     /* hash of counters */
#define FLEX_KEY_JOB "flex:job:"        /* + id: hash, the job's history */
#define FLEX_KEY_MSGID "flex:msgid:"    /* + carrier:id -> job id (TTL) */

/* Where Redis is and how to reach it: the [redis] section of the config
 * (engine/core/config.h holds one). */
struct flex_store_params {
    const char *url;      /* redis://[user:password@]host[:port][/db], rediss://... (TLS),
                             unix:///path[?db=N] */
    const char *tls_ca;   /* rediss://: CA file to verify the server with; NULL the system's */
    const char *tls_cert; /* rediss://: a client certificate and its key (both or neither) */
    const char *tls_key;
};

/* Connects within |timeout_ms| (connect, TLS handshake, AUTH, SELECT, PING;
 * after that one read or write waits at most 30 s).  Returns 0 and |*out|,
 * or -errno / FLEX_E_INVAL with a one-line reason in |why| that never
 * holds the password.  rediss:// always verifies the server's certificate
 * and that it names the host dialled. */
/* The process must ignore SIGPIPE: OpenSSL writes with write(). */
int flex_store_connect(struct flex_store **out, const struct flex_store_params *p, int timeout_ms,
                       char *why, size_t whysz);
void flex_store_del(struct flex_store *s);

/* Appends one command (|argc| arguments, binary-safe).  No I/O. */
void flex_store_append(struct flex_store *s, int argc, const char **argv, const size_t *lens);
/* printf-style for simple commands ("HINCRBY %s %s %lld"). */
void flex_store_appendf(struct flex_store *s, const char *fmt, ...);
/* Reads the next reply (owned by the caller: flex_store_free_reply).
 * Returns 0, or -1 when the connection failed (the store is then unusable:
 * reconnect). */
int flex_store_reply(struct flex_store *s, struct redisReply **r);
void flex_store_free_reply(struct redisReply *r);
/* Reads and discards |n| replies; returns how many were errors, or -1 when
 * the connection failed. */
int flex_store_drain(struct flex_store *s, int n);
/* Commands appended whose replies are not read yet. */
size_t flex_store_pending(const struct flex_store *s);
/* Reads and drops every reply not read yet: before a command whose reply
 * the caller reads, so that it does not take an earlier write's reply for
 * its own.  Returns -1 when the connection failed, else the number of error
 * replies among them. */
int flex_store_settle(struct flex_store *s);
/* Loads the Lua script |src| (SCRIPT LOAD, one round trip) and writes its
 * SHA-1 (40 hex digits and a NUL) to |sha|.  Returns 0, or -1 when Redis
 * failed or refused the script. */
int flex_store_script_load(struct flex_store *s, const char *src, char sha[41]);
/* Error replies read so far that were transient (flex_reply_is_transient):
 * a caller compares it before and after reading a round's replies to tell
 * "Redis refuses writes for now: try the round again later" from "this
 * command was wrong: retrying it cannot help". */
uint64_t flex_store_refusals(const struct flex_store *s);
/* The text of the connection's error, or else of the last error reply
 * (an EXECABORT's cause rather than the EXECABORT), or "no error". */
const char *flex_store_error(const struct flex_store *s);

/* Reply accessors, so callers need no hiredis header.  Each takes NULL (a
 * missing element): nil, no error, 0, NULL, no elements. */
bool flex_reply_is_error(const struct redisReply *r);
/* An error reply about the server's state (OOM, READONLY, MISCONF,
 * LOADING, BUSY, MASTERDOWN, NOREPLICAS, TRYAGAIN, NOSCRIPT): the same
 * command may succeed later.  Any other error (WRONGTYPE, ERR ...) would
 * fail again. */
bool flex_reply_is_transient(const struct redisReply *r);
bool flex_reply_is_nil(const struct redisReply *r);
long long flex_reply_integer(const struct redisReply *r);
const char *flex_reply_str(const struct redisReply *r, size_t *len); /* string/status/error */
size_t flex_reply_count(const struct redisReply *r);                 /* array length */
struct redisReply *flex_reply_at(const struct redisReply *r, size_t i);

#endif
