#!/bin/sh
# What an operator relies on (issue 12): `[location] paused = true` in the
# file holds that location's jobs at start and by reload, and releasing it
# sends them; a reload logs each change (a secret only as changed, a
# restart-only key as kept); metrics that exist from the start at 0, held
# jobs per location, suppressions by reason, parts by coding, the oldest
# queued job's age, carrier_up, a disabled carrier's gauges at 0, stale
# queue gauges (NaN) and a Redis error counted per try while Redis is
# away; the recovery lines in the log.  Exit 0 pass, 77 skip.
NAME=operator
conf=$(mktemp /tmp/flex-operator-conf.XXXXXX)
sed '/^\[location loc-2\]/,/^paused/s/^paused = false/paused = true/' deploy/flexd.conf >"$conf"
CONF=$conf
. tests/integ/lib/env.sh
trap 'cleanup; rm -f "$conf"' EXIT
. tests/integ/lib/jobs.sh
metrics() { curl -sf "http://127.0.0.1:$HP/metrics"; }
metric() { # NAME_WITH_LABELS: its value ("" when absent)
    metrics | awk -v k="$1" '$1 == k { print $2 }'
}
log=$tmp/flexd.log

ctl optout add +12025550007 >/dev/null # job t-7 (loc-3) goes to an opted-out number
start_flexd
check "flexd up with loc-2 paused in the file" wait_for 'curl -sf http://127.0.0.1:$HP/readyz >/dev/null' 10
check "series exist from the start at 0: held per location" test "$(metric 'flex_location_held{location="loc-5"}')" = 0
check "... suppressions by reason" test "$(metric 'flex_suppressed_total{reason="optout"}')" = 0
check "... parts by coding" test "$(metric 'flex_parts_sent_total{encoding="ucs2"}')" = 0
check "... a location's outcomes" test "$(metric 'flex_location_messages_total{location="loc-4",status="accepted"}')" = 0
check "flex_carrier_up{primary} 1 once bound" wait_for '[ "$(metric "flex_carrier_up{carrier=\"primary\"}")" = 1 ]' 10
check "the bind is logged with host, port and system_id" \
    grep -q "session 0 bound to 127.0.0.1:$SP as flex" "$log"

message_jobs t 0 50 >"$tmp/a.jsonl" # 10 per location, loc-1..loc-5
python3 - >>"$tmp/a.jsonl" <<'PY'
import json
print(json.dumps({"type": "message", "id": "t-zoe", "location": "loc-1", "patient": "p-zoe",
                  "phone": "+12025550999", "body": "Hi Zoë, your cleaning is tomorrow at 9:30."}))
PY
ctl enqueue "$tmp/a.jsonl" >/dev/null
check "40 of 51 go (one opted out); loc-2's 10 are held (paused = true in the file)" \
    wait_for '[ "$(stat delivered)" = 40 ] && [ "$(metric flex_jobs_held)" = 10 ]' 20
check "flex_location_held{loc-2} 10" test "$(metric 'flex_location_held{location="loc-2"}')" = 10
check "the opted-out one is counted by reason" test "$(metric 'flex_suppressed_total{reason="optout"}')" = 1
check "the text with an ë went as UCS-2, the others as GSM-7" \
    sh -c "[ \"$(metric 'flex_parts_sent_total{encoding="ucs2"}')\" = 1 ] &&
           [ \"$(metric 'flex_parts_sent_total{encoding="gsm7"}')\" -ge 39 ]"
check "flex_queue_oldest_age_seconds counts the held (pending) jobs' age" \
    wait_for 'awk "BEGIN { exit !($(metric flex_queue_oldest_age_seconds) >= 1) }"' 5

# Reload: loc-2 released, a secret changed, a location added,
# a restart-only key changed.
sed -i -e '/^\[location loc-2\]/,/^paused/s/^paused = true/paused = false/' \
    -e 's/^auth_token = .*/auth_token = Rotated-T0ken-9/' \
    -e '0,/^\[engine\]/s//[engine]\nconsumer = renamed-by-reload/' "$conf"
cat >>"$conf" <<'CONF'

[location loc-6]
name = Harbor Dental
timezone = America/New_York
phone = +12025550106
CONF
kill -HUP "$FPID"
check "paused = false by reload: the held 10 go" wait_for '[ "$(stat delivered)" = 50 ]' 20
check "... flex_location_held{loc-2} back to 0" test "$(metric 'flex_location_held{location="loc-2"}')" = 0
check "reload logs the pause change" grep -q 'reload: \[location loc-2\] paused: true -> false' "$log"
check "... the location added" grep -q 'reload: \[location loc-6\] added' "$log"
check "... the auth token as changed, without its value" \
    sh -c "grep -q 'reload: \[carrier backup\] auth_token changed\"' '$log' && ! grep -q Rotated-T0ken '$log'"
check "... the restart-only key as kept, at warn" \
    grep -q '"level":"warn".*reload: \[engine\] consumer: (empty) -> renamed-by-reload needs a restart' "$log"
check "... and a count" grep -q 'configuration reloaded from .*: 4 changes' "$log"
check "the restart-only consumer name still runs (no consumer renamed-by-reload)" \
    sh -c "! redis-cli -p $RP xinfo consumers flex:jobs flexd | grep -q renamed-by-reload"

# Pause by file again, while jobs wait: held, then sent after the reload.
sed -i '/^\[location loc-3\]/,/^paused/s/^paused = false/paused = true/' "$conf"
kill -HUP "$FPID"
wait_for 'grep -q "reload: \[location loc-3\] paused: false -> true" "$log"' 5
message_jobs u 100 10 >"$tmp/b.jsonl" # 2 for loc-3
ctl enqueue "$tmp/b.jsonl" >/dev/null
check "paused = true by reload: loc-3's 2 new jobs held, the other 8 go" \
    wait_for '[ "$(stat delivered)" = 58 ] && [ "$(metric "flex_location_held{location=\"loc-3\"}")" = 2 ]' 20
sed -i '/^\[location loc-3\]/,/^paused/s/^paused = true/paused = false/' "$conf"
kill -HUP "$FPID"
check "... and released by the next" wait_for '[ "$(stat delivered)" = 60 ]' 20

# A carrier disabled by reload: its gauges drop to 0.
sed -i '/^\[carrier primary\]/,/^\[/s/^enabled = .*/enabled = false/' "$conf"
kill -HUP "$FPID"
check "a carrier disabled by reload reads 0 (up and sessions)" \
    wait_for '[ "$(metric "flex_carrier_up{carrier=\"primary\"}")" = 0 ] && [ "$(metric "flex_carrier_sessions{carrier=\"primary\"}")" = 0 ]' 10

# Redis away for 8 s: queue gauges stale, every failed try counted, recovery logged.
e0=$(metric flex_redis_errors_total)
redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1
sleep 8
check "queue gauges read NaN while Redis is away" test "$(metric flex_queue_oldest_age_seconds)" = NaN
e1=$(metric flex_redis_errors_total)
check "flex_redis_errors_total counts every failed try ($e0 -> $e1 in 8 s)" test $((e1 - e0)) -ge 5
start_redis
check "redis back, logged" wait_for 'grep -q "redis back (" "$log"' 10
check "queue gauges fresh again" wait_for '[ "$(metric flex_queue_oldest_age_seconds)" != NaN ]' 10
echo "$fails failed"
[ "$fails" -eq 0 ]
