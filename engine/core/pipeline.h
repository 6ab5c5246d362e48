/*
 * The dispatch pipeline inside flexd: three threads and the rings between
 * them (docs/architecture.md).
 *
 *   intake --jobs--> dispatch (+ carrier clients) --results--> writer
 *     ^                                                          |
 *     +----------------- free job records ------------------------+
 *
 * Job records come from a fixed pool owned by the intake: the only
 * allocation per message is none.  Every record passes through exactly one
 * thread at a time, handed over by an SPSC ring (engine/base/ring.h), so no
 * field of a record is ever shared.
 */
#ifndef FLEX_PIPELINE_H
#define FLEX_PIPELINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "metrics.h"
#include "ring.h"
#include "sms.h"

#define FLEX_POOL_SIZE 8192
#define FLEX_RING_SIZE 16384
/* The longest text that fits FLEX_SMS_MAX_PARTS parts, in UTF-8: GSM-7
 * parts of 153 septets of characters such as 'é' (2 bytes for 1 septet).
 * UCS-2 texts are shorter (67 units, at most 3 bytes each).  Records are
 * most of flexd's memory: keep them no larger than this. */
#define FLEX_TEXT_MAX (FLEX_SMS_MAX_PARTS * 153 * 2 + 1)

enum flex_rec_kind {
    FLEX_REC_JOB,          /* intake -> dispatch: a job to send */
    FLEX_REC_RESULT,       /* dispatch -> writer: its outcome */
    FLEX_REC_RECEIPT,      /* dispatch -> writer: a delivery receipt */
    FLEX_REC_INBOUND,      /* dispatch -> writer: a patient's text */
    FLEX_REC_INBOUND_PART, /* dispatch -> writer: one part of a longer text (its
                            * bytes in text[0..part_len)), joined in Redis */
    FLEX_REC_PART_STORED,  /* writer only: a part stored, the text not whole yet */
    FLEX_REC_RECEIPT_WAIT, /* writer only: a receipt waiting for its msgid map */
};

/* Values of the labelled tables. */
enum {
    FLEX_MV_ACCEPTED,
    FLEX_MV_FAILED,
    FLEX_MV_DELIVERED,
    FLEX_MV_EXPIRED,
    FLEX_MV_SUPPRESSED,
    FLEX_MV_SCHEDULED
};
enum { FLEX_MG_WINDOW, FLEX_MG_BOUND, FLEX_MG_CIRCUIT, FLEX_MG_UP, FLEX_MG_DRAINED };

/* Why a job was not sent although nothing was wrong with it
 * (flex_suppressed_total{reason}); the names are the reasons written to
 * the job's status. */
enum flex_suppress {
    FLEX_SUP_OPTOUT,
    FLEX_SUP_SANDBOX,
    FLEX_SUP_CANCELLED,
    FLEX_SUP_RESCHEDULED,
    FLEX_SUP_CAP,
    FLEX_SUP_OTHER,
    FLEX_SUP_N
};
extern const char *const flex_suppress_names[FLEX_SUP_N];

/* SUPPRESSED: a rule that changed while the job waited in the dispatcher
 * (opt-out, sandbox, its appointment changed) stopped it; |reason| says
 * which. */
enum flex_outcome { FLEX_OUT_ACCEPTED = 1, FLEX_OUT_FAILED, FLEX_OUT_EXPIRED, FLEX_OUT_SUPPRESSED };

/* Why the dispatcher handed a job back to the intake (the back ring). */
enum flex_back { FLEX_BACK_PAUSED = 1, FLEX_BACK_QUIET };

struct flex_rec {
    enum flex_rec_kind kind;
    /* the job */
    char id[97];    /* FLEX_JOB_DERIVED_ID_MAX + 1 */
    char entry[48]; /* stream entry id, for XACK */
    char location[65];
    char patient[65];
    char phone[17];
    char template_name[65];
    int64_t enqueued_ms, expires_ms;
    /* expanded reminders and recalls: the gate (engine/core/schedq.h) */
    char job_kind[24]; /* "reminder_24h"...: gated; empty: not */
    char parent_key[112];
    int64_t parent_version;
    /* what was sent */
    char text[FLEX_TEXT_MAX];
    uint8_t route_pos;  /* carriers tried so far */
    uint8_t ambiguous;  /* ambiguous submits so far (ambiguous = retry sends again) */
    int64_t checked_ms; /* when the intake checked it (opt-outs, pause) */
    bool auto_reply;    /* an automatic reply to a patient's text: quiet hours
                         * and pauses do not hold it */
    bool to_optout;     /* optout_confirm: goes to the number that just opted out */
    enum flex_back back;
    /* outcome */
    enum flex_outcome outcome;
    char carrier[65];
    unsigned nparts; /* accepted: its parts; a receipt: the parts of its message, once matched */
    unsigned nkeys;  /* a receipt: its candidate keys in part_ids[0..nkeys) */
    char part_ids[FLEX_SMS_MAX_PARTS][65]; /* canonical id keys (engine/core/carrier.h) */
    uint32_t status;
    bool temporary;
    bool carrier_optout; /* failed: the carrier says the recipient unsubscribed */
    char reason[96];
    int64_t at_ms;
    /* receipts and inbound */
    bool delivered; /* a receipt: final and delivered (its state name in reason) */
    uint32_t receipt_err;
    char from[21], to[21];
    bool truncated; /* inbound: longer than the adapter keeps; a part: its bytes cut */
    /* an inbound part: its bytes' length in text, data_coding, reference,
     * count, number; once joined (FLEX_REC_INBOUND), parts_key[0] != 0: the
     * set's key, deleted when the text is stored */
    uint16_t part_len, part_ref;
    uint8_t dcs, part_total, part_seq;
    char parts_key[48];
    bool heap; /* a receipt/inbound record allocated because the pool was empty */
    /* a receipt/inbound: the carrier's acknowledgement, owed once this is
     * stored (the dispatcher's carrier tag << 56 | the adapter's token,
     * engine/core/carrier.h); 0: none owed */
    uint64_t ack;
    /* a webhook's receipt/inbound: the HTTP listener's request waiting for
     * its answer until this is stored (flex_pipeline.hook_done); 0: none */
    uintptr_t hook;
};

struct flex_audit;
struct flex_pipeline;

/* Counts a suppression by its reason ("optout", "sandbox", "cancelled",
 * "rescheduled", "frequency_cap"; others as "other").  Any thread. */
void flex_count_suppressed(struct flex_pipeline *p, const char *reason);

/* Shared by the threads; everything mutable is an atomic or a ring. */
struct flex_pipeline {
    struct flex_audit *audit;       /* engine/core/audit.h (thread-safe); NULL: off */
    struct flex_ring jobs;          /* intake -> dispatch */
    struct flex_ring results;       /* dispatch -> writer */
    struct flex_ring free_recs;     /* writer -> intake (records back to the pool) */
    struct flex_ring free_dispatch; /* writer -> dispatch (receipt/inbound records) */
    struct flex_ring news;    /* intake -> dispatch: struct flex_news * (engine/core/live.h) */
    struct flex_ring back;    /* dispatch -> intake: jobs to hold or schedule again */
    struct flex_ring acks;    /* writer -> dispatch: flex_rec.ack of what was stored */
    struct flex_ring hooks;   /* http listener -> writer: webhooks' receipts and texts
                               * (heap records: the writer frees them) */
    struct flex_rec *pool;    /* FLEX_POOL_SIZE records for jobs */
    struct flex_rec *dpool;   /* records the dispatch thread fills */
    _Atomic bool stop_intake; /* SIGTERM: take no new jobs */
    _Atomic bool stop_all;    /* drained or timed out: threads exit */
    _Atomic int inflight;     /* jobs taken by intake, not yet written */
    _Atomic uint64_t results_stored; /* job outcomes the writer has stored (the
                                      * dispatcher's backpressure: its own count
                                      * of outcomes handed over, less this) */
    _Atomic bool redis_ok;           /* last Redis round trip of the intake worked */
    _Atomic int carriers_bound;      /* sessions bound, all carriers */
    _Atomic bool reload_requested;   /* flexctl reload seen by the intake */
    _Atomic uint64_t held;           /* jobs held for paused locations */
    /* The intake: CLOCK_MONOTONIC ns at which it last read every opt-out,
     * pause and change in Redis (all of each stream up to then) and passed
     * them to the dispatcher; stored with release after pushing that news,
     * loaded with acquire by the dispatcher before it takes the news ring,
     * which sends nothing while it is older than a second (0: not yet). */
    _Atomic uint64_t news_ns;
    _Atomic bool reload_refused; /* the last reload was refused (main; /metrics) */
    char consumer[64];           /* this process's consumer name in the group */
    /* Answers a webhook the writer stored (|status| 200) or could not
     * (503), given its flex_rec.hook (engine/run/http.c); set before the
     * threads start, NULL without a listener.  Any thread. */
    void (*hook_done)(void *ctx, uintptr_t hook, unsigned status);
    void *hook_ctx;
    _Atomic int webhooks_waiting; /* webhooks taken, their answer owed until stored */
    /* Counters of this process for /metrics; each written by one thread,
     * read by the HTTP thread (relaxed: monotonic counters, no ordering). */
    struct {
        _Atomic uint64_t jobs_read, dead_letter, suppressed, duplicates, expired;
        _Atomic uint64_t accepted, failed, delivered, inbound, redis_errors;
        _Atomic uint64_t events_overflow;    /* receipts/inbound with no free record */
        _Atomic uint64_t acks_dropped;       /* stored, their carrier's ack not queued */
        _Atomic uint64_t receipts_duplicate; /* a final receipt again for a job */
        /* the dispatcher's checks just before a carrier (written by it) */
        _Atomic uint64_t send_suppressed, send_held, send_deferred;
        _Atomic uint64_t send_stale; /* times sending stopped: news older than 1 s */
        /* SIGHUP or flexctl reload (main thread) */
        _Atomic uint64_t reloads_applied, reloads_refused;
        /* inbound (writer) */
        _Atomic uint64_t inbound_copies, optouts, optins, autoreply_capped;
        _Atomic uint64_t inbound_parts, inbound_joined; /* parts stored, texts made whole */
        _Atomic uint64_t inbound_parts_refused;         /* past engine.inbound_parts_kb */
        _Atomic uint64_t inbound_retries; /* transactions undone by a watched key (reply.h) */
        /* webhooks (http listener) */
        _Atomic uint64_t webhooks_ok, webhooks_refused, webhooks_busy;
        /* intake and dispatcher (multi-writer: atomic adds) */
        _Atomic uint64_t suppressed_by[FLEX_SUP_N];
        /* SMS parts carriers accepted, by coding (writer) */
        _Atomic uint64_t parts_gsm7, parts_ucs2;
    } m;
    /* The queue in Redis, sampled by the intake every second (relaxed
     * gauges): the oldest unsettled job's enqueue time, and when the last
     * sample worked (older than 5 s: the gauges are shown as NaN, stale). */
    _Atomic int64_t queue_oldest_ms, queue_sampled_ms;
    struct flex_labels held_by; /* writer: intake; value 0: jobs held per location */
    /* Labelled metrics (engine/base/metrics.h), each table with one writer. */
    struct flex_labels by_carrier;     /* writer: FLEX_MV_* */
    struct flex_labels by_location;    /* writer: accepted, failed, delivered, expired */
    struct flex_labels loc_intake;     /* intake: suppressed, expired, scheduled */
    struct flex_labels carrier_gauges; /* dispatch: FLEX_MG_* */
    struct flex_labels carrier_events; /* dispatch: enum flex_carrier_counter (carrier.h) */
    struct flex_labels inbound_by;     /* writer: texts received per location, by intent */
    struct flex_histogram accept_ms;   /* writer: enqueued -> carrier accepted */
    struct flex_histogram receipt_ms;  /* writer: accepted -> receipt */
    _Atomic int64_t queue_lag;         /* intake, every second: entries not yet read */
    _Atomic int64_t queue_pending;     /* ... read, not acknowledged (all flexd) */
    _Atomic int64_t queue_scheduled;   /* ... in the scheduled set */
};

struct flex_carrier_event;

/* A carrier's receipt or inbound text |ev| (engine/core/carrier.h) into the
 * record |r| for the writer, from carrier |carrier| at |at_ms|; |r->heap|
 * is left as the caller set it.  The dispatcher's events and the HTTP
 * listener's webhooks both go through it. */
/* A patient's text (UTF-8, NUL-terminated) into r->text, cut on a
 * character boundary when longer than a record holds; r->truncated set
 * when it was cut here or |cut| (cut before).  Any thread owning |r|. */
void flex_rec_set_text(struct flex_rec *r, const char *text, bool cut);

void flex_rec_report(struct flex_rec *r, const char *carrier, const struct flex_carrier_event *ev,
                     int64_t at_ms);

/* What an audit line says about a job: ids, never its text (HIPAA's
 * minimum necessary); the phone is masked.  NULL members are left out. */
struct flex_audit_job {
    const char *job, *location, *patient, *phone, *template_name, *carrier, *state, *reason;
};

/* One audit line (engine/core/audit.h) of |ev| ("send", "status") about |j|
 * now.  A no-op when the audit log is off; a failure is logged. */
void flex_audit_job(struct flex_audit *a, const char *ev, const struct flex_audit_job *j);

/* Thread bodies; |p| lives for the whole run. */
void *flex_intake_main(void *p);
void *flex_dispatch_main(void *p);
void *flex_writer_main(void *p);

#endif
