/*
 * What can change while a job waits inside flexd: the news the intake reads
 * from Redis (opt-outs and opt-ins, location pauses, appointments
 * rescheduled or cancelled) passed to the dispatch thread, which checks
 * every job against it just before the job is handed to a carrier.
 *
 * A job is checked by the intake when it is read; it may then wait in the
 * dispatcher for minutes (a rate limit, a carrier down, failover).  The
 * intake reads the opt-out log, the control stream and the change stream
 * in every round (at most ~100 ms apart) and pushes what it read into the
 * news ring (engine/core/pipeline.h) in the order it read it; the dispatcher
 * applies all news before it tries any job, so a job leaves against state
 * no older than one intake round.
 *
 * News only ever adds restrictions a job did not see when it was checked
 * (an opt-in lifts one that news added), so applying news a job was already
 * checked against is harmless.  Entries are kept as long as a job checked
 * before them may still be waiting: flex_live_prune drops those older than
 * the longest time any job may wait (its expiry minus its check time).
 *
 * struct flex_live belongs to one thread (the dispatcher); a struct
 * flex_news is built by the intake and owned by whoever holds it (the
 * ring hands it over; the dispatcher frees it after applying it).
 */
#ifndef FLEX_LIVE_H
#define FLEX_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum flex_news_kind {
    FLEX_NEWS_OPTOUT = 1, /* |text|: E.164 numbers, comma-separated */
    FLEX_NEWS_OPTIN,      /* ... numbers no longer opted out */
    FLEX_NEWS_PAUSED,     /* |text|: every paused location id, comma-separated ("*": all) */
    FLEX_NEWS_PARENT,     /* |text|: a parent key (flex:parent:...); |version| now (0 cancelled) */
    FLEX_NEWS_DRAINED     /* |text|: every drained carrier's name, comma-separated */
};

struct flex_news {
    enum flex_news_kind kind;
    int64_t at_ms;   /* when the intake read it */
    int64_t version; /* FLEX_NEWS_PARENT */
    size_t len;
    char text[]; /* |len| bytes and a NUL */
};

/* A new item holding a copy of |text| (|len| bytes, borrowed). */
struct flex_news *flex_news_new(enum flex_news_kind kind, int64_t at_ms, const char *text,
                                size_t len, int64_t version);
void flex_news_del(struct flex_news *n);

struct flex_live;

struct flex_live *flex_live_new(void);
void flex_live_del(struct flex_live *l);

/* Applies |n| (borrowed). */
void flex_live_apply(struct flex_live *l, const struct flex_news *n);

/* Forgets opt-outs and parent changes read before |before_ms|: no job
 * checked before then can still be waiting. */
void flex_live_prune(struct flex_live *l, int64_t before_ms);

/* Whether |phone| opted out since the news began (and not back in). */
bool flex_live_opted_out(const struct flex_live *l, const char *phone);

/* Whether |location| is paused (the paused set last read from Redis). */
bool flex_live_paused(const struct flex_live *l, const char *location);
/* Whether |carrier| is drained (flexctl carrier drain): no new message goes
 * to it; what it has in flight finishes. */
bool flex_live_drained(const struct flex_live *l, const char *carrier);

/* Whether the parent at |key| changed to a version other than |version|
 * since the news began; |*now| gets the new one (0: cancelled). */
bool flex_live_parent_changed(const struct flex_live *l, const char *key, int64_t version,
                              int64_t *now);

/* Entries held (opt-outs, parent changes), for tests and metrics. */
size_t flex_live_count(const struct flex_live *l);

#endif
