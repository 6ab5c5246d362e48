/* JSON job lines as flexctl reads them (and the protobuf they become, as
 * flexd reads it back): any bytes, against a fixed config. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "flex.pb-c.h"
#include "job.h"
#include "mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char conf[] =
    "[route]\ndefault = a\n[carrier a]\ntype = smpp\nhost = 127.0.0.1\nsystem_id = s\n"
    "password = p\n[location loc-1]\nname = L\ntimezone = UTC\nphone = +12025550100\n"
    "[template reminder_72h]\nbody = {first_name} {date} {time}\n[template reminder_24h]\n"
    "body = x {first_name} {provider}\n[template reminder_2h]\nbody = x\n"
    "[template recall_due]\nbody = x\n[template recall_overdue]\nbody = x\n"
    "[template optout_confirm]\nbody = x\n[template optin_confirm]\nbody = x\n"
    "[template help]\nbody = x\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct flex_cfg *cfg;
    if (!cfg && flex_cfg_parse(&cfg, "fuzz", conf, sizeof(conf) - 1, NULL, 0, NULL, NULL) != 0)
        abort();
    uint8_t *out;
    size_t outlen;
    char id[FLEX_JOB_ID_MAX + 1];
    struct flex_job_error err;
    if (flex_job_from_json(cfg, (const char *)data, size, &out, &outlen, id, &err) != 0)
        return 0;
    /* What flexctl accepts, flexd must accept too. */
    Flex__V1__Job *job = flex__v1__job__unpack(NULL, outlen, out);
    if (!job)
        abort();
    char phone[17], *orig = job->phone;
    if (flex_job_validate(cfg, job, phone, &err) != 0 || strcmp(job->id, id) != 0)
        abort();
    job->phone = orig;
    flex__v1__job__free_unpacked(job, NULL);
    flex_free(out);
    return 0;
}
