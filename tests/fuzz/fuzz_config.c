/* Config parser: any bytes, plus invariants of an accepted snapshot. */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct flex_cfg *cfg = NULL;
    if (flex_cfg_parse(&cfg, "fuzz.conf", (const char *)data, size, NULL, 0, NULL, NULL) != 0)
        return 0;
    for (uint16_t i = 0; i < cfg->route.def.n; i++)
        if (cfg->route.def.idx[i] >= cfg->ncarriers)
            abort();
    for (size_t i = 0; i < cfg->nlocations; i++)
        if (!cfg->locations[i].phone || !cfg->locations[i].timezone)
            abort();
    for (size_t i = 0; i < cfg->ntemplates; i++)
        if (!cfg->templates[i].tmpl)
            abort();
    flex_cfg_del(cfg);
    return 0;
}
