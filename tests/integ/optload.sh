#!/bin/sh
# The opt-out filter flexd builds at start (tests/integ/lib/env.sh gives the
# servers): 200,000 numbers in the opt-out set only (opt-outs older than the
# log keeps), read through a proxy that (1) drops flexd's connection mid-scan
# (a Redis failover while flexd starts), then (2) holds its next scan after
# a few pages while 50 numbers are opted out with flexctl (SSCAN need not
# return them; their log entries come before the scan ends).
# Every one of those numbers, and 100 of the older ones spread over the set,
# must be refused: none may reach the simulator.
NAME=optload
. tests/integ/lib/env.sh

areas="201 202 203 205 206 207 208 209 210 212 213 214 215 216 217 218 219 224 225 228"
python3 - $areas <<'PY' | redis-cli -p "$RP" --pipe >/dev/null
import sys
out = sys.stdout.buffer
def cmd(*a):
    b = b"*%d\r\n" % len(a)
    for x in a:
        x = x.encode()
        b += b"$%d\r\n%s\r\n" % (len(x), x)
    return b
for area in sys.argv[1:]:
    for c in range(10):
        out.write(cmd("SADD", "flex:optout", *["+1%s555%04d" % (area, c * 1000 + x) for x in range(1000)]))
PY
check "200,000 older opt-outs in the set, none in the log" \
    test "$(redis-cli -p "$RP" SCARD flex:optout)" = 200000

# The proxy: the first connection that scans the set is closed at its 5th
# SSCAN; the second (flexd again) is held at its 5th until $tmp/go exists.
proxy_start drop 5 hold 5

"$B/flexd" $D -D "redis.url=redis://127.0.0.1:$PP/0" >/dev/null 2>>"$tmp/flexd.log" &
pids="$pids $!"
check "flexd's scan of the set dropped mid-way" wait_for "test -e '$tmp/dropped'" 20
check "... said, and nothing read until the set is whole" \
    wait_for "grep -q 'cannot read the opt-out set' '$tmp/flexd.log'" 10
check "... its scan again held by the proxy" wait_for "test -e '$tmp/held'" 20
i=0
while [ $i -lt 50 ]; do
    ctl optout add "+1303555$(printf '%04d' $((100 + i)))" >/dev/null
    i=$((i + 1))
done
touch "$tmp/go"
check "flexd up again: the carrier bound" \
    wait_for "curl -sf http://127.0.0.1:$HP/readyz >/dev/null" 30

python3 - $areas >"$tmp/jobs.jsonl" <<'PY'
import json, random, sys
random.seed(11)
areas = sys.argv[1:]
phones = ["+1303555%04d" % (100 + i) for i in range(50)]
phones += ["+1%s555%04d" % (random.choice(areas), random.randrange(10000)) for _ in range(100)]
for i, p in enumerate(phones):
    print(json.dumps({"type": "message", "id": "ol-%d" % i, "location": "loc-1",
                      "patient": "p-%d" % i, "phone": p, "body": "Cleaning tomorrow at 9:30."}))
PY
ctl enqueue "$tmp/jobs.jsonl" >/dev/null
check "all 150 jobs settled" wait_for '[ $(stat suppressed_optout) -ge 150 ] || [ $(stat sent) -gt 0 ]' 30
check "... every one refused as opted out" test "$(stat suppressed_optout)" = 150
check "... none sent" test "$(stat sent)" = 0
check "... the simulator's log empty" test ! -s "$tmp/sim.log"
[ "$fails" -eq 0 ]
