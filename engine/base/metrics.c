#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const uint64_t bounds_ms[FLEX_HIST_BUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 3600000};

unsigned flex_labels_slot(struct flex_labels *t, const char *name)
{
    /* relaxed: only this (the writing) thread stores n. */
    uint32_t n = atomic_load_explicit(&t->n, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(t->names[i], name) == 0)
            return i;
    if (n == FLEX_METRICS_LABELS)
        return n - 1; /* full: the last slot, renamed "other" when it filled */
    snprintf(t->names[n], sizeof(t->names[n]), "%s", n + 1 == FLEX_METRICS_LABELS ? "other" : name);
    /* release: publishes names[n] to readers that acquire-load n. */
    atomic_store_explicit(&t->n, n + 1, memory_order_release);
    return n;
}

void flex_labels_add(struct flex_labels *t, const char *name, unsigned k, uint64_t n)
{
    /* relaxed: a monotonic counter read on its own. */
    atomic_fetch_add_explicit(&t->v[flex_labels_slot(t, name)][k], n, memory_order_relaxed);
}

void flex_labels_set(struct flex_labels *t, const char *name, unsigned k, uint64_t v)
{
    /* relaxed: a gauge read on its own. */
    atomic_store_explicit(&t->v[flex_labels_slot(t, name)][k], v, memory_order_relaxed);
}

void flex_histogram_observe(struct flex_histogram *h, int64_t ms)
{
    uint64_t v = ms < 0 ? 0 : (uint64_t)ms;
    unsigned b = 0;
    while (b < FLEX_HIST_BUCKETS && v > bounds_ms[b])
        b++;
    /* relaxed: counters read on their own; a scrape may see count and a
     * bucket one observation apart, which Prometheus tolerates. */
    atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ms, v, memory_order_relaxed);
}

void flex_metrics_put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    *len += n < 0 ? 0 : (size_t)n;
    if (*len >= cap)
        *len = cap - 1;
}

void flex_labels_render(const struct flex_labels *t, const char *name, const char *help,
                        const char *type, const char *label, const char *value_label,
                        const char *const vnames[FLEX_METRICS_VALUES], char *buf, size_t cap,
                        size_t *len)
{
    flex_metrics_put(buf, cap, len, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    /* acquire: pairs with the release store in flex_labels_slot, so the
     * names below n are complete. */
    uint32_t n = atomic_load_explicit(&t->n, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++)
        for (unsigned k = 0; k < FLEX_METRICS_VALUES; k++) {
            if (!vnames[k])
                continue;
            /* relaxed: see the header. */
            uint64_t v = atomic_load_explicit(&t->v[i][k], memory_order_relaxed);
            if (value_label)
                flex_metrics_put(buf, cap, len, "%s{%s=\"%s\",%s=\"%s\"} %llu\n", name, label,
                                 t->names[i], value_label, vnames[k], (unsigned long long)v);
            else
                flex_metrics_put(buf, cap, len, "%s{%s=\"%s\"} %llu\n", name, label, t->names[i],
                                 (unsigned long long)v);
        }
}

void flex_histogram_render(const struct flex_histogram *h, const char *name, const char *help,
                           char *buf, size_t cap, size_t *len)
{
    flex_metrics_put(buf, cap, len, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (unsigned b = 0; b <= FLEX_HIST_BUCKETS; b++) {
        /* relaxed: see flex_histogram_observe. */
        cum += atomic_load_explicit(&h->bucket[b], memory_order_relaxed);
        if (b < FLEX_HIST_BUCKETS)
            flex_metrics_put(buf, cap, len, "%s_bucket{le=\"%g\"} %llu\n", name,
                             (double)bounds_ms[b] / 1000, (unsigned long long)cum);
        else
            flex_metrics_put(buf, cap, len, "%s_bucket{le=\"+Inf\"} %llu\n", name,
                             (unsigned long long)cum);
    }
    flex_metrics_put(buf, cap, len, "%s_sum %.3f\n%s_count %llu\n", name,
                     (double)atomic_load_explicit(&h->sum_ms, memory_order_relaxed) / 1000, name,
                     (unsigned long long)cum);
}

void flex_metric_render(const char *name, const char *type, const char *help, uint64_t v, char *buf,
                        size_t cap, size_t *len)
{
    flex_metrics_put(buf, cap, len, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type,
                     name, (unsigned long long)v);
}
