/* TZif files: never crash; whatever parses gives sane offsets and local
 * times that convert back without overflow. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct flex_tz *tz;
    char why[80];
    if (flex_tz_parse(data, size, &tz, why, sizeof(why)) != 0) {
        if (why[0] == '\0')
            abort();
        return 0;
    }
    static const int64_t probes[] = {INT64_MIN,  -4000000000LL, 0,
                                     1798761600, 4102444800LL,  INT64_MAX};
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        int32_t off = flex_tz_offset(tz, probes[i]);
        if (off < -26 * 3600 || off > 26 * 3600)
            abort();
        struct flex_tm tm;
        flex_tz_local(tz, probes[i] / 4, &tm);
        if (tm.month < 1 || tm.month > 12 || tm.hour < 0 || tm.hour > 23)
            abort();
        (void)flex_tz_to_utc(tz, &tm);
    }
    flex_tz_del(tz);
    return 0;
}
