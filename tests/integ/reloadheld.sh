#!/bin/sh
# Jobs held in the stream, beyond what flexd keeps in memory, when a reload
# changes what holds them (tests/integ/lib/env.sh gives the servers):
# 1. loc-1 paused in the file, 3,000 of its jobs held (2,048 in memory, the
#    rest left pending), then `paused = false` and SIGHUP: all 3,000 go.
# 2. 3,000 jobs waiting in the dispatcher on loc-1's limit of 1 a second
#    when a reload makes it quiet hours: every one scheduled for their end
#    and its entry acknowledged (none left pending, the stream trimmed).
NAME=reloadheld
conf=$(mktemp /tmp/flex-reloadheld-conf.XXXXXX)
sed '/^\[location loc-1\]/,/^$/s/^paused = false/paused = true/' deploy/flexd.conf >"$conf"
CONF=$conf
. tests/integ/lib/env.sh
trap 'cleanup; rm -f "$conf"' EXIT

jobs() { # jobs PREFIX: 3,000 loc-1 jobs
    python3 - "$1" <<'PY'
import json, sys
for i in range(3000):
    print(json.dumps({"type": "message", "id": "%s-%d" % (sys.argv[1], i), "location": "loc-1",
                      "patient": "p-%d" % i, "phone": "+1202555%04d" % i,
                      "body": "Reminder: cleaning tomorrow at 9:30."}))
PY
}
held() { curl -s "http://127.0.0.1:$HP/metrics" | sed -n 's/^flex_jobs_held //p'; }
pending() { redis-cli -p "$RP" XPENDING flex:jobs flexd | head -1; }

start_flexd
check "flexd up" wait_for "curl -sf http://127.0.0.1:$HP/readyz >/dev/null" 20
jobs rh | ctl enqueue - >/dev/null
check "3,000 jobs of loc-1 (paused in the file) held" wait_for '[ "$(held)" = 3000 ]' 20
check "... none sent" test "$(stat sent)" = 0
sed -i '/^\[location loc-1\]/,/^$/s/^paused = true/paused = false/' "$conf"
kill -HUP "$FPID"
check "paused = false and SIGHUP: all 3,000 sent" wait_for '[ "$(stat sent)" = 3000 ]' 60
check "... none held, none pending" wait_for '[ "$(held)" = 0 ] && [ "$(pending)" = 0 ]' 20
kill -TERM "$FPID"
wait "$FPID"

# 2. Quiet hours begin (by a reload) while 3,000 jobs wait on a rate limit.
now_ny() { python3 -c "
import datetime, zoneinfo, sys
n = datetime.datetime.now(zoneinfo.ZoneInfo('America/New_York'))
print((n + datetime.timedelta(hours=int(sys.argv[1]))).strftime('%H:%M'))" "$1"; }
sed -i "s/^start = 21:00/start = $(now_ny 4)/; s/^end = 08:00/end = $(now_ny 5)/" "$conf"
D="$D -D quiet_hours.enabled=true -D location.loc-1.mps=1"
start_flexd
check "flexd up again, loc-1 at 1 a second" wait_for "curl -sf http://127.0.0.1:$HP/readyz >/dev/null" 20
jobs qh | ctl enqueue - >/dev/null
check "... its jobs read and waiting" wait_for '[ "$(curl -s http://127.0.0.1:'"$HP"'/metrics | sed -n "s/^flex_jobs_in_flight //p")" -ge 2900 ]' 20
sed -i "s/^start = .*/start = $(now_ny -1)/; s/^end = .*/end = $(now_ny 3)/" "$conf"
kill -HUP "$FPID"
check "quiet hours by a reload: the waiting jobs scheduled" \
    wait_for '[ $(( $(redis-cli -p '"$RP"' ZCARD flex:sched) + $(stat sent) )) -ge 3000 ]' 30
check "... every entry acknowledged (none pending)" wait_for '[ "$(pending)" = 0 ]' 20
[ "$fails" -eq 0 ]
