/* smscsim, the SMPP 3.4 SMSC simulator.  Built in the SMPP adapter issue. */
#include "version.h"

int main(int argc, char **argv)
{
    return flex_prog_not_built(
        "smscsim",
        "smscsim [--listen 127.0.0.1:2775] [--system-id flex] [--password flexpass]\n"
        "        [--dlr-delay-ms N] [--throttle-mps N] [--fail-rate P] [--mo-file FILE]\n"
        "        [--log FILE] [--stats FILE]",
        "the SMSC simulator comes with the SMPP adapter", argc, argv);
}
