/*
 * Idempotency: a job id is sent at most once (docs/schemas.md, "Other keys").
 *
 * The record of an id read for sending is one field of a hash, not a key
 * of its own: flex:idem:{bucket}, field = the job id, value = the stream
 * entry that carried it (its time says how old the record is).  The bucket
 * is a fixed hash of the id (FNV-1a, 1024 buckets), so any process finds
 * it.  A key per job with a TTL cost Redis two dictionary entries (keys and
 * expires) per message, and each doubling of those dictionaries stalled it
 * for tens of milliseconds (docs/benchmarks.md, issue 14); fields of 1024
 * hashes grow 1024 small tables instead.
 *
 * Hash fields have no TTL in Redis 7.0, so flexd sweeps them: four times a
 * second, one step of a cursor over the buckets (shared by every flexd in
 * flex:idem:sweep) drops the fields older than [retention]
 * idempotency_days.
 *
 * Versions before this one wrote flex:seen:{id} keys (with their TTL).
 * Until flex:idem:legacy (Unix ms) the check also reads them, so an id sent
 * by an older flexd stays refused until its key expires.  The first flexd
 * of this version sets it: idempotency_days ahead when the jobs stream's
 * consumer group already existed (an older flexd may have run), 0 on a new
 * Redis.
 */
#ifndef FLEX_IDEM_H
#define FLEX_IDEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLEX_KEY_IDEM "flex:idem:" /* + bucket number: hash, job id -> entry */
#define FLEX_IDEM_BUCKETS 1024
#define FLEX_KEY_IDEM_LEGACY "flex:idem:legacy" /* Unix ms: read flex:seen:{id} until then */
#define FLEX_KEY_IDEM_SWEEP "flex:idem:sweep"   /* "bucket cursor" of the sweep */
#define FLEX_KEY_SEEN "flex:seen:"              /* + id: older versions' record (a key per job) */
/* "flex:idem:" and up to five digits, and a NUL */
#define FLEX_IDEM_KEY_MAX (sizeof(FLEX_KEY_IDEM) + 5)
/* the longest job id a record is made for: an expanded reminder's
 * (job.h: FLEX_JOB_DERIVED_ID_MAX, "{appointment id}/72h/{version}") */
#define FLEX_IDEM_ID_MAX 96

/* A field no job id can be (longer than FLEX_IDEM_ID_MAX, and than Redis's
 * hash-max-listpack-value, 64 by default), put in every bucket: a bucket is
 * then a hash table from its first record, not a listpack scanned whole by
 * every HSETNX (flexbench: 2.5-3 µs per check while the buckets held 100-128
 * records each).  Its value is no entry id: the sweep keeps it. */
#define FLEX_IDEM_SHAPE                                                                            \
    "~flex-idem-bucket-kept-as-a-hash-table~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~" \
    "~~~~~~~~~"

struct flex_store;

/* The bucket of job id |id| (|len| bytes): FNV-1a 32 modulo
 * FLEX_IDEM_BUCKETS.  Fixed: every process and version must agree. */
unsigned flex_idem_bucket(const char *id, size_t len);
/* Writes "flex:idem:{bucket}" for |id| to |key|; returns its length. */
size_t flex_idem_key(const char *id, size_t len, char key[FLEX_IDEM_KEY_MAX]);

/* Puts FLEX_IDEM_SHAPE in every bucket that lacks it (HSETNX, pipelined;
 * each flexd at start).  -1 when Redis failed. */
int flex_idem_shape(struct flex_store *st);

/* One step of the sweep.  KEYS[1] = flex:idem:sweep; ARGV[1] the cut (Unix
 * ms: fields whose entry is older go), ARGV[2] fields to visit at most,
 * ARGV[3] buckets to move on at most.  Returns {fields visited, removed}. */
extern const char flex_idem_sweep_lua[];

/* The check of one job, pipelined (a batch's checks then cost one round
 * trip): HSETNX of its entry under its id, and before it, while |legacy|,
 * a GET of an older version's flex:seen:{id}.  flex_idem_answer reads its
 * replies (two with |legacy|, else one).  One HSETNX per job cost Redis
 * less than SET ... NX GET EX on a key of its own, and less than one
 * script doing the same for the batch (bench/bench_redis, docs/benchmarks.md). */
void flex_idem_ask(struct flex_store *st, bool legacy, const char *id, const char *entry);

enum flex_idem_verdict {
    FLEX_IDEM_NEW,   /* no record: this entry's is made */
    FLEX_IDEM_OWN,   /* recorded under this very entry: a redelivery (crash) */
    FLEX_IDEM_OTHER, /* recorded under another entry: a duplicate enqueue */
    FLEX_IDEM_ASK,   /* a record, which entry unknown: flex_idem_ask_prev */
};
/* Reads the replies of flex_idem_ask for the job of stream entry |entry|
 * into |*v|.  Returns 0, or -1 when Redis failed or refused (nothing can
 * be known: send nothing unrecorded). */
int flex_idem_answer(struct flex_store *st, bool legacy, const char *entry,
                     enum flex_idem_verdict *v);
/* For a FLEX_IDEM_ASK: appends the HGET of the entry recorded, and reads
 * it into |*v| (FLEX_IDEM_OWN or FLEX_IDEM_OTHER).  Returns -1 also when
 * the record went meanwhile (a replay's removal): nothing names this
 * entry, so the round is tried again. */
void flex_idem_ask_prev(struct flex_store *st, const char *id);
int flex_idem_answer_prev(struct flex_store *st, const char *entry, enum flex_idem_verdict *v);

/* Appends the removal of |id|'s record (a job taken back to be scheduled:
 * its next entry must not be refused as a duplicate of this one): only
 * when it names |entry| if |entry| is not NULL (a dead letter replayed:
 * another entry sent under the same id stays the one).  One reply. */
void flex_idem_forget(struct flex_store *st, const char *id, const char *entry);

/* Reads the entry recorded for |id| (the hash, then an older version's
 * key) into |entry|.  Returns 1 found, 0 none, -1 Redis failed. */
int flex_idem_lookup(struct flex_store *st, const char *id, char *entry, size_t entrysz);

/* Sets flex:idem:legacy when absent (see above) and reads it into
 * |*until_ms|.  |group_existed|: the jobs stream's consumer group was
 * there before this process created it.  Returns 0 or -1 (Redis). */
int flex_idem_legacy(struct flex_store *st, bool group_existed, uint32_t idempotency_days,
                     int64_t now_ms, int64_t *until_ms);

/* The settled jobs of a JobBatch entry (docs/schemas.md, flex:jb): bit k
 * of flex:jb:{entry id} is set in the same write that stores job k's
 * outcome (the writer's transaction, the intake's writes), so a flexd that
 * takes the entry again (after a crash, a claim, a lost connection) skips
 * exactly those jobs, whatever the history or the idempotency records hold
 * by then.  Deleted with the entry's XACK; FLEX_JOBBATCH_TTL_S after its
 * last write otherwise (an entry acknowledged elsewhere). */
#define FLEX_KEY_JOBBATCH "flex:jb:"
#define FLEX_JOBBATCH_TTL_S (90 * 86400)

/* Appends, for the JobBatch jobs among |entries| (|n| record entries
 * "{entry}#{k}"; others are passed over), one BITFIELD setting their bits
 * per run of one entry, and its EXPIRE.  Returns the commands appended. */
size_t flex_jobbatch_mark(struct flex_store *st, const char *const *entries, size_t n);

/* "flex:jb:{entry id}" of |entry| (a batch job's or the entry's own id)
 * into |key|; its length, 0 when it does not fit. */
#define FLEX_JOBBATCH_KEY_MAX (sizeof(FLEX_KEY_JOBBATCH) + 48)
size_t flex_jobbatch_key(const char *entry, char key[FLEX_JOBBATCH_KEY_MAX]);

/* Whether bit |k| is set in a flex:jb value (|len| bytes at |bits|). */
static inline bool flex_jobbatch_bit(const char *bits, size_t len, unsigned k)
{
    return k / 8 < len && ((unsigned char)bits[k / 8] >> (7 - k % 8) & 1);
}

#endif
