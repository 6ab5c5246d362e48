/*
 * A patient's message history (the "communication log"): the records of
 * flex:log:{day} (engine/core/reply.h) read for flexctl history, and a
 * previous system's history imported into them.
 */
#ifndef FLEX_HISTORY_H
#define FLEX_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct flex_store;
struct flex_cfg;

/* Prints the messages out and in of |who| (an E.164 number in any form, or
 * a patient id), oldest first, one line each: time (UTC), direction,
 * location, template or intent, status, text (tab-separated), kept within
 * engine.history_days.  A patient id prints only that patient's lines of
 * its number's log.  Returns the number of lines, or -1 when Redis failed
 * (|why| says why). */
long flex_history_print(struct flex_store *st, const struct flex_cfg *cfg, const char *who,
                        FILE *out, char *why, size_t whysz);

/* Imports the JSON lines of |in| (docs/operations.md, "History import"):
 * {"phone","patient","location","direction":"out"|"in","at" (RFC 3339) or
 * "at_ms","text", and "template" or "intent", "status"}.  Each record goes
 * into its number's log in time order; a record already there is not added
 * again (importing a file twice changes nothing).  Rejected lines are
 * printed to |errs| as "LINE: reason".  Returns 0, or -1 when Redis failed;
 * counts in |*imported| and |*rejected|. */
int flex_history_import(struct flex_store *st, const struct flex_cfg *cfg, FILE *in, FILE *errs,
                        long *imported, long *rejected);

/* What flex_history_forget removed. */
struct flex_forget {
    long log;       /* message-log records (history and reply context) */
    long scheduled; /* reminders and texts waiting for their time */
    long inbound;   /* entries of flex:inbound */
    long staff;     /* front-desk, confirmation and escalation entries */
    long dead;      /* dead letters of flex:deadletter (whole raw jobs) */
    long queued;    /* jobs of flex:jobs not read yet or waiting, automatic replies */
    bool opted_out; /* the number is in the opt-out set: kept (the law requires it) */
};

/* A patient's deletion request: removes from Redis what Flex keeps of
 * |who| (a number: everything of that number; a patient id: that
 * patient's records), the opt-out record excepted.  Returns 0 with the
 * counts in |*out|, or -1 (|why|). */
int flex_history_forget(struct flex_store *st, const struct flex_cfg *cfg, const char *who,
                        struct flex_forget *out, char *why, size_t whysz);

#endif
