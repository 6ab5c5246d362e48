/* E.164 normalization: never crashes, output is normal and a fixed point. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "e164.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[FLEX_E164_BUFSZ], again[FLEX_E164_BUFSZ];
    struct flex_e164_error err;
    int n = flex_e164_normalize((const char *)data, size, out, &err);
    if (n < 0) {
        if (err.offset > size || err.reason[0] == '\0')
            abort();
        return 0;
    }
    if ((size_t)n != strlen(out) || !flex_e164_is_normal(out, (size_t)n))
        abort();
    if (flex_e164_normalize(out, (size_t)n, again, &err) != n || strcmp(out, again) != 0)
        abort();
    return 0;
}
