#include "version.h"

#include <stdio.h>
#include <string.h>

int flex_prog_not_built(const char *prog, const char *usage, const char *what, int argc,
                        char **argv)
{
    int help = 0;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            help = 1;
    FILE *out = help ? stdout : stderr;
    fprintf(out, "usage: %s\n\n%s %s: not built yet (%s).\n", usage, prog, FLEX_VERSION, what);
    return help ? 0 : 2;
}
