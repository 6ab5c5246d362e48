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
# reload: SIGHUP, then wait until flexd says the new configuration is in
# force (its "reload: ..." lines come before it is published).
reload() {
    before=$(grep -c "configuration reloaded from" "$log")
    kill -HUP "$FPID"
    wait_for '[ "$(grep -c "configuration reloaded from" "$log")" -gt "$before" ]' 10
}

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
check "status of a held job: held, with its entry, location and times in RFC 3339" \
    sh -c "ctl() { \"$B/flexctl\" $D \"\$@\"; }; ctl status t-1 | grep -q '^{\"id\":\"t-1\",\"entry\":\"[0-9-]*\",\"read_at\":\"20[0-9-]*T[0-9:.]*Z\",\"read_at_ms\":[0-9]*,\"location\":\"loc-2\",\"state\":\"held\"'"
check "status of a delivered and an opted-out job: one line each, with the id" \
    sh -c "ctl() { \"$B/flexctl\" $D \"\$@\"; }; ctl status t-0 t-7 | grep -c '^{\"id\":\"t-[07]\",\"state\":\"\(delivered\|suppressed\)\"' | grep -qx 2"
# A job flexd refuses (a location only flexctl was told of) is dead-lettered:
# logged and answered by status with its reason.
echo '{"type":"message","id":"x-1","location":"loc-9","patient":"p","phone":"+12025550123","body":"hi"}' |
    "$B/flexctl" $D -D location.loc-9.name=Nine -D location.loc-9.timezone=America/Chicago \
        -D location.loc-9.phone=+13125550199 enqueue - >/dev/null
check "status of a dead-lettered job: dead_letter with its reason" \
    wait_for 'ctl status x-1 2>/dev/null | grep -q "\"state\":\"dead_letter\",\"reason\":\"[a-z]"' 10
check "... and a log line for it, without PHI" grep -q '"msg":"job x-1 dead-lettered: ' "$log"
xent=$(ctl deadletter list | grep '"job_id":"x-1"' | sed -n 's/.*"source":"flex:jobs \([0-9-]*\)".*/\1/p')
check "... whose job entry is the one deadletter list shows as its source, unmasked" \
    grep -q "\"entry\":\"$xent\",\"msg\":\"job x-1 dead-lettered" "$log"
starts=$(python3 -c 'import datetime as d; print((d.datetime.now(d.timezone.utc)+d.timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ"))')
echo '{"type":"appointment","id":"ap-1","location":"loc-1","patient":"p-a","phone":"+12025550177","first_name":"Ana","provider":"Dr. Lee","starts_at":"'"$starts"'","status":"scheduled"}' |
    ctl enqueue - >/dev/null
check "status of an appointment: scheduled, with the send time of its first text" \
    wait_for 'ctl status ap-1 | grep -q "\"state\":\"scheduled\",.*\"send_at\":\"20[0-9-]*T[0-9:.]*Z\",\"send_at_ms\":[1-9]"' 10
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

# A job written straight to the stream with a 2 KB id and a 9 KB body and
# no location: dead-lettered with its id and payload cut, flexd unharmed.
python3 - "$RP" <<'PY'
import socket, sys
def field(num, data):
    n, out = len(data), bytearray([num << 3 | 2])
    while n >= 0x80:
        out.append(n & 0x7f | 0x80); n >>= 7
    out.append(n)
    return bytes(out) + data
job = b"\x08\x01" + field(2, b"big-" + b"i" * 2044) + field(8, b"b" * 9000)
args = [b"XADD", b"flex:jobs", b"*", b"job", job]
cmd = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(cmd)
s.recv(100)
PY
check "a 2 KB id with a 9 KB body: dead-lettered, flexd still up" \
    wait_for 'ctl deadletter list | grep -q "\"job_id\":\"big-iii" && curl -sf http://127.0.0.1:$HP/healthz >/dev/null' 10
check "... its id cut to 96 bytes" sh -c "\"$B/flexctl\" $D deadletter list | grep -q '\"job_id\":\"big-i\{92\}\"'"
printf '{"type":"message","id":"lp-1","location":"loc-1","patient":"%s","phone":"+12025550170","body":"hi"}\n' \
    "$(python3 -c 'print("p" * 65)')" | ctl enqueue - >"$tmp/lp.out" 2>&1
check "a patient id over 64 bytes is refused, not cut" grep -q "patient id longer than 64 bytes" "$tmp/lp.out"
# Two jobs glued on one line (a producer that lost a line break), or a job
# followed by anything: the line is refused, not read as its first job.
printf '%s%s\n%s junk\n' \
    '{"type":"message","id":"gl-1","location":"loc-1","patient":"p-g1","phone":"+12025550171","body":"a"}' \
    '{"type":"message","id":"gl-2","location":"loc-1","patient":"p-g2","phone":"+12025550172","body":"b"}' \
    '{"type":"message","id":"gl-3","location":"loc-1","patient":"p-g3","phone":"+12025550173","body":"c"}' |
    ctl enqueue - >"$tmp/gl.out" 2>&1
check "two jobs on one line, or a job and junk: both lines refused, neither queued" \
    sh -c "grep -qx 'enqueued 0, rejected 2' '$tmp/gl.out' && grep -q '^1: not a JSON object' '$tmp/gl.out' &&
           grep -q '^2: not a JSON object' '$tmp/gl.out' && ! redis-cli -p $RP XRANGE flex:jobs - + | grep -aq 'gl-'"
# Every string of a job bounded, whatever its type uses: a first_name of
# 3,000 bytes on a message (stored whole before) and on an appointment
# (dead-lettered as "cannot render template" before).
long=$(printf 'A%.0s' $(seq 1 3000))
printf '%s\n%s\n' \
    '{"type":"message","id":"ln-1","location":"loc-1","patient":"p","phone":"+12025550174","body":"a","first_name":"'"$long"'"}' \
    '{"type":"appointment","id":"ln-2","location":"loc-1","patient":"p","phone":"+12025550175","first_name":"'"$long"'","starts_at":"2030-01-01T10:00:00Z"}' |
    ctl enqueue - >"$tmp/ln.out" 2>&1
check "a 3,000-byte first_name: refused with its reason, on a message and an appointment" \
    sh -c "grep -qx 'enqueued 0, rejected 2' '$tmp/ln.out' &&
           [ \$(grep -c ': first_name longer than 200 bytes' '$tmp/ln.out') = 2 ]"

# Dead letters: listed with their reason and the job without its body;
# replayed once the cause (a location flexd did not know) is fixed.
ctl deadletter list >"$tmp/dl.out"
check "deadletter list: x-1 with its reason, location and no body" \
    sh -c "grep -q '\"job_id\":\"x-1\",\"reason\":\"[a-z]' '$tmp/dl.out' &&
           grep -q '\"job\":{\"type\":\"message\",\"id\":\"x-1\",\"location\":\"loc-9\"' '$tmp/dl.out' &&
           grep -q '\"body_length\":2' '$tmp/dl.out' && ! grep -q '\"hi\"' '$tmp/dl.out'"
check "deadletter list --since 1h has it, --since a future time not" \
    sh -c "\"$B/flexctl\" $D deadletter list --since 1h | grep -q x-1 &&
           ! \"$B/flexctl\" $D deadletter list --since 2099-01-01T00:00:00Z | grep -q x-1"
cat >>"$conf" <<'CONF'

[location loc-9]
name = Nine
timezone = America/Chicago
phone = +13125550199
CONF
reload
d0=$(stat delivered)
ctl deadletter replay x-1 >"$tmp/replay.out"
check "deadletter replay x-1: replayed, and delivered this time" \
    sh -c "grep -q 'job x-1 replayed' '$tmp/replay.out'"
check "... sent" wait_for '[ "$(stat delivered)" = $((d0 + 1)) ] && ctl status x-1 | grep -q "\"state\":\"delivered\""' 10
check "... and gone from the dead letters" sh -c "! \"$B/flexctl\" $D deadletter list | grep -q x-1"
# replay --all while the cause stands (a location flexd does not know):
# each dead letter replayed once, though flexd dead-letters them again
# behind, during the command (it stops at the newest one it began with).
for i in $(seq 1 600); do
    echo '{"type":"message","id":"dl8-'$i'","location":"loc-8","patient":"p","phone":"+12025550123","body":"hi"}'
done | "$B/flexctl" $D -D location.loc-8.name=Eight -D location.loc-8.timezone=America/Chicago \
    -D location.loc-8.phone=+13125550188 enqueue - >/dev/null
check "600 jobs for a location flexd does not know: dead-lettered" \
    wait_for '[ "$(ctl deadletter list | grep -c "\"dl8-")" = 600 ]' 20
check "deadletter replay --all: 600 replayed, not one more (each refused again behind it)" \
    test "$(ctl deadletter replay --all | tail -1)" = "600 replayed"
check "... and refused again: 600 dead letters, each once" \
    wait_for '[ "$(ctl deadletter list | grep -c "\"dl8-")" = 600 ]' 20

# Pause by file again, while jobs wait: held, then sent after the reload.
sed -i '/^\[location loc-3\]/,/^paused/s/^paused = false/paused = true/' "$conf"
reload
message_jobs u 100 10 >"$tmp/b.jsonl" # 2 for loc-3
ctl enqueue "$tmp/b.jsonl" >/dev/null
check "paused = true by reload: loc-3's 2 new jobs held, the other 8 go" \
    wait_for '[ "$(stat delivered)" = 59 ] && [ "$(metric "flex_location_held{location=\"loc-3\"}")" = 2 ]' 20
sed -i '/^\[location loc-3\]/,/^paused/s/^paused = true/paused = false/' "$conf"
kill -HUP "$FPID"
check "... and released by the next" wait_for '[ "$(stat delivered)" = 61 ]' 20

# engine.log_unmasked does what it says, and says it.
sed -i '0,/^\[engine\]/s//[engine]\nlog_unmasked = true/' "$conf"
kill -HUP "$FPID"
check "log_unmasked = true by reload: warned about" \
    wait_for 'grep -q "\"level\":\"warn\".*engine.log_unmasked = true: phone numbers are written to the log in full" "$log"' 5
sed -i '/^log_unmasked = true$/d' "$conf"
kill -HUP "$FPID"
check "... and masked again by the next" wait_for 'grep -q "engine.log_unmasked = false: numbers masked again" "$log"' 5

# Drain a carrier without editing files: nothing new goes to it (the other
# carrier of the route, backup, is down: the jobs wait), undrain sends them.
ctl carrier drain primary >"$tmp/drain.out"
check "carrier drain: said" grep -q 'primary drained: no new message' "$tmp/drain.out"
check "... flex_carrier_drained{primary} 1" \
    wait_for '[ "$(metric "flex_carrier_drained{carrier=\"primary\"}")" = 1 ]' 2
check "... carrier list says so" sh -c "\"$B/flexctl\" $D carrier list | grep -q '^primary	smpp	enabled	drained$'"
message_jobs g 200 5 >"$tmp/g.jsonl"
ctl enqueue "$tmp/g.jsonl" >/dev/null
sleep 2
check "... 5 jobs enqueued while drained: none sent" test "$(stat delivered)" = 61
ctl carrier undrain primary >/dev/null
check "carrier undrain: the 5 go" wait_for '[ "$(stat delivered)" = 66 ]' 10
check "... drain and undrain logged" \
    sh -c "grep -q 'carrier primary drained' '$log' && grep -q 'carrier primary undrained' '$log'"
ctl carrier drain nosuch 2>"$tmp/drain.err"
check "... an unknown carrier is refused" grep -q "unknown carrier 'nosuch'" "$tmp/drain.err"

# A carrier disabled by reload: its gauges drop to 0.
sed -i '/^\[carrier primary\]/,/^\[/s/^enabled = .*/enabled = false/' "$conf"
kill -HUP "$FPID"
check "a carrier disabled by reload reads 0 (up and sessions)" \
    wait_for '[ "$(metric "flex_carrier_up{carrier=\"primary\"}")" = 0 ] && [ "$(metric "flex_carrier_sessions{carrier=\"primary\"}")" = 0 ]' 10
message_jobs d 300 1 >"$tmp/d.jsonl" # no carrier can take it now: it waits in flexd
ctl enqueue "$tmp/d.jsonl" >/dev/null
check "status of a job waiting for a carrier: in_flight, with its consumer" \
    wait_for 'ctl status d-300 | grep -q "\"state\":\"in_flight\",\"consumer\":\"[^\"]*\",\"idle_ms\":[0-9]*"' 10

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
kill -TERM "$FPID"
wait "$FPID"
message_jobs q 400 1 >"$tmp/q.jsonl"
ctl enqueue "$tmp/q.jsonl" >/dev/null
check "status of a job nobody read yet: queued, with its entry" \
    sh -c "ctl() { \"$B/flexctl\" $D \"\$@\"; }; ctl status q-400 | grep -q '^{\"id\":\"q-400\",\"state\":\"queued\",\"entry\":\"[0-9-]*\",\"enqueued_at\":\"20'"
ctl status nope-1 >/dev/null 2>"$tmp/nope"
echo "rc=$?" >>"$tmp/nope"
check "status of an unknown id exits 1 saying so" \
    sh -c "grep -q 'no such job: nope-1' '$tmp/nope' && grep -qx rc=1 '$tmp/nope'"
# [http] listen by name: what --check-config takes, flexd binds.
"$B/flexd" $D -D "http.listen=localhost:$((HP + 7))" -D engine.consumer=byname \
    -D "http.admin_listen=127.0.0.1:$((HP + 8))" >/dev/null 2>"$tmp/byname.log" &
byname=$!
check "[http] listen = localhost:PORT: flexd listens there" \
    wait_for "curl -sf http://localhost:$((HP + 7))/healthz >/dev/null" 10
check "... and says nothing about it" sh -c "! grep -q 'cannot listen' '$tmp/byname.log'"
check "[http] admin_listen: /healthz, /readyz and /metrics there too" \
    sh -c "curl -sf http://127.0.0.1:$((HP + 8))/healthz >/dev/null &&
           curl -sf http://127.0.0.1:$((HP + 8))/metrics | grep -q '^flex_jobs_read_total' &&
           curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$((HP + 8))/readyz | grep -q '^[25]0[03]\$'"
check "... and no webhook" test "$(curl -s -o /dev/null -w '%{http_code}' --data x=1 \
    http://127.0.0.1:$((HP + 8))/webhooks/backup/status)" = 405
kill -TERM "$byname"
wait "$byname"
echo "$fails failed"
[ "$fails" -eq 0 ]
