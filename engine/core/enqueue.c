/* The enqueue path (engine/core/enqueue.h). */
#include "enqueue.h"

#include <stdio.h>
#include <string.h>

#include "mem.h"
#include "store.h"

/* The XADD of an entry of one job: field "job", and its id as text. */
static void append_job(struct flex_store *st, const uint8_t *job, size_t jlen, const char *id)
{
    const char *argv[] = {"XADD", FLEX_KEY_JOBS, "*", "job", (const char *)job, "id", id};
    size_t lens[] = {4, strlen(FLEX_KEY_JOBS), 1, 3, jlen, 2, strlen(id)};
    flex_store_append(st, 7, argv, lens);
}

int flex_enqueue_line(struct flex_store *st, const struct flex_cfg *cfg, const char *line,
                      size_t len, char id[FLEX_JOB_ID_MAX + 1], struct flex_job_error *err)
{
    uint8_t *job;
    size_t jlen;
    int rc = flex_job_from_json(cfg, line, len, &job, &jlen, id, err);
    if (rc != 0)
        return rc;
    append_job(st, job, jlen, id);
    flex_free(job);
    return 0;
}

void flex_enqueue_batch_init(struct flex_enqueue_batch *b, unsigned max)
{
    memset(b, 0, sizeof(*b));
    b->max = max < 1 ? 1 : max > FLEX_JOBBATCH_MAX ? FLEX_JOBBATCH_MAX : max;
}

void flex_enqueue_batch_free(struct flex_enqueue_batch *b)
{
    flex_free(b->buf);
    memset(b, 0, sizeof(*b));
}

/* One job of the batch: field 1 (wire type 2), its length as a varint,
 * its bytes: what protobuf-c's JobBatch packing writes, without holding
 * every decoded job until the batch is full. */
static void batch_put(struct flex_enqueue_batch *b, const uint8_t *job, size_t jlen)
{
    size_t need = b->len + 1 + 10 + jlen;
    if (need > b->cap) {
        b->cap = need * 2;
        b->buf = flex_realloc(b->buf, b->cap);
    }
    b->buf[b->len++] = 0x0a;
    size_t v = jlen;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        b->buf[b->len++] = byte | (v ? 0x80 : 0);
    } while (v);
    if (b->n == 0) {
        b->first_at = b->len;
        b->first_len = jlen;
    }
    memcpy(b->buf + b->len, job, jlen);
    b->len += jlen;
    b->n++;
}

int flex_enqueue_add(struct flex_enqueue_batch *b, struct flex_store *st,
                     const struct flex_cfg *cfg, const char *line, size_t len,
                     char id[FLEX_JOB_ID_MAX + 1], struct flex_job_error *err, int *appended)
{
    *appended = 0;
    if (b->max <= 1) {
        int rc = flex_enqueue_line(st, cfg, line, len, id, err);
        *appended = rc == 0;
        return rc;
    }
    uint8_t *job;
    size_t jlen;
    int rc = flex_job_from_json(cfg, line, len, &job, &jlen, id, err);
    if (rc != 0)
        return rc;
    if (b->n == 0)
        memcpy(b->first_id, id, FLEX_JOB_ID_MAX + 1);
    batch_put(b, job, jlen);
    flex_free(job);
    if (b->n == b->max)
        *appended = flex_enqueue_flush(b, st);
    return 0;
}

int flex_enqueue_flush(struct flex_enqueue_batch *b, struct flex_store *st)
{
    if (b->n == 0)
        return 0;
    if (b->n == 1) { /* an entry of one job, as every reader knows it */
        append_job(st, b->buf + b->first_at, b->first_len, b->first_id);
    } else {
        char n[12];
        snprintf(n, sizeof(n), "%u", b->n);
        const char *argv[] = {"XADD", FLEX_KEY_JOBS, "*", "jobs", (const char *)b->buf, "n", n};
        size_t lens[] = {4, strlen(FLEX_KEY_JOBS), 1, 4, b->len, 1, strlen(n)};
        flex_store_append(st, 7, argv, lens);
    }
    b->n = 0;
    b->len = 0;
    return 1;
}

void flex_enqueue_count(struct flex_store *st, long n)
{
    flex_store_appendf(st, "HINCRBY %s enqueued %ld", FLEX_KEY_STATS, n);
}
