/*
 * Labelled counters and latency histograms for /metrics.
 *
 * Each table has one writer thread and any number of readers (the HTTP
 * thread).  A label's name is written once, into the next free slot, and
 * then published by a release store of the slot count; readers
 * acquire-load the count and read only the names below it, which never
 * change again.  Values are relaxed atomics: monotonic counters or gauges,
 * each read on its own.
 *
 *   writer: names[n] = "loc-1"  --store_release(n + 1)-->  reader: load_acquire(n)
 */
#ifndef FLEX_METRICS_H
#define FLEX_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define FLEX_METRICS_LABELS 64 /* per table; more labels share the last slot "other" */
#define FLEX_METRICS_VALUES 8

struct flex_labels {
    char names[FLEX_METRICS_LABELS][65];
    _Atomic uint32_t n;
    _Atomic uint64_t v[FLEX_METRICS_LABELS][FLEX_METRICS_VALUES];
};

/* Adds |n| (> 0; else nothing) to the counter |c|.  Any thread. */
static inline void flex_metric_add(_Atomic uint64_t *c, long n)
{
    /* relaxed: a monotonic counter for /metrics, read on its own. */
    if (n > 0)
        atomic_fetch_add_explicit(c, (uint64_t)n, memory_order_relaxed);
}

/* Writer only: the slot of |name|, added when new. */
unsigned flex_labels_slot(struct flex_labels *t, const char *name);
/* Writer only: adds |n| to value |k| of |name| (or sets it: _set). */
void flex_labels_add(struct flex_labels *t, const char *name, unsigned k, uint64_t n);
void flex_labels_set(struct flex_labels *t, const char *name, unsigned k, uint64_t v);

/* Latency in ms, buckets 5 ms .. 1 h (Prometheus le= bounds). */
#define FLEX_HIST_BUCKETS 15
struct flex_histogram {
    _Atomic uint64_t bucket[FLEX_HIST_BUCKETS + 1]; /* last: +Inf */
    _Atomic uint64_t count, sum_ms;
};
void flex_histogram_observe(struct flex_histogram *h, int64_t ms);

/* Appends printf-style text to |buf| (|cap| bytes, |*len| used); a text
 * that does not fit is cut, |*len| never past |cap| - 1 (NUL-terminated). */
void flex_metrics_put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* One metric without labels: its HELP, TYPE ("counter", "gauge") and value. */
void flex_metric_render(const char *name, const char *type, const char *help, uint64_t v, char *buf,
                        size_t cap, size_t *len);

/* Appends Prometheus text for |t| to |buf| (|cap| bytes at |*len|):
 * "NAME{LABEL="x",VALUE_LABEL="y"} v" for each value k whose |vnames[k]|
 * is not NULL. */
void flex_labels_render(const struct flex_labels *t, const char *name, const char *help,
                        const char *type, const char *label, const char *value_label,
                        const char *const vnames[FLEX_METRICS_VALUES], char *buf, size_t cap,
                        size_t *len);
void flex_histogram_render(const struct flex_histogram *h, const char *name, const char *help,
                           char *buf, size_t cap, size_t *len);

#endif
