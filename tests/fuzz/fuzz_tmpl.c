/* Template compiler and renderer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct flex_tmpl *t;
    struct flex_tmpl_error err;
    if (flex_tmpl_compile(&t, (const char *)data, size, &err) != 0) {
        if (err.offset > size)
            abort();
        return 0;
    }
    struct flex_tmpl_vars v = {0};
    for (int i = 0; i < FLEX_TMPL_NVARS; i++) {
        v.v[i] = "value";
        v.len[i] = 5;
    }
    static char out[65536];
    long n = flex_tmpl_render(t, &v, out, sizeof(out), NULL);
    if (n < 0 || (size_t)n != strlen(out))
        abort();
    /* Only the needed placeholders given: the optional sections drop out,
     * the rendering still works and is no longer. */
    unsigned need = flex_tmpl_uses(t);
    for (int i = 0; i < FLEX_TMPL_NVARS; i++)
        if (!(need & (1u << i)))
            v.v[i] = NULL;
    long m = flex_tmpl_render(t, &v, out, sizeof(out), NULL);
    if (m < 0 || m > n || (size_t)m != strlen(out))
        abort();
    flex_tmpl_del(t);
    return 0;
}
