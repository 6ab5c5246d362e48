/*
 * Patients' replies and the conversation log, in Redis (docs/schemas.md).
 *
 * Every text sent and received is kept in flex:log:{day} (a sorted set per
 * UTC day, kept engine.history_days after it): each record is a member
 * scored by its number, so one number's records of a day are one
 * ZRANGEBYSCORE, in time order (a record starts "t=<ms>").  That log is
 * both the patient's message history (flexctl history) and the reply
 * context: the number a patient answers from tells, through its last
 * messages, which patient, location and appointment the answer is about.
 * No key per number: a text sent costs one member of a ZADD per batch
 * (docs/benchmarks.md has what the layouts tried cost).
 *
 * Inbound texts cost the writer a round trip per batch for the contexts (a
 * script reading each sender's last days), then what each text means is
 * applied, each text as one atomic unit, whichever flexd runs it: by a
 * script (up to FLEX_REPLY_CHUNK texts a call) for an opt-out, an opt-in
 * and HELP, and for the others (nearly all) by the same plan of writes in
 * a WATCH/MULTI/EXEC transaction of up to 64 texts, two round trips
 * (flex_reply_plain_apply: the script machinery was two thirds of what a
 * text cost Redis):
 *
 *   opt-out   SADD flex:optout; only when that added it: the opt-out log
 *             (every flexd's bloom filter and waiting jobs within a
 *             round), the counter, and one optout_confirm job
 *   opt-in    (a fresh text only) SREM; only when that removed it: the log,
 *             one optin_confirm job
 *   help      the help job, within engine.autoreply_per_day per number
 *   confirm   flex:confirmations; the appointment's remaining reminders of
 *             the engine.confirm_drops kinds are dropped
 *   reschedule, other, CANCEL: flex:frontdesk:{location}
 *   emergency flex:escalations (urgent) and the front desk
 *
 * A carrier that delivers the same text twice (same sender, number and
 * text within FLEX_REPLY_DUP_S) gets one set of actions: the first sets
 * flex:mo:{hash}; a copy only re-applies an opt-out (idempotent).  So a
 * batch written again after a lost reply is not applied twice either.
 */
#ifndef FLEX_REPLY_H
#define FLEX_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flex_store;
struct flex_cfg;
struct redisReply;

#define FLEX_KEY_LOG "flex:log:"   /* + UTC day number: the message log */
#define FLEX_KEY_CONV "flex:conv:" /* + phone: the log of versions before flex:log (read only) */
#define FLEX_KEY_CONFIRMATIONS "flex:confirmations"
#define FLEX_KEY_FRONTDESK "flex:frontdesk" /* + ":" location; alone: unknown location */
#define FLEX_KEY_ESCALATIONS "flex:escalations"
#define FLEX_REPLY_DUP_S 120 /* the same text again within this is a carrier's copy */
/* ... and for an opt-in: a copy an SMSC redelivers hours later (its answer
 * lost) must not undo the STOP the patient sent since.  The same START
 * again within a day does nothing; another opt-in word (UNSTOP) does. */
#define FLEX_REPLY_OPTIN_DUP_S 86400
#define FLEX_REPLY_CONTEXT 20    /* log records read for the context */
#define FLEX_CONV_MAX 500        /* texts received logged per number and day */
#define FLEX_REPLY_CHUNK 32      /* texts per call of the context and inbound scripts */
#define FLEX_REPLY_PLAIN_MAX 512 /* texts per batch applied without the script (64 a transaction)  \
                                  */

struct flex_reply_plans;

/* SHA-1 of each script, as loaded into the server, and the buffers the
 * commands are built in (allocated on first use; one thread's). */
struct flex_reply {
    char context[41], inbound[41], parts[41];
    /* texts that change no opt-out and queue no reply applied without the
     * script (flex_reply_plain_apply): set by its user */
    bool plain;
    uint64_t plain_aborts; /* transactions a watched key undid (tried again) */
    /* tests only: called between a try's reads and its writes */
    void (*plain_between)(void *arg);
    void *plain_arg;
    struct flex_reply_plans *_plans;
};

/* Frees the buffers (the scripts stay loaded in the server). */
void flex_reply_free(struct flex_reply *q);

/* Loads the scripts (SCRIPT LOAD): after every (re)connect.  Returns 0, or
 * -1 when Redis failed. */
int flex_reply_load(struct flex_store *st, struct flex_reply *q);

/* The records of the log (docs/schemas.md, flex:log:{day}): tab-separated
 * "t= d= l= p= a= j= k= [s=] x=", the text last. */

/* A number's score in the log into |out| (|outsz| bytes): its digits
 * (E.164 "+12025550143" is 12025550143, exact in a double up to 15 digits),
 * negated for a number without "+" (a short code).  Returns 0, or -1 for a
 * sender that has no score (letters: no log). */
int flex_conv_score(const char *phone, char *out, size_t outsz);

/* The score of a text received from |phone|: the number's own with ".5"
 * after it (12025550143.5; a short code's -72345.5, below its -72345), so
 * that the texts sent to a number, all the reply context reads, are a
 * score of their own, and a number that texts a lot does not push them
 * out of its reads.  Exact in a double: 15 digits and a half need 51 bits.
 * Returns 0, or -1 as flex_conv_score. */
int flex_conv_score_in(const char *phone, char *out, size_t outsz);

/* Both kinds of records of |phone|, as a score range: |lo| and |hi|
 * (|sz| bytes each).  Returns 0, or -1 as flex_conv_score. */
int flex_conv_score_range(const char *phone, char *lo, char *hi, size_t sz);

/* The log key of the day holding |at_ms| into |out|. */
void flex_conv_key(int64_t at_ms, char *out, size_t outsz);

/* When the key of the day holding |at_ms| expires (Unix ms): that day's
 * end plus flex_conv_keep_ms. */
int64_t flex_conv_expire_at(const struct flex_cfg *cfg, int64_t at_ms);

/* Formats a record into |out| (|outsz| bytes, not NUL-terminated);
 * |status| NULL: none (a text Flex sent takes its own from its job).  The
 * text's tabs and line breaks become spaces.  Returns the length, or -1
 * when it does not fit. */
long flex_conv_record(char *out, size_t outsz, int64_t at_ms, char dir, const char *loc,
                      const char *patient, const char *appt, const char *job, const char *what,
                      const char *status, const char *text);

/* Field |k| ("l=") of the record |rec| (|len| bytes): its value and
 * |*vlen|, or NULL.  The text ("x=") runs to the record's end. */
const char *flex_conv_field(const char *rec, size_t len, const char *k, size_t *vlen);

/* The same, copied into |out| (|outsz| bytes, cut to fit, NUL-terminated;
 * empty when absent). */
void flex_conv_field_copy(const char *rec, size_t len, const char *k, char *out, size_t outsz);

/* How long a log is kept: engine.history_days, or reply_context_days if
 * longer, in ms. */
int64_t flex_conv_keep_ms(const struct flex_cfg *cfg);

/* One text sent, for the log.  Strings borrowed until the command is
 * appended. */
struct flex_conv_out {
    const char *phone, *patient, *location, *appointment, *job, *template_name, *text;
    int64_t at_ms;
};

/* Appends the commands adding |n| texts sent to the log (a ZADD and a
 * PEXPIREAT per day the texts fall on); returns how many (one reply
 * each: usually two per batch). */
size_t flex_reply_append_conv(struct flex_store *st, struct flex_reply *q,
                              const struct flex_cfg *cfg, const struct flex_conv_out *o, size_t n,
                              int64_t now_ms);

/* ---- the parts of a longer text, joined in Redis ---------------------------
 *
 * An SMSC may deliver the parts of one text to different binds, of
 * different flexd processes, and a process may die between two parts.  So
 * each part is stored in flex:moparts:{hash} (a hash: field = the part's
 * number, value = a flag byte, 'c' when the adapter cut it, then its bytes
 * as they came), by a script that also returns the parts joined once all
 * are there.  The set expires FLEX_PARTS_TTL_MS after its first part; it is
 * deleted when the whole text is stored.  A part is answered to the carrier
 * once stored, so nothing answered is lost to a crash. */
#define FLEX_KEY_MOPARTS "flex:moparts:"
/* A text still incomplete this long after its first part is given up. */
#define FLEX_PARTS_TTL_MS 300000
#define FLEX_PARTS_TEXT_MAX 4096 /* source bytes of a joined text kept (as SMPP's own join) */
#define FLEX_PARTS_KEY_SZ 48

/* What one flexd lets the parts of unfinished texts hold in Redis: at most
 * |max| bytes (each part's bytes and FLEX_PARTS_COST) stored per window of
 * FLEX_PARTS_TTL_MS.  A set expires FLEX_PARTS_TTL_MS after its first part,
 * so what one process stored is at most twice |max| at any time, whatever
 * a carrier sends.  One thread's (the writer's). */
#define FLEX_PARTS_COST 64
struct flex_parts_budget {
    int64_t start_ms; /* the window's */
    uint64_t used;
};

/* Takes room for a part of |len| bytes at |now_ms|: true when it may be
 * stored. */
bool flex_parts_budget_take(struct flex_parts_budget *b, int64_t now_ms, size_t len, uint64_t max);

/* The key of the set a part belongs to: sender, number texted (both
 * normalized), reference, count and data_coding, hashed (no number in a key
 * name). */
void flex_parts_key(const char *from, const char *to, unsigned ref, unsigned total, unsigned dcs,
                    char out[FLEX_PARTS_KEY_SZ]);

/* Appends the script storing part |seq| of |total| (|n| bytes at |b|,
 * |cut|: the adapter dropped bytes of it) in the set |key| (one reply). */
void flex_reply_append_part(struct flex_store *st, const struct flex_reply *q, const char *key,
                            unsigned seq, unsigned total, const uint8_t *b, size_t n, bool cut);

/* Reads the script's reply |r| (borrowed): 1 when the text is whole, its
 * bytes joined in |*data| and |*len| (borrowed from |r|: at most
 * FLEX_PARTS_TEXT_MAX; |*cut| when bytes were dropped, by the adapter or
 * that cap); 0 when parts are missing; -1 for an error reply. */
int flex_reply_parse_part(struct redisReply *r, const char **data, size_t *len, bool *cut);

/* A text received, its sender normalized. */
struct flex_inbound {
    const char *from, *to, *text, *carrier;
    int64_t at_ms;
    bool truncated; /* longer than the adapter keeps */
    int intent;     /* 0: classify |text|; else this enum flex_intent */
    /* joined from parts (flex_reply_append_part): their set, deleted by
     * the same script; NULL or "": none */
    const char *parts_key;
};

/* Who a text is about, from the sender's log. */
struct flex_reply_ctx {
    bool found;
    char patient[65], location[65], appointment[97];
    /* every patient texted from this number lately, comma-separated: one
     * per record read at most, each up to 64 bytes and its comma */
    char patients[FLEX_REPLY_CONTEXT * 66];
};

/* Appends the context lookups of the |n| senders |from| (at most
 * FLEX_REPLY_CHUNK; one reply, an array with an element per sender: its
 * records, or the error that stopped its lookup): each sender's last
 * FLEX_REPLY_CONTEXT records, newest first, from the days back to
 * engine.reply_context_days, stopping after the first day holding a text
 * sent from location |loc[k]| (NULL: any).  Returns 0, or FLEX_E_NOSPACE
 * when the command would not fit (nothing appended; never with n <=
 * FLEX_REPLY_CHUNK and the config's bounds on ids). */
int flex_reply_append_contexts(struct flex_store *st, struct flex_reply *q,
                               const struct flex_cfg *cfg, const char *const *from,
                               const char *const *loc, size_t n, int64_t now_ms);

/* Reads |r| (one sender's element of the lookups' reply, borrowed) into |ctx|: the latest text
 * sent within engine.reply_context_days, preferring those sent from
 * location |loc| (NULL: any). */
void flex_reply_parse_context(const struct flex_cfg *cfg, struct redisReply *r, const char *loc,
                              int64_t now_ms, struct flex_reply_ctx *ctx);

/* What the script did. */
struct flex_reply_done {
    bool fresh;           /* not a carrier's copy */
    bool changed;         /* the opt-out set changed */
    int replied;          /* 1 an automatic reply queued, 2 none: the daily cap */
    int intent;           /* enum flex_intent */
    const char *location; /* the one it was applied for ("" none): the config's */
    size_t plain;         /* > 0: kept for flex_reply_plain_apply, its number there */
};

/* The command applying up to FLEX_REPLY_CHUNK texts: begin, a text at a
 * time, end, which appends it (one reply, an array with an element per
 * text added, in order: flex_reply_parse_done's, or the error that
 * stopped that text) and returns how many texts it holds (0: nothing
 * appended). */
void flex_reply_inbound_begin(struct flex_reply *q);

/* Adds the text |in|; |done->intent| gets the classification.  Returns 0,
 * or FLEX_E_NOSPACE when it would not fit (a command of its own's bounds:
 * never for texts the adapters deliver; the command already holds
 * FLEX_REPLY_CHUNK texts), and nothing is added. */
int flex_reply_append_inbound(struct flex_reply *q, const struct flex_cfg *cfg,
                              const struct flex_inbound *in, const struct flex_reply_ctx *ctx,
                              struct flex_reply_done *done);

size_t flex_reply_inbound_end(struct flex_store *st, struct flex_reply *q);

/* Reads one text's element |r| of the script's reply (borrowed) into
 * |done|.  Returns 0, or -1 when it is an error (a refused write, a key of
 * another type). */
int flex_reply_parse_done(struct redisReply *r, struct flex_reply_done *done);

/* ---- the texts applied without the script ---------------------------------
 *
 * With |q->plain|, flex_reply_append_inbound keeps a text that changes no
 * opt-out and queues no automatic reply (every intent but STOP, START and
 * HELP), up to FLEX_REPLY_PLAIN_MAX of them, for this instead of the
 * script's call (|done->plain| > 0), as the same plan of writes.  Applies
 * them in transactions of up to 64 texts, each two round trips: WATCH of
 * their copy keys and appointments and the reads the script makes, then
 * MULTI, the writes, EXEC; again when a watched key changed between the
 * two, and after 8 such tries by the script, which also takes a
 * transaction whose read or EXEC Redis refused for good (a key of another
 * type, a command refused: the script's refusals are a text's own).  Call it
 * with nothing else pending on |st| (after the script calls' replies are
 * read).  Returns 0 (each text's outcome from flex_reply_plain_result), or
 * -1 when Redis failed or refused for now: the transactions before the one
 * that failed stand (flex_reply_plain_applied texts, their outcomes read as
 * usual), that one and those after it wrote nothing, and the batch may be
 * applied again (their copy keys make the written ones copies). */
int flex_reply_plain_apply(struct flex_store *st, struct flex_reply *q);

/* Text |i| (|done->plain|) after flex_reply_plain_apply: |done|'s fresh,
 * changed and replied.  Returns 0, or -1 when a write of it was refused
 * (|*why|, borrowed until the next apply). */
int flex_reply_plain_result(const struct flex_reply *q, size_t i, struct flex_reply_done *done,
                            const char **why);

/* After flex_reply_plain_apply: texts 1 to this have their outcome (all of
 * them when it returned 0). */
size_t flex_reply_plain_applied(const struct flex_reply *q);

/* The refusal of the last apply's gathered counters or expiries, or NULL. */
const char *flex_reply_plain_counters(const struct flex_reply *q);

/* Forgets the texts kept: before adding a batch's. */
void flex_reply_plain_reset(struct flex_reply *q);

#endif
