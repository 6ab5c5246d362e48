#ifndef FLEX_VERSION_H
#define FLEX_VERSION_H

#define FLEX_VERSION "0.1.0"

/* For a program whose issue has not landed: prints |usage| and a line that
 * it is not built yet; returns 0 for --help, else 2 (the contract's "print
 * usage and exit 2").  |argv| borrowed. */
int flex_prog_not_built(const char *prog, const char *usage, const char *what, int argc,
                        char **argv);

#endif
