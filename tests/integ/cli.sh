#!/bin/sh
# The programs of the contract, run as an operator would: flexd
# --check-config on good and bad files, -D overrides, exit codes, --version,
# and the programs whose issue is still to come.
set -u
B=${BUILD:-build}
tmp=$(mktemp -d /tmp/flex-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
. tests/integ/lib/check.sh

"$B/flexd" -c deploy/flexd.conf --check-config >"$tmp/out" 2>"$tmp/err"
check "shipped config is valid (exit 0)" test $? -eq 0
check "nothing on stderr for a valid file" test ! -s "$tmp/err"

cat >"$tmp/bad.conf" <<'CONF'
[engine]
drain_timeout = soon
[carrier primary]
type = smpp
host = 127.0.0.1
system_id = flex
password = flexpass
[route]
default = primary, missing
[location loc-1]
name = X
timezone = America/Atlantis
phone = 202-555-0100
CONF
"$B/flexd" -c "$tmp/bad.conf" --check-config 2>"$tmp/err"
check "bad config exits 2" test $? -eq 2
check "bad duration at line 2" grep -q "^$tmp/bad.conf:2: .*drain_timeout" "$tmp/err"
check "missing carrier at line 9" grep -q "^$tmp/bad.conf:9: route names carrier 'missing'" "$tmp/err"
check "unknown zone at line 12" grep -q "^$tmp/bad.conf:12: .*unknown time zone" "$tmp/err"
check "missing templates reported" grep -q "missing required section \[template help\]" "$tmp/err"
check "every stderr line is FILE:LINE: message" sh -c "! grep -v '^$tmp/bad.conf:[0-9]*: ' '$tmp/err'"

"$B/flexd" -c deploy/flexd.conf -D carrier.primary.port=0 -D redis.url=nope --check-config 2>"$tmp/err"
check "-D errors exit 2" test $? -eq 2
check "-D error names its position" grep -q '^-D:1: \[carrier primary\] port' "$tmp/err"
check "second -D error" grep -q '^-D:2: \[redis\] url' "$tmp/err"
"$B/flexd" -c deploy/flexd.conf -D carrier.primary.port=2776 -D location.loc-1.paused=true --check-config >/dev/null 2>&1
check "-D valid overrides exit 0" test $? -eq 0

"$B/flexd" -c "$tmp/nonexistent.conf" --check-config 2>"$tmp/err"
check "unreadable file exits 2" test $? -eq 2
check "unreadable file says why" grep -q "No such file" "$tmp/err"

"$B/flexd" --version >"$tmp/out"
check "--version exits 0" test $? -eq 0
check "--version names flexd" grep -q '^flexd [0-9]' "$tmp/out"
"$B/flexd" --help >"$tmp/out"
check "--help exits 0" test $? -eq 0
"$B/flexd" --bogus 2>/dev/null
check "unknown flag exits 2" test $? -eq 2

for lib in liburing libhiredis libprotobuf-c libcurl libssl libcrypto; do
    check "flexd links $lib" sh -c "ldd '$B/flexd' | grep -q '$lib'"
done
if [ -z "${SAN:-}" ]; then
    check "flexd links jemalloc" sh -c "ldd '$B/flexd' | grep -q libjemalloc"
fi

# --check-config helps with the usual mistakes (issue 12).
cc() { "$B/flexd" -c deploy/flexd.conf "$@" --check-config >"$tmp/cc" 2>&1; echo $? >>"$tmp/cc"; }
cc -D location.loc-1.timezone=EST
check "timezone = EST passes with a warning naming America/New_York" \
    sh -c "grep -q 'warning: \[location loc-1\] timezone = EST is a fixed offset without daylight saving.*use America/New_York' '$tmp/cc' && tail -1 '$tmp/cc' | grep -qx 0"
cc -D location.loc-1.timezone=US/Eastern
check "a legacy link (US/Eastern) is warned about too" grep -q "timezone = US/Eastern is a legacy name.*America/New_York" "$tmp/cc"
cc -D location.loc-1.timezone=America/NewYork
check "an unknown zone suggests the near one" grep -q "unknown time zone 'America/NewYork'.*did you mean America/New_York?" "$tmp/cc"
cc -D engine.log_levl=info
check "an unknown key suggests the near one" grep -q "unknown key 'log_levl' in \[engine\] (did you mean log_level?)" "$tmp/cc"
printf '[carier primary]\nport = 1\n' >"$tmp/typo.conf"
"$B/flexd" -c "$tmp/typo.conf" --check-config >"$tmp/cc" 2>&1
check "an unknown section keeps its name and suggests one" grep -q "unknown section \[carier primary\] (did you mean \[carrier\]?)" "$tmp/cc"
cc -D location.loc-l.paused=true
check "-D naming a location the file lacks is an error, with the near name" \
    sh -c "grep -q '\[location loc-l\] is not in deploy/flexd.conf.*missing: name, timezone, phone.*did you mean loc-1?' '$tmp/cc' && tail -1 '$tmp/cc' | grep -qx 2"
cc -D location.loc-9.name=New -D location.loc-9.timezone=America/Chicago -D location.loc-9.phone=+13125550109
check "... but a -D that gives a whole new location is fine" sh -c "tail -1 '$tmp/cc' | grep -qx 0"
cc -D location.loc-2.phone=+12025550100
check "a phone shared by two locations is warned about" \
    grep -q "warning: \[location loc-2\] phone +12025550100 is also \[location loc-1\]'s" "$tmp/cc"

"$B/smscsim" --help >"$tmp/out"
check "smscsim --help exits 0" test $? -eq 0
check "smscsim --help shows usage" grep -q "^usage: smscsim" "$tmp/out"
"$B/smscsim" --fail-rate 2 2>/dev/null
check "smscsim rejects a bad --fail-rate" test $? -eq 2
"$B/smscsim" --listen 127.0.0.1 2>/dev/null
check "smscsim rejects a --listen without port" test $? -eq 1

"$B/flexctl" --help >"$tmp/out"
check "flexctl --help exits 0" test $? -eq 0
check "flexctl --help shows usage" grep -q "^usage: flexctl" "$tmp/out"
"$B/flexctl" -c deploy/flexd.conf 2>/dev/null
check "flexctl without a command exits 2" test $? -eq 2
"$B/flexctl" -c deploy/flexd.conf -D redis.url=redis://127.0.0.1:1/0 stats 2>"$tmp/err"
check "flexctl without Redis exits 1" test $? -eq 1
check "...saying why" grep -q "cannot connect to redis" "$tmp/err"

"$B/flexbench" --help >"$tmp/out" 2>&1
check "flexbench --help shows its usage" grep -q "^usage: flexbench .*--patients N" "$tmp/out"
"$B/flexbench" --patients 0 >/dev/null 2>&1
check "flexbench with a bad option exits 2" test $? -eq 2
"$B/httpsim" --help >"$tmp/out" 2>&1
check "httpsim --help shows usage" grep -q "^usage: httpsim .*--account-sid" "$tmp/out"
"$B/httpsim" --throttle-mps -1 >/dev/null 2>&1
check "httpsim with a bad option exits 2" test $? -eq 2

echo "$fails failed"
[ "$fails" -eq 0 ]
