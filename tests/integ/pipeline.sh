#!/bin/sh
# flexd end to end on loopback: a real redis-server, smscsim, flexd and
# flexctl.  Campaign with opt-outs, bad jobs dead-lettered, duplicates,
# a live opt-out, a location pause, SIGTERM drain, SIGKILL and restart,
# and two flexd on one queue.  Exit 0 pass, 77 skip (no redis-server).
NAME=pipe
. tests/integ/lib/env.sh

jobs() { # FIRST COUNT [LOCATION]
    python3 - "$1" "$2" "${3:-}" <<'PY'
import json, sys
first, count, loc = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for i in range(first, first + count):
    print(json.dumps({"type": "message", "id": f"m-{i}", "location": loc or f"loc-{i % 5 + 1}",
                      "patient": f"p-{i}", "phone": f"+1202555{i % 10000:04d}",
                      "template": "reminder_24h",
                      "vars": {"first_name": "Ana", "date": "Dec 1", "time": "9:30 AM"}}))
PY
}

# The first flexd reports to a stand-in for systemd's notify socket.
python3 - "$tmp/notify.sock" "$tmp/notify.log" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(0.5)
end = time.time() + 120
with open(sys.argv[2], "a", buffering=1) as log:
    while time.time() < end:
        try:
            log.write(s.recv(4096).decode() + "\n")
        except socket.timeout:
            pass
PY
pids="$pids $!"
for i in 1 2 3 4 5 6 7 8 9 10; do [ -S "$tmp/notify.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET="$tmp/notify.sock" "$B/flexd" $D >/dev/null 2>>"$tmp/flexd.log" &
f1=$!
pids="$pids $f1"
check "flexd tells systemd it is ready" wait_for 'grep -q "READY=1" "$tmp/notify.log" 2>/dev/null' 10
kill -HUP "$f1"
check "SIGHUP: RELOADING=1 then READY=1 again" \
    wait_for '[ "$(grep -c "READY=1" "$tmp/notify.log")" -ge 2 ] && grep -q RELOADING=1 "$tmp/notify.log"' 5

# 2% of the campaign goes to numbers that opted out before it.
jobs 0 2000 >"$tmp/c1.jsonl"
awk 'NR % 50 == 1' "$tmp/c1.jsonl" | sed 's/.*"phone": "\([^"]*\)".*/\1/' >"$tmp/optouts.txt"
ctl optout import "$tmp/optouts.txt" >/dev/null
check "40 opt-outs imported" test "$(ctl optout check +12025550000)" = "opted-out"
ctl enqueue "$tmp/c1.jsonl" >/dev/null
# A pipeline stage wrote garbage, and a job for a location flexd does not know.
redis-cli -p "$RP" XADD flex:jobs '*' job 'not a protobuf' >/dev/null
echo '{"type":"message","id":"x-1","location":"loc-9","patient":"p","phone":"+12025550123","body":"hi"}' |
    "$B/flexctl" $D -D location.loc-9.name=Nine -D location.loc-9.timezone=UTC \
        -D location.loc-9.phone=+12025550199 enqueue - >/dev/null
check "campaign settles" wait_for '[ "$(stat sent)" = 1960 ] && [ "$(stat dead_letter)" = 2 ]' 30
check "suppressed_optout = 40" test "$(stat suppressed_optout)" = 40
# A job's history: one record, rewritten by its receipt; records of older
# versions (keys spelled out, the receipt a second field) still read.
check "status: accepted record rewritten by its receipt" \
    wait_for 'ctl status m-1 | grep -q "^{\"id\":\"m-1\",\"state\":\"delivered\",\"carrier\":\"primary\",\"msgid\":\"[0-9a-f]*\",\"parts\":1,\"location\":\"loc-2\",\"enqueued_at\":\"20[0-9-]*T[0-9:.]*Z\",\"enqueued_at_ms\":[0-9]*,\"accepted_at\":\"20[0-9-]*T[0-9:.]*Z\",\"accepted_at_ms\":[0-9]*,\"receipt\":\"DELIVRD\",\"delivered_at\":\"20[0-9-]*T[0-9:.]*Z\",\"delivered_at_ms\":[0-9]*}"' 5
hr=$(($(date +%s) / 3600))
redis-cli -p "$RP" SET flex:seen:old-1 "$((hr * 3600000))-0" >/dev/null
redis-cli -p "$RP" HSET "flex:hist:$hr" old-1 "state=accepted carrier=primary msgid=abc parts=1 location=loc-1 enqueued_at=1 accepted_at=2" \
    'old-1|r' "state=delivered receipt=DELIVRD delivered_at=3" >/dev/null
check "status: an older version's two records merged" \
    test "$(ctl status old-1)" = '{"id":"old-1","state":"delivered","carrier":"primary","msgid":"abc","parts":1,"location":"loc-1","enqueued_at":"1970-01-01T00:00:00.001Z","enqueued_at_ms":1,"accepted_at":"1970-01-01T00:00:00.002Z","accepted_at_ms":2,"receipt":"DELIVRD","delivered_at":"1970-01-01T00:00:00.003Z","delivered_at_ms":3}'
redis-cli -p "$RP" SET flex:seen:old-2 "$((hr * 3600000))-0" >/dev/null
redis-cli -p "$RP" HSET "flex:hist:$hr" old-2 "s=delivered c=primary m=8404198000000001 p=1 l=loc-1 e=1 a=2 r=DELIVRD t=3" >/dev/null
check "status: an all-digit carrier message id stays a string (it is an id)" \
    sh -c "ctl() { \"$B/flexctl\" $D \"\$@\"; }; ctl status old-2 | grep -q '\"msgid\":\"8404198000000001\"'"
# http PATH: prints the status line, then the body.
http() {
    python3 - "$HP" "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}{sys.argv[2]}", timeout=5)
    print(r.status); print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); print(e.read().decode())
PY
} 2>/dev/null # a reader that stops after the status line closes the pipe early
check "/healthz answers 200" test "$(http /healthz | head -1)" = 200
check "/readyz is ready (Redis up, a session bound)" test "$(http /readyz | head -1)" = 200
http /metrics >"$tmp/metrics.txt"
check "/metrics counts the suppressed jobs" grep -q '^flex_jobs_suppressed_total 40$' "$tmp/metrics.txt"
check "/metrics speaks Prometheus text" grep -q '^# TYPE flex_jobs_accepted_total counter$' "$tmp/metrics.txt"
check "every receipt written" wait_for '[ "$(stat delivered)" = 1960 ]' 20
sleep 1.1 # queue gauges are sampled every second
http /metrics >"$tmp/metrics2.txt"
check "/metrics: accepted per carrier" \
    grep -q '^flex_carrier_messages_total{carrier="primary",status="accepted"} 1960$' "$tmp/metrics2.txt"
check "/metrics: delivered per location (loc-1: 400 less 40 opted out)" \
    grep -q '^flex_location_messages_total{location="loc-1",status="delivered"} 360$' "$tmp/metrics2.txt"
check "/metrics: suppressed per location" \
    grep -q '^flex_location_jobs_total{location="loc-1",status="suppressed"} 40$' "$tmp/metrics2.txt"
check "/metrics: enqueue->accept histogram counts every message" \
    grep -q '^flex_accept_latency_seconds_count 1960$' "$tmp/metrics2.txt"
check "/metrics: accept->receipt histogram counts every receipt" \
    grep -q '^flex_receipt_latency_seconds_count 1960$' "$tmp/metrics2.txt"
check "/metrics: window and sessions per carrier" \
    grep -q '^flex_carrier_sessions{carrier="primary"} 1$' "$tmp/metrics2.txt"
check "/metrics: queue depth (nothing pending)" \
    grep -q '^flex_queue_depth{queue="pending"} 0$' "$tmp/metrics2.txt"
check "flex:jobs is trimmed of finished entries" \
    wait_for '[ "$(redis-cli -p $RP XLEN flex:jobs)" -lt 2002 ]' 5
check "smscsim received exactly the sent" wait_for \
    '[ "$(sed -n "s/.*\"received\":\([0-9]*\).*/\1/p" "$tmp/sim.json")" = 1960 ]' 5
sed 's/^\+//' "$tmp/optouts.txt" >"$tmp/optouts.nop"
check "nothing sent to an opted-out number" \
    sh -c "! cut -f1 '$tmp/sim.log' | grep -qxF -f '$tmp/optouts.nop'"
check "dead letters carry their reasons" \
    sh -c "redis-cli -p $RP XRANGE flex:deadletter - + | grep -q 'undecodable protobuf' &&
           redis-cli -p $RP XRANGE flex:deadletter - + | grep -q \"unknown location 'loc-9'\""
check "status shows the history" sh -c "ctl() { \"$B/flexctl\" $D \"\$@\"; }; ctl status m-3 | grep -q '\"state\":\"delivered\"'"
ctl enqueue "$tmp/c1.jsonl" >/dev/null
check "re-enqueued ids are not sent again" wait_for '[ "$(stat duplicates_suppressed)" = 2000 ]' 20
check "...and counted, not sent" test "$(stat sent)" = 1960

# A STOP that lands mid-campaign is honoured at once.
ctl optout add +12025559999 >/dev/null
jobs 9999 1 >"$tmp/one.jsonl"
ctl enqueue "$tmp/one.jsonl" >/dev/null
check "live opt-out honoured" wait_for '[ "$(stat suppressed_optout)" = 41 ]' 5

# Pause one location: its jobs wait, then go.
ctl location pause loc-2 >/dev/null
sleep 0.5
jobs 3000 50 loc-2 >"$tmp/p.jsonl"
ctl enqueue "$tmp/p.jsonl" >/dev/null
sleep 1.5
check "paused location sends nothing" test "$(stat sent)" = 1960
ctl location resume loc-2 >/dev/null
check "resumed location sends its held jobs" wait_for '[ "$(stat sent)" = 2010 ]' 10

# SIGTERM drains and exits 0.
kill -TERM "$f1"
wait "$f1"
rc=$?
check "SIGTERM exits 0" test $rc -eq 0
check "SIGTERM: STOPPING=1" grep -q "STOPPING=1" "$tmp/notify.log"

# SIGKILL mid-campaign, restart: everything ends sent; duplicates only for
# what was in flight.
start_flexd
f2=$FPID
jobs 4000 4000 >"$tmp/c2.jsonl" # numbers 4000-7999: none opted out
ctl enqueue "$tmp/c2.jsonl" >/dev/null
wait_for '[ "$(stat sent)" -gt 2500 ]' 20
kill -9 "$f2"
wait "$f2" 2>/dev/null
start_flexd
f3=$FPID
check "after SIGKILL and restart every job is sent" wait_for '[ "$(stat sent)" -ge 6010 ]' 40
check "nothing left pending" wait_for '[ "$(redis-cli -p $RP XPENDING flex:jobs flexd | head -1)" = 0 ]' 10
if [ "$fails" -gt 0 ]; then
    ctl stats
    redis-cli -p "$RP" XPENDING flex:jobs flexd - + 5 | head -20
    first=$(redis-cli -p "$RP" XPENDING flex:jobs flexd - + 1 | head -1)
    redis-cli -p "$RP" XRANGE flex:jobs "$first" "$first" | head -5 | cut -c1-200
fi
got=$(sed -n 's/.*"received":\([0-9]*\).*/\1/p' "$tmp/sim.json")
echo "     smscsim received $got for 6010 jobs (duplicates from the in-flight window at the kill)"
# In flight at the kill: accepted by the SMSC, outcome not yet in Redis:
# the window (256), the writer's backlog (1024) and batch (512) at most.
check "duplicates at most what was in flight" test $((got - 6010)) -le 1792

# Two flexd on one queue: each job once.
start_flexd
f4=$FPID
sleep 1.2
before=$(stat sent)
simrecv() { sed -n 's/.*"received":\([0-9]*\).*/\1/p' "$tmp/sim.json"; }
sim_before=$(simrecv)
jobs 8000 1999 >"$tmp/c3.jsonl" # numbers 8000-9998
ctl enqueue "$tmp/c3.jsonl" >/dev/null
check "two flexd: all sent" wait_for '[ "$(stat sent)" -ge $((before + 1999)) ]' 30
sleep 0.5
check "two flexd: each exactly once" test "$(stat sent)" -eq $((before + 1999))
sleep 1.2 # smscsim rewrites its stats every second
echo "     smscsim received $(($(simrecv) - sim_before)) for 1999 jobs"
check "two flexd: each once at the SMSC" test $(($(simrecv) - sim_before)) -eq 1999
kill -TERM "$f3" "$f4"
wait "$f3" "$f4"

# A dead consumer's jobs are taken over even while every round of the intake
# has opt-outs to suppress: the take-over used to read a suppression's
# reply as its own and take nothing while such traffic lasted.
jobs 20001 30 >"$tmp/g.jsonl" # numbers 0001-0030: none opted out
ctl enqueue "$tmp/g.jsonl" >/dev/null
redis-cli -p "$RP" XREADGROUP GROUP flexd ghost-1 COUNT 30 STREAMS flex:jobs '>' >/dev/null
check "30 jobs pending on a consumer that is gone" \
    test "$(redis-cli -p "$RP" XPENDING flex:jobs flexd | head -1)" = 30
start_flexd
f5=$FPID
(
    end=$(($(date +%s) + 10))
    i=0
    while [ "$(date +%s)" -lt "$end" ]; do # opted-out traffic: +12025550050 opted out above
        i=$((i + 1))
        for k in 1 2 3 4 5 6 7 8 9 10; do
            printf '{"type":"message","id":"o-%s-%s","location":"loc-1","patient":"p-o","phone":"+12025550050","body":"x"}\n' "$i" "$k"
        done | "$B/flexctl" $D enqueue - >/dev/null 2>&1
    done
) &
load=$!
check "taken over while opt-outs are being suppressed" \
    wait_for '[ "$(ctl status m-20001 m-20030 | grep -c delivered)" = 2 ]' 7
check "(the opted-out traffic was still flowing)" kill -0 "$load"
kill "$load" 2>/dev/null
wait "$load" 2>/dev/null

kill -TERM "$f5"
wait "$f5"

# A flexd with a stable name (engine.consumer), SIGKILLed mid-campaign and
# started again under that name, takes its own pending jobs back at once
# (nobody claims them: the take-over leaves a consumer's own alone).
D0=$D
D="$D -D engine.consumer=flexd-stable -D engine.claim_idle=1h -D carrier.primary.mps=1000"
start_flexd
f6=$FPID
s6=$(stat sent)
jobs 50000 3000 >"$tmp/k.jsonl" # numbers 0000-2999: the 40 opted out above among them
ctl enqueue "$tmp/k.jsonl" >/dev/null
wait_for '[ "$(stat sent)" -gt $((s6 + 300)) ]' 20
kill -9 "$f6"
wait "$f6" 2>/dev/null
check "killed: jobs left pending under the stable name" \
    test "$(redis-cli -p "$RP" XPENDING flex:jobs flexd | head -1)" -gt 0
start_flexd
f5=$FPID
check "same name again: every job of the campaign sent" \
    wait_for '[ "$(ctl status $(seq -f "m-%g" 50000 52999) 2>/dev/null | grep -c "\"state\":\"\(delivered\|accepted\|suppressed\)\"")" = 3000 ]' 30
check "same name again: nothing left pending" \
    wait_for '[ "$(redis-cli -p $RP XPENDING flex:jobs flexd | head -1)" = 0 ]' 10
D=$D0

# One location paused with more jobs queued than flexd has records (8,192)
# must not hold up the others; resumed, all of its jobs go.
ctl location pause loc-5 >/dev/null
sleep 1.2
s0=$(stat sent)
o0=$(stat suppressed_optout)
jobs 30000 9000 loc-5 >"$tmp/p5.jsonl" # numbers 0000-8999: the 40 opted out above among them
ctl enqueue "$tmp/p5.jsonl" >/dev/null
jobs 40001 49 loc-2 >"$tmp/p2.jsonl" # numbers 0001-0049: none opted out
ctl enqueue "$tmp/p2.jsonl" >/dev/null
check "a paused location with 9,000 jobs queued does not hold up another" \
    wait_for '[ "$(stat sent)" -ge $((s0 + 49)) ]' 15
check "none of the paused location's jobs went" test "$(stat sent)" -eq $((s0 + 49))
ctl location resume loc-5 >/dev/null
check "resumed: all 9,000 settle (8,960 sent, 40 opted out)" \
    wait_for '[ "$(stat sent)" -eq $((s0 + 49 + 8960)) ] && [ "$(stat suppressed_optout)" -eq $((o0 + 40)) ]' 60
echo "     sent $(($(stat sent) - s0)), opted out $(($(stat suppressed_optout) - o0))"
check "resumed: nothing left pending" \
    wait_for '[ "$(redis-cli -p $RP XPENDING flex:jobs flexd | head -1)" = 0 ]' 10
kill -TERM "$f5"
wait "$f5"

# Reading held jobs back after a resume does not wait for slow jobs in
# flight: loc-1 limited to 50 msg/s with 1,470 of its jobs in the
# dispatcher (~30 s of work) while loc-5, paused with 9,000 jobs, resumes.
D="$D -D location.loc-1.mps=50"
start_flexd
f7=$FPID
ctl location pause loc-5 >/dev/null
sleep 1.2
s0=$(stat sent)
jobs 60000 1500 loc-1 >"$tmp/s1.jsonl" # numbers 0000-1499: 30 opted out
ctl enqueue "$tmp/s1.jsonl" >/dev/null
jobs 70000 9000 loc-5 >"$tmp/s5.jsonl" # numbers 0000-8999: 40 opted out
ctl enqueue "$tmp/s5.jsonl" >/dev/null
sleep 2
ctl location resume loc-5 >/dev/null
check "resumed while slow jobs are in flight: the held ones go at once" \
    wait_for '[ "$(stat sent)" -ge $((s0 + 8960)) ]' 20
echo "     sent $(($(stat sent) - s0)) of 8,960 + 1,470"
check "(the slow location still had jobs to send)" test "$(stat sent)" -lt $((s0 + 8960 + 1470))
check "nothing sent twice meanwhile" \
    test "$(ctl status $(seq -f "m-%g" 70000 78999) 2>/dev/null | grep -c delivered)" -le 8960
kill -TERM "$f7"
wait "$f7"
D=$D0

grep '"level":"error"' "$tmp/flexd.log" | head -5
echo "$fails failed"
[ "$fails" -eq 0 ]
