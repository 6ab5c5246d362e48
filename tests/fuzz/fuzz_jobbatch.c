/* JobBatch entries as flexd splits them (flex_jobbatch_split): any bytes.
 * Where protobuf-c decodes the same bytes as a JobBatch too, the jobs the
 * splitter finds are the ones protobuf-c finds, each decodable alone. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flex.pb-c.h"
#include "job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct flex_job_slice sl[FLEX_JOBBATCH_MAX];
    long n = flex_jobbatch_split(data, size, sl, FLEX_JOBBATCH_MAX);
    if (n < -1)
        abort();
    for (long k = 0; k < n && k < FLEX_JOBBATCH_MAX; k++) /* every slice inside the input */
        if (sl[k].p < data || sl[k].p + sl[k].len > data + size)
            abort();
    Flex__V1__JobBatch *b = flex__v1__job_batch__unpack(NULL, size, data);
    if (b && n >= 0) {
        /* what both read (protobuf-c is laxer with a tag of field 0, which
         * the splitter refuses), they read alike, job by job */
        if (n != (long)b->n_jobs)
            abort();
        for (size_t k = 0; k < b->n_jobs && k < FLEX_JOBBATCH_MAX; k++) {
            Flex__V1__Job *j = flex__v1__job__unpack(NULL, sl[k].len, sl[k].p);
            if (!j)
                abort();
            const char *a = j->id ? j->id : "", *c = b->jobs[k]->id ? b->jobs[k]->id : "";
            if (strcmp(a, c) != 0)
                abort();
            flex__v1__job__free_unpacked(j, NULL);
        }
    }
    if (b)
        flex__v1__job_batch__free_unpacked(b, NULL);
    return 0;
}
