/* Text from the wire (a handset's reply): GSM septets, packed GSM, UTF-16BE.
 * Any bytes decode to valid UTF-8 without reading past the input. */
#include <stdint.h>
#include <stdlib.h>

#include "gsm7.h"
#include "utf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char out[4 * 65536 + 1];
    static unsigned char sept[65536];
    if (size < 1 || size > 16384)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    long m;
    switch (data[0] % 3) {
    case 0: m = flex_gsm7_decode(p, n, out, sizeof(out)); break;
    case 1: {
        long s = flex_gsm7_unpack(p, n, n * 8 / 7, sept, sizeof(sept));
        if (s < 0)
            abort();
        m = flex_gsm7_decode(sept, (size_t)s, out, sizeof(out));
        break;
    }
    default: m = flex_utf16be_to_utf8(p, n, out, sizeof(out)); break;
    }
    if (m < 0 || flex_utf8_validate(out, (size_t)m, NULL) != 0)
        abort();
    return 0;
}
