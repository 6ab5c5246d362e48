/* Helpers shared by the pipeline's threads (engine/core/pipeline.h). */
#include "pipeline.h"

#include <string.h>

const char *const flex_suppress_names[FLEX_SUP_N] = {
    [FLEX_SUP_OPTOUT] = "optout",       [FLEX_SUP_SANDBOX] = "sandbox",
    [FLEX_SUP_CANCELLED] = "cancelled", [FLEX_SUP_RESCHEDULED] = "rescheduled",
    [FLEX_SUP_CAP] = "frequency_cap",   [FLEX_SUP_OTHER] = "other",
};

void flex_count_suppressed(struct flex_pipeline *p, const char *reason)
{
    unsigned k = FLEX_SUP_OTHER;
    for (unsigned i = 0; i < FLEX_SUP_OTHER; i++)
        if (strcmp(reason, flex_suppress_names[i]) == 0)
            k = i;
    /* relaxed: a metrics counter, read on its own. */
    atomic_fetch_add_explicit(&p->m.suppressed_by[k], 1, memory_order_relaxed);
}
