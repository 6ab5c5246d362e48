/* HTTP/1.x response framing (engine/base/httpresp.h), fed as a client
 * reads it: several responses in a row off one connection.  Each one
 * taken lies within what was read, head and body add up to it, and every
 * proper prefix of a response taken is incomplete (never refused, never
 * taken shorter), so that where a read ends never changes the framing. */
#include <stdint.h>
#include <stdlib.h>

#include "httpresp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    size_t at = 0;
    for (int i = 0; i < 16 && at < size; i++) {
        struct flex_httpresp r, q;
        long n = flex_httpresp_parse(p + at, size - at, false, &r);
        if (n == FLEX_HTTPRESP_MORE)
            n = flex_httpresp_parse(p + at, size - at, true, &r);
        if (n == FLEX_HTTPRESP_MORE || n < FLEX_HTTPRESP_BAD)
            abort(); /* at the end of the bytes, a response is whole or bad */
        if (n == FLEX_HTTPRESP_BAD)
            break;
        if ((size_t)n > size - at || r.head_len + r.body_len != (size_t)n || r.status < 200 ||
            r.status > 599 || r.head_len > FLEX_HTTPRESP_HEAD_MAX)
            abort();
        if (!r.until_close) {
            size_t cuts[3] = {(size_t)n - 1, (size_t)n / 2, r.head_len - 1};
            for (int k = 0; k < 3; k++)
                if (flex_httpresp_parse(p + at, cuts[k], false, &q) != FLEX_HTTPRESP_MORE)
                    abort();
        }
        at += (size_t)n;
    }
    return 0;
}
