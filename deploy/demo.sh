#!/bin/sh
# make demo: what this build of Flex can show end to end.  Validates the
# shipped configuration, then renders every standard template for every
# location and shows what each would cost on the wire (coding, parts).
set -eu
B=${1:-build}
echo "== flexd --version"
"$B/flexd" --version
echo
echo "== flexd -c deploy/flexd.conf --check-config"
"$B/flexd" -c deploy/flexd.conf --check-config
echo
echo "== templates as a patient would read them (flexd --preview)"
"$B/flexd" -c deploy/flexd.conf --preview
echo
echo "The dispatch campaign (Redis, smscsim, flexd) joins this demo when the"
echo "pipeline lands; see docs/architecture.md."
