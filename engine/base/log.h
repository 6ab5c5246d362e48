/*
 * Structured logging: one JSON object per line.
 *
 *   {"ts":"2026-11-29T06:16:22.123Z","level":"error","component":"smpp",
 *    "id":"primary#0","msg":"connect() failed","err":"Connection refused"}
 *
 * flex_log() tests the level before evaluating its arguments, so a disabled
 * debug line costs one relaxed load.  PHI rules (HIPAA, minimum necessary):
 * every run of 7 or more digits in a message (a phone number, optionally
 * after '+') is masked to all but its last four digits, "+1202555****", unless
 * the logger was told otherwise; message bodies are never passed to a log
 * call at info level or above (see docs/operations.md).
 */
#ifndef FLEX_LOG_H
#define FLEX_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

enum flex_log_level {
    FLEX_LOG_DEBUG = 0,
    FLEX_LOG_INFO = 1,
    FLEX_LOG_WARN = 2,
    FLEX_LOG_ERROR = 3,
    FLEX_LOG_FATAL = 4,
};

/* Where lines go and what passes.  One per process is usual (the default
 * sink writes to stderr); tests make their own to capture output. */
struct flex_logger {
    _Atomic int level;     /* lines below it are dropped */
    _Atomic bool unmasked; /* true: do not mask digit runs (debugging only) */
    int fd;                /* written with one write(2) per line */
};

/* Who is logging: passed by pointer, borrowed for the call. */
struct flex_log_ctx {
    struct flex_logger *logger; /* NULL: the default stderr logger */
    const char *component;      /* "config", "smpp", ... */
    const char *id;             /* bind id, peer, job id; may be NULL */
    const char *entry;          /* a Redis stream entry id ("ms-seq"), may be NULL:
                                 * written unmasked as "entry" (a time, not PHI),
                                 * masked as any text when it has another form */
};

struct flex_logger *flex_log_default(void);

static inline int flex_log_threshold(const struct flex_log_ctx *ctx)
{
    struct flex_logger *l = (ctx && ctx->logger) ? ctx->logger : flex_log_default();
    /* relaxed: the level is a hint; a line racing a level change may go
     * either way, and nothing else is ordered by it. */
    return atomic_load_explicit(&l->level, memory_order_relaxed);
}

#define flex_log(lvl, ctx, err, ...)                                                               \
    do {                                                                                           \
        if ((int)(lvl) >= flex_log_threshold(ctx))                                                 \
            flex_log_write((lvl), (ctx), (err), __VA_ARGS__);                                      \
    } while (0)

/* Formats and writes one line.  |err| is 0, -errno, or a FLEX_E_* code; when
 * non-zero its text goes into "err".  Use flex_log(), which checks the level
 * first. */
void flex_log_write(enum flex_log_level lvl, const struct flex_log_ctx *ctx, int err,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* "debug", "info", ...; and back.  flex_log_level_parse() returns the level
 * or -1 for an unknown name. */
const char *flex_log_level_name(enum flex_log_level lvl);
int flex_log_level_parse(const char *name);

/* Writes |src| (|len| bytes) to |out| as JSON string content (no quotes),
 * masking digit runs when |mask|.  Always NUL-terminates when |outsz| > 0;
 * returns the length written, truncating at a character boundary. */
size_t flex_log_escape(char *out, size_t outsz, const char *src, size_t len, bool mask);

#endif
