/* The enqueue path (engine/core/enqueue.h). */
#include "enqueue.h"

#include <string.h>

#include "mem.h"
#include "store.h"

int flex_enqueue_line(struct flex_store *st, const struct flex_cfg *cfg, const char *line,
                      size_t len, char id[FLEX_JOB_ID_MAX + 1], struct flex_job_error *err)
{
    uint8_t *job;
    size_t jlen;
    int rc = flex_job_from_json(cfg, line, len, &job, &jlen, id, err);
    if (rc != 0)
        return rc;
    const char *argv[] = {"XADD", FLEX_KEY_JOBS, "*", "job", (const char *)job, "id", id};
    size_t lens[] = {4, strlen(FLEX_KEY_JOBS), 1, 3, jlen, 2, strlen(id)};
    flex_store_append(st, 7, argv, lens);
    flex_free(job);
    return 0;
}

void flex_enqueue_count(struct flex_store *st, long n)
{
    flex_store_appendf(st, "HINCRBY %s enqueued %ld", FLEX_KEY_STATS, n);
}
