/* flexbench, the load driver.  Built once flexd and both simulators exist. */
#include "version.h"

int main(int argc, char **argv)
{
    return flex_prog_not_built(
        "flexbench",
        "flexbench [--patients N] [--locations L] [--optout-ratio R] [--rate MPS | --burst]\n"
        "          [--carrier smpp|http] [--out DIR] [--redis URL]",
        "the load driver comes after the pipeline and both simulators", argc, argv);
}
