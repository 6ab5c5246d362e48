/* httpsim, the Twilio-style HTTP carrier simulator.  Built in the HTTP
 * adapter issue. */
#include "version.h"

int main(int argc, char **argv)
{
    return flex_prog_not_built(
        "httpsim",
        "httpsim [--listen 127.0.0.1:8085] [--account-sid ACtest] [--auth-token testtoken]\n"
        "        [--callback-delay-ms N] [--throttle-mps N] [--fail-rate P] [--log FILE]\n"
        "        [--stats FILE]",
        "the HTTP carrier simulator comes with the HTTP adapter", argc, argv);
}
