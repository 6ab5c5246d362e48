/*
 * Tamper-evident, append-only audit log (HIPAA: who was texted what kind of
 * message, when, and what the patient answered; never a message body).
 *
 * One JSON object per line, chained by an HMAC-SHA256 under a secret key:
 *
 *   {"seq":7,"t":"2026-11-30T08:55:22.123Z","ev":"send","job":"m-1",...,"h":"<64 hex>"}
 *
 * h = HMAC-SHA256(key, prev_h || the line without its ',"h":"..."' member),
 * prev_h being the 64 hex digits of the previous line's h.  seq grows by one
 * per line across files.  A file starts with a chain header,
 *
 *   {"seq":N,"t":...,"ev":"chain","prev_file":"audit.log.2026-11-29","prev_h":"...","h":...}
 *
 * naming the file before it and that file's last h ("" and 64 zeros for the
 * first file of a chain).  At the first line of a new UTC day (the day of
 * the line's |at_ms|, so tests drive it) PATH is renamed PATH.YYYY-MM-DD (the
 * day it covers) and a new PATH starts.
 *
 * Several processes may append to one PATH: each append takes flock(LOCK_EX)
 * on the file, catches up with lines (and rotations) written by the others,
 * and writes its lines with one write(2) on an O_APPEND descriptor, so lines
 * never interleave and the chain stays linear.
 *
 * Within a process: any number of threads call flex_audit_add() (formats into
 * a pending buffer under a mutex; no hashing, no I/O), and the lines reach
 * the file on flex_audit_flush() (a writer thread per batch), on a background
 * thread of the handle every second, and on flex_audit_close().  The file is
 * fdatasync()ed at most once a second and at close.
 *
 * A NULL handle (audit disabled) is valid for every call: a no-op returning 0.
 */
#ifndef FLEX_AUDIT_H
#define FLEX_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Longest line, all members included; flex_audit_add() refuses longer. */
#define FLEX_AUDIT_LINE_MAX 8192
/* Pending bytes per handle before flex_audit_add() flushes synchronously. */
#define FLEX_AUDIT_PENDING_MAX (4u << 20)

struct flex_audit;

/* Opens (creates, mode 0640) the log at |path| (borrowed, copied) with the
 * HMAC key |key| (|keylen| bytes, borrowed, copied into OpenSSL's context),
 * and starts the handle's background flush thread.  |path| NULL or "": audit
 * disabled, *|out| = NULL, returns 0.  Returns 0, -errno (open(2) failed),
 * or FLEX_E_INVAL (empty key, OpenSSL without HMAC-SHA256), with a message
 * in |err| (|errsz| bytes, may be 0) that never contains the key. */
int flex_audit_open(struct flex_audit **out, const char *path, const void *key, size_t keylen,
                    char *err, size_t errsz);

/* Appends one event |ev| (1-32 of [a-z0-9_]: "send", "status", "optout",
 * "optin", "inbound", "pause", "resume", "reload", ...) that happened at
 * |at_ms| (ms since the epoch, UTC; it also picks the file's day), with
 * |fields|: |flen| bytes (borrowed) of JSON object members without braces,
 * built with the flex_audit_field_*() helpers, e.g. "\"job\":\"m-1\"".
 * Member names seq, t, ev, h, prev_file and prev_h are reserved.
 * Thread-safe.  Returns 0; FLEX_E_INVAL (bad |ev|, negative |at_ms| or one
 * past year 9999, a newline in |fields|); FLEX_E_TOOLONG (line over
 * FLEX_AUDIT_LINE_MAX); or, when the pending buffer is full and the
 * synchronous flush fails, that flush's error (the event is then NOT
 * recorded: the caller logs it). */
int flex_audit_add(struct flex_audit *a, int64_t at_ms, const char *ev, const char *fields,
                   size_t flen);

/* Fragment builders: append ["," if |pos| > 0] "|name|":value at |pos| of
 * |buf| (|bufsz| bytes) and NUL-terminate.  Like snprintf they return the
 * position after the member whether or not it fit: a result >= |bufsz|
 * means it did not fit, nothing of it was written (the buffer still ends,
 * NUL-terminated, at |pos| when |pos| < |bufsz|) and the fragment must not
 * be used.  Strings are JSON-escaped; invalid UTF-8 becomes U+FFFD. */
size_t flex_audit_field_str(char *buf, size_t bufsz, size_t pos, const char *name,
                            const char *value); /* |value| NULL: null */
size_t flex_audit_field_int(char *buf, size_t bufsz, size_t pos, const char *name, long long value);
/* A phone number, masked as in the logs (flex_log_escape(): the last four
 * digits of a run of 7 or more become '*', "+1202555****").  Only '+' and
 * digits of |phone| are kept (so "+1 202-555-0143" is masked too), at most
 * 32 of them. */
size_t flex_audit_field_phone(char *buf, size_t bufsz, size_t pos, const char *name,
                              const char *phone);

/* Writes the pending lines (see the file comment).  Thread-safe; one flush
 * runs at a time.  Returns 0, -errno (open, flock, write, rename...), or
 * FLEX_E_CORRUPT (the file's last line is not an audit line, so the chain
 * cannot go on: the operator must move the file aside).  On error the lines
 * not written stay pending, in order, and are retried by the next flush. */
int flex_audit_flush(struct flex_audit *a);

/* Stops the background thread, flushes, fdatasync()s, closes and frees.
 * Lines that still cannot be written are lost and logged (flex_log).  No
 * other call on |a| may run during or after it. */
void flex_audit_close(struct flex_audit *a);

/* Verifies the chain of the |n| files |paths| (oldest first) under |key|
 * (|keylen| bytes).  Writes to |out| one line: "intact: N lines in M files,
 * first seq S at T, last seq L at T; ..." or the first problem, as
 * "FILE:LINE: hmac mismatch", "...: sequence gap: expected S, found S2",
 * "...: missing file X before Y", "...: not JSON", "...: truncated line", ...
 * The first file may continue a chain from a file not listed (the summary
 * says so); every later file must continue the one before it.  Returns 0
 * intact, 1 broken, FLEX_E_INVAL (|n| 0, empty key), -errno when a file
 * cannot be read (also written to |out| as "FILE: reason"). */
int flex_audit_verify(const char *const *paths, size_t n, const void *key, size_t keylen,
                      FILE *out);

/* The default list for flex_audit_verify(): |path|'s rotated files
 * (PATH.YYYY-MM-DD, oldest first), then |path| itself (listed even when it
 * does not exist).  Returns 0 with *|out| (free with flex_audit_paths_free)
 * and *|n|, or -errno when |path|'s directory cannot be read. */
int flex_audit_paths(const char *path, char ***out, size_t *n);
void flex_audit_paths_free(char **paths, size_t n);

#endif
