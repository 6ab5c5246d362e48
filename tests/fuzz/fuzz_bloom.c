/* Loading a serialized opt-out filter (read back from disk or Redis). */
#include <stdint.h>
#include <stdlib.h>

#include "bloom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct flex_hash_key key = {1, 2};
    struct flex_bloom *b;
    if (flex_bloom_load(&b, data, size, &key) != 0)
        return 0;
    (void)flex_bloom_maybe(b, "+12025550143", 12);
    flex_bloom_add(b, "+12025550143", 12);
    if (!flex_bloom_maybe(b, "+12025550143", 12))
        abort();
    flex_bloom_del(b);
    return 0;
}
