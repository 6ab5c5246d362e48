/* flexctl, the operator CLI.  Built in the flexd pipeline issue. */
#include "version.h"

int main(int argc, char **argv)
{
    return flex_prog_not_built(
        "flexctl",
        "flexctl -c FILE [-D SECTION.KEY=VALUE]... COMMAND\n"
        "  enqueue [FILE|-]\n"
        "  optout import [FILE|-] | optout add NUMBER | optout remove NUMBER |"
        " optout check NUMBER\n"
        "  stats | status ID | location pause ID | location resume ID | reload\n"
        "  audit verify FILE",
        "the Redis commands come with the dispatch pipeline", argc, argv);
}
