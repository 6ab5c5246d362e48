#!/bin/sh
# flexbench end to end, small: it starts its own redis-server, smscsim and
# flexd, proves nothing lost, duplicated or sent to an opted-out number,
# and writes the contract's reports.  Exit 0 pass, 77 skip (no redis-server).
set -u
B=${BUILD:-build}
command -v redis-server >/dev/null || { echo "redis-server missing"; exit 77; }
tmp=$(mktemp -d /tmp/flex-fb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() {
    d=$1
    shift
    if "$@"; then echo "ok   $d"; else echo "FAIL $d"; fails=$((fails + 1)); fi
}
"$B/flexbench" --patients 3000 --locations 7 --optout-ratio 0.05 --out "$tmp/out" >"$tmp/stdout" 2>&1
rc=$?
cat "$tmp/stdout"
check "flexbench exits 0 (nothing lost, duplicated or sent to an opt-out)" test $rc -eq 0
for k in messages throughput_mps accept_ms receipt_ms peak_rss_mb cpu_s_per_100k lost \
    duplicated sent_to_optout; do
    check "report.json has $k" python3 -c "import json,sys; sys.exit(0 if '$k' in json.load(open('$tmp/out/report.json')) else 1)"
done
check "3000 patients, 5% opted out: 2850 messages" \
    python3 -c "import json,sys; r=json.load(open('$tmp/out/report.json')); sys.exit(0 if r['messages']==2850 and r['lost']==0 and r['accept_ms']['p50'] is not None else 1)"
check "7 locations (2 beyond the config's five)" grep -q "over 7 locations" "$tmp/out/report.md"
check "throughput.png is a PNG" sh -c "head -c 8 '$tmp/out/throughput.png' | od -c | grep -q 'P   N   G'"
"$B/flexbench" --patients 2000 --carrier http --out "$tmp/http" >"$tmp/hstdout" 2>&1
rc=$?
cat "$tmp/hstdout"
check "flexbench --carrier http exits 0 (through httpsim, every callback matched)" test $rc -eq 0
check "... 1960 messages, all delivered, and its connections reported" \
    python3 -c "import json,sys; r=json.load(open('$tmp/http/report.json')); sys.exit(0 if r['messages']==1960 and r['lost']==0 and 0 < r['http_connections'] <= 65 else 1)"
check "... the report says carrier http" grep -q "carrier http" "$tmp/http/report.md"
"$B/flexbench" --carrier fax >/dev/null 2>&1
check "bad usage exits 2" test $? -eq 2
echo "$fails failed"
[ "$fails" -eq 0 ]
