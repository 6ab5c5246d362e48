/* HTTP/1.x response framing (engine/base/httpresp.h), fed as a client
 * reads it: several responses in a row off one connection.  Each one
 * taken lies within what was read, head and body add up to it, every
 * proper prefix of a response taken is incomplete (never refused, never
 * taken shorter), so that where a read ends never changes the framing, and
 * parsing it again gives the same answer. */
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
        if (flex_httpresp_parse(p + at, (size_t)n, r.until_close, &q) != n ||
            q.status != r.status || q.close != r.close || q.body_len != r.body_len)
            abort();
        if (!r.until_close) /* every prefix of a short answer; of a long one, a sample */
            for (size_t k = 0; k<(size_t)n; k += (size_t)n> 2048 ? 61 : 1)
                if (flex_httpresp_parse(p + at, k, false, &q) != FLEX_HTTPRESP_MORE)
                    abort();
        at += (size_t)n;
    }
    return 0;
}
