#!/bin/sh
# Faults end to end: two SMPP carriers (the first killed mid-campaign:
# traffic fails over to the second, and returns when the first is back),
# a carrier that rejects every submit permanently (jobs fail with its
# reason, no retries), Redis restarted mid-campaign (nothing lost), Redis
# refusing writes for a while (backoff, then everything completes), a
# bound carrier failing every submit temporarily (its circuit opens), and
# a carrier sending intermediate and duplicate receipts.
# Exit 0 pass, 77 skip (no redis-server).
NAME=faults
REDIS_ARGS="--appendonly yes --appendfsync always"
. tests/integ/lib/env.sh
S2=$((base + 3)) S3=$((base + 4))
sim2() {
    "$B/smscsim" --listen "127.0.0.1:$S2" --dlr-delay-ms 10 --stats "$tmp/sim2.json" \
        --max-seconds 300 &
    pids="$pids $!"
}
sim2
"$B/smscsim" --listen "127.0.0.1:$S3" --fail-rate 1 --fail-status 0x0B --stats "$tmp/sim3.json" \
    --max-seconds 300 &
pids="$pids $!"
S4=$((base + 5))
"$B/smscsim" --listen "127.0.0.1:$S4" --dlr-delay-ms 10 --dlr-enroute --dlr-twice \
    --stats "$tmp/sim4.json" --max-seconds 300 &
pids="$pids $!"
D="$D -D carrier.noisy.type=smpp -D carrier.noisy.host=127.0.0.1 -D carrier.noisy.port=$S4 \
-D carrier.noisy.system_id=flex -D carrier.noisy.password=flexpass -D location.loc-4.route=noisy"
D="$D -D carrier.primary.mps=500 -D route.default=primary,second \
-D carrier.second.type=smpp -D carrier.second.host=127.0.0.1 -D carrier.second.port=$S2 \
-D carrier.second.system_id=flex -D carrier.second.password=flexpass \
-D carrier.second.reconnect_max=1s \
-D carrier.bad.type=smpp -D carrier.bad.host=127.0.0.1 -D carrier.bad.port=$S3 \
-D carrier.bad.system_id=flex -D carrier.bad.password=flexpass -D location.loc-3.route=bad"
# received FILE [FIELD]: a counter from an smscsim --stats file.
received() { sed -n "s/.*\"${2:-received}\":\([0-9]*\).*/\1/p" "$1" 2>/dev/null || echo 0; }
jobs() { # PREFIX COUNT LOCATION
    python3 - "$1" "$2" "$3" <<'PY'
import json, sys
p, n, loc = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(n):
    print(json.dumps({"type": "message", "id": f"{p}-{i}", "location": loc, "patient": f"p-{i}",
                      "phone": f"+1312555{i % 10000:04d}", "body": "Your cleaning is tomorrow"}))
PY
}
# states PREFIX COUNT: how many of those jobs are in each state (flexctl
# status takes many ids; a job it does not know counts as "unknown").
states() {
    ctl status $(python3 -c "import sys; print(' '.join(f'{sys.argv[1]}-{i}' for i in range(int(sys.argv[2]))))" "$1" "$2") 2>/dev/null |
        python3 -c "
import json, sys, collections
c = collections.Counter(json.loads(l).get('state', 'none') for l in sys.stdin if l.strip())
n = int(sys.argv[1]) - sum(c.values())
if n: c['unknown'] += n
print(' '.join(f'{k}={v}' for k, v in sorted(c.items())) + ' ')" "$2"
}
reason_is() { ctl status "$1" | grep -q "\"reason\":\"$2\""; }
start_flexd
f1=$FPID
check "both carriers bound" wait_for '[ "$(received "$tmp/sim2.json")" = 0 ] && curl -sf http://127.0.0.1:$HP/readyz >/dev/null' 10

# 1. The first carrier dies mid-campaign: the rest goes to the second.
jobs a 3000 loc-1 | ctl enqueue - >/dev/null
wait_for '[ "$(stat sent)" -ge 500 ]' 20
kill -9 "$sim"
wait "$sim" 2>/dev/null
check "failover: every job settles" \
    wait_for '[ $(($(stat sent) + $(stat failed))) -ge 3000 ]' 30
echo "     $(states a 3000)"
sleep 1.2 # smscsim rewrites its stats every second
echo "     second carrier received $(received "$tmp/sim2.json")"
check "failover: the second carrier took the rest" test "$(received "$tmp/sim2.json")" -ge 2000
check "failover: at most the window failed (ambiguous = fail)" test "$(stat failed)" -le 64
check "failover: no job without a final state" \
    sh -c "! echo '$(states a 3000)' | grep -q '^=\| =[0-9]'"

# 2. The first carrier comes back: traffic returns to it.
"$B/smscsim" --listen "127.0.0.1:$SP" --dlr-delay-ms 10 --stats "$tmp/sim1b.json" \
    --max-seconds 300 &
sim1b=$!
pids="$pids $sim1b"
sleep 2.5 # reconnect_max = 1s
sent0=$(stat sent) second0=$(received "$tmp/sim2.json")
jobs b 400 loc-1 | ctl enqueue - >/dev/null
check "return: the campaign is sent" wait_for '[ "$(stat sent)" -ge $((sent0 + 400)) ]' 20
sleep 1.2
check "return: all of it by the first carrier" test "$(received "$tmp/sim1b.json")" -eq 400
check "return: none by the second" test "$(received "$tmp/sim2.json")" -eq "$second0"

# 3. A carrier that rejects every submit permanently.
failed0=$(stat failed)
optouts0=$(redis-cli -p "$RP" SCARD flex:optout)
jobs c 200 loc-3 | ctl enqueue - >/dev/null
check "permanent error: all 200 fail" wait_for '[ "$(stat failed)" -ge $((failed0 + 200)) ]' 20
check "permanent error: with the carrier's reason" \
    reason_is c-7 ESME_RINVDSTADR
sleep 1.2
check "permanent error: no retries (200 submits)" test "$(received "$tmp/sim3.json" submit_sm)" -eq 200
check "permanent error: nobody opted out by it (only a carrier's 21610 does that)" \
    test "$(redis-cli -p "$RP" SCARD flex:optout)" = "$optouts0"

# 4. Redis restarts mid-campaign (AOF, fsync always): nothing is lost.
jobs d 3000 loc-1 | ctl enqueue - >/dev/null
wait_for '[ "$(redis-cli -p $RP HGET flex:stats sent)" -ge $((sent0 + 900)) ]' 20
redis-cli -p "$RP" shutdown >/dev/null 2>&1
sleep 2
start_redis
check "redis restart: every job of the campaign settles" \
    wait_for '[ "$(states d 3000)" = "delivered=3000 " ]' 60
echo "     $(states d 3000)"
check "redis restart: nothing left pending" \
    wait_for '[ "$(redis-cli -p $RP XPENDING flex:jobs flexd | head -1)" = 0 ]' 10
check "redis restart: flexd logged the lost connection" grep -q "redis connection lost" "$tmp/flexd.log"

# 4b. Redis up but refusing writes (maxmemory reached, noeviction) in the
# middle of a campaign: flexd backs off instead of retrying in a tight
# loop, and the campaign completes, each job sent once, when Redis accepts
# writes again.
errors() { curl -s "http://127.0.0.1:$HP/metrics" | sed -n 's/^flex_redis_errors_total //p'; }
sleep 1.2 # smscsim writes its stats every second: a quiet baseline
sent_b=$(($(received "$tmp/sim1b.json") + $(received "$tmp/sim2.json")))
jobs g 3000 loc-1 | ctl enqueue - >/dev/null
wait_for '[ $(($(received "$tmp/sim1b.json") + $(received "$tmp/sim2.json"))) -ge $((sent_b + 500)) ]' 20
redis-cli -p "$RP" CONFIG SET maxmemory 1 >/dev/null
e0=$(errors)
sleep 4
e1=$(errors)
echo "     $((e1 - e0)) Redis failures counted in 4 s of refused writes"
check "refused writes: counted" test "$e1" -gt "$e0"
check "refused writes: retried with backoff, not in a loop (< 40 in 4 s)" test $((e1 - e0)) -lt 40
check "refused writes: the log gives Redis's reason" grep -q 'OOM command not allowed' "$tmp/flexd.log"
redis-cli -p "$RP" CONFIG SET maxmemory 0 >/dev/null
check "refused writes: the campaign completes once Redis takes writes" \
    wait_for '[ "$(states g 3000)" = "delivered=3000 " ]' 60
echo "     $(states g 3000)"
sleep 1.2 # smscsim writes its stats every second
check "refused writes: each job submitted once" \
    test $(($(received "$tmp/sim1b.json") + $(received "$tmp/sim2.json") - sent_b)) -eq 3000
check "refused writes: nothing left pending" \
    wait_for '[ "$(redis-cli -p $RP XPENDING flex:jobs flexd | head -1)" = 0 ]' 10
grep -E 'OOM|resumed|redis back' "$tmp/flexd.log" | head -4 | sed 's/^/     /'

# 5. The first carrier is bound but answers every submit with a temporary
# error: after 20 in a row its circuit opens and new jobs go straight to
# the second, instead of each failing over one by one.
kill "$sim1b"
wait "$sim1b" 2>/dev/null
for i in 1 2 3 4 5 6 7 8 9 10; do # a killed smscsim's port may linger a moment
    "$B/smscsim" --listen "127.0.0.1:$SP" --fail-rate 1 --stats "$tmp/sim1c.json" \
        --max-seconds 300 2>/dev/null &
    simc=$!
    sleep 0.3
    kill -0 "$simc" 2>/dev/null && break
done
pids="$pids $simc"
sleep 2.5 # reconnect_max = 1s
delivered0=$(stat delivered)
jobs e 600 loc-1 | ctl enqueue - >/dev/null
check "circuit: every job delivered by the second carrier" \
    wait_for '[ "$(stat delivered)" -ge $((delivered0 + 600)) ]' 30
check "circuit: opened after temporary failures in a row" grep -q "carrier primary: 20 temporary or ambiguous failures in a row; circuit open" "$tmp/flexd.log"
sleep 1.2
echo "     the failing carrier saw $(received "$tmp/sim1c.json" submit_sm) of 600 submits"
check "circuit: the failing carrier saw some, far fewer than 600 submits" \
    sh -c "n=\$(sed -n 's/.*\"submit_sm\":\([0-9]*\).*/\1/p' '$tmp/sim1c.json'); [ \"\$n\" -ge 20 ] && [ \"\$n\" -lt 200 ]"

# 6. A carrier that sends an ENROUTE receipt before each final one, and each
# final one twice: every job delivered, counted and announced once.
d0=$(stat delivered) fl0=$(stat failed)
jobs n 500 loc-4 | ctl enqueue - >/dev/null
check "noisy receipts: all 500 delivered" wait_for '[ "$(states n 500)" = "delivered=500 " ]' 30
sleep 1.5 # smscsim writes its stats every second
check "noisy receipts: the SMSC sent 1,500 receipts" \
    test "$(received "$tmp/sim4.json" receipts_sent)" -eq 1500
check "noisy receipts: delivered counted once each" test "$(stat delivered)" -eq $((d0 + 500))
check "noisy receipts: none counted failed (ENROUTE is not final)" test "$(stat failed)" -eq "$fl0"
check "noisy receipts: the second copies counted apart" \
    wait_for '[ "$(curl -s "http://127.0.0.1:$HP/metrics" | sed -n "s/^flex_receipts_duplicate_total //p")" = 500 ]' 5

kill -TERM "$f1"
wait "$f1"
check "SIGTERM exits 0 after all this" test $? -eq 0
grep '"level":"error"' "$tmp/flexd.log" | head -5
echo "$fails failed"
[ "$fails" -eq 0 ]
