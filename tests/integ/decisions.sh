#!/bin/sh
# Decisions only the running pipeline reaches (issue 13), each shown to
# fail under a one-line slip planted in the engine (tests/mutate.sh):
#   receipts 2,100 jobs over an SMPP carrier (smscsim, sending every receipt
#            twice) and an HTTP one (httpsim) at once, 100 of two parts:
#            each delivered once by its own carrier, the copies counted as
#            duplicates, every job acknowledged.
#   batch    receipts of both carriers in one writer batch, made certain
#            (receipts 1.5 s after submit, Redis held by CLIENT PAUSE
#            meanwhile): each updates its own job.
#   optout   an error reply to the exact opt-out lookup fails closed: a job
#            whose number the bloom filter says "maybe" for while
#            flex:optout is not a set (WRONGTYPE) is suppressed, never sent;
#            also a held job released then (the second lookup).  An id
#            enqueued twice goes once; flexctl enqueue refused by Redis
#            exits 1.
#   replies  HELP three times against autoreply_per_day = 2 answers twice;
#            STOP twice sends one optout_confirm, which goes although the
#            number is opted out.
#   carriers a permanent rejection fails the job (no failover, the number
#            not opted out); a temporary one fails over to the next carrier.
#   expiry   a job expired when read is expired by the intake; one whose
#            expiry passes while every carrier of its route is down, or
#            throttled, ends expired ("before a carrier took it") and never
#            reaches the SMSC, not even once the carrier is back.
#   answer   a receipt is answered (deliver_sm_resp) only once stored: the
#            receipt of an accepted job comes while Redis takes no writes
#            (CLIENT PAUSE), flexd is SIGKILLed, and the flexd started
#            after it gets the receipt again from the SMSC: delivered.
#   idem     the idempotency records (engine/core/idem.h): an id enqueued
#            again goes once; no key per job; an older version's
#            flex:seen:{id} still refuses its id while flex:idem:legacy
#            says so, and no longer after; the sweep drops records older
#            than idempotency_days and keeps the others.
#   refusal  Redis refusing writes (maxmemory) when the intake settles a job
#            (expired when read): the job stays pending, unacknowledged, until
#            its status can be written, then ends expired and acknowledged.
# Usage: sh tests/integ/decisions.sh [PART...] (default: all, in that order).
# Exit 0 pass, 77 skip.
NAME=decisions
MO=/tmp/flex-decisions-mo.$$
: >"$MO"
SIM_ARGS="--dlr-twice --mo-follow $MO"
. tests/integ/lib/env.sh
trap 'cleanup; rm -f "$MO"' EXIT
. tests/integ/lib/jobs.sh
parts=${*:-receipts batch optout replies carriers expiry answer idem refusal}
slow=1 # sanitizer builds (make asan, make tsan) run several times slower
[ -n "${SAN:-}" ] && slow=5
# httpsim's port: a free one below both env.sh's ports and the ephemeral range
HT=$(python3 -c '
import random, socket
for p in random.sample(range(10000, 20000), 200):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break')
log=$tmp/flexd.log
metric() { curl -s "http://127.0.0.1:$HP/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
# job ID LOCATION PHONE [EXTRA JSON FIELDS]: one message job line
job() {
    printf '{"type":"message","id":"%s","location":"%s","patient":"p-%s","phone":"%s","body":"Your cleaning is tomorrow at 9:30."%s}\n' \
        "$1" "$2" "$1" "$3" "${4:+,$4}"
}
# state ID: the job's state and reason as "state/reason" (reason may be
# empty); grep, not python: it is polled, and python starts slowly on a busy VM
state() {
    j=$(ctl status "$1" 2>/dev/null)
    echo "$(echo "$j" | grep -o '"state":"[^"]*"' | head -1 | cut -d'"' -f4)/$(echo "$j" |
        grep -o '"reason":"[^"]*"' | head -1 | cut -d'"' -f4)"
}
# The SMSC's log is never truncated (smscsim does not append): each part
# reads what was logged after its mark.
sim_mark() { simoff=$(wc -c <"$SIMLOG" 2>/dev/null || echo 0); }
sim_new() { tail -c +$((simoff + 1)) "$SIMLOG" 2>/dev/null | tr -d '\000'; }
SIMLOG=$tmp/sim.log
not_sent() { ! sim_new | grep -q "$1"; } # not_sent REGEX: no such number since the mark
stop_flexd() {
    kill -TERM "$FPID" 2>/dev/null
    wait "$FPID" 2>/dev/null
}
# A fresh Redis between parts: counters start at 0.
fresh() { redis-cli -p "$RP" flushall >/dev/null; }
ready() { wait_for 'curl -sf http://127.0.0.1:$HP/readyz >/dev/null' 10; }

part_receipts() {
    echo "== receipts of two carriers in the same writer batches"
    httpsim_start "$HT" "$tmp/http.log" "$tmp/http.json" --callback-delay-ms 0
    hs=$last_httpsim
    D0=$D
    D="$D $(http_carrier "$HT") -D route.default=primary -D location.loc-2.route=backup \
-D location.loc-4.route=backup"
    start_flexd
    check "flexd up with primary (SMPP) and backup (HTTP)" ready
    check "both carriers up" wait_for '[ "$(metric "flex_carrier_up{carrier=\"backup\"}")" = 1 ] &&
        [ "$(metric "flex_carrier_up{carrier=\"primary\"}")" = 1 ]' 10
    sim_mark
    # r-0..r-1999 one part, r-2000..r-2099 two parts; loc-2 and loc-4 (840)
    # by HTTP, the rest (1,260) by SMPP
    message_jobs r 0 2000 >"$tmp/r.jsonl"
    python3 - >>"$tmp/r.jsonl" <<'PY'
import json
for i in range(2000, 2100):
    print(json.dumps({"type": "message", "id": f"r-{i}", "location": f"loc-{i % 5 + 1}",
                      "patient": f"p-{i}", "phone": f"+1202555{i % 10000:04d}",
                      "body": "Your cleaning is tomorrow at 9:30. " * 6 + "Reply C to confirm."}))
PY
    ctl enqueue "$tmp/r.jsonl" >/dev/null
    check "2,100 delivered" wait_for '[ "$(stat delivered)" = 2100 ]' $((20 * slow))
    check "smscsim took 1,260, httpsim 840" \
        wait_for '[ "$(sim_new | wc -l)" = 1260 ] && grep -q "\"received\":840," "$tmp/http.json"' 5
    sleep 1 # late copies and parts' receipts
    check "each delivered once: smscsim's second copy of the 1,260 receipts counted apart" \
        sh -c "[ $(stat delivered) = 2100 ] && [ $(metric flex_receipts_duplicate_total) = 1260 ]"
    ctl status $(seq 0 2099 | sed 's/^/r-/') >"$tmp/r.status"
    check "every job delivered by its own carrier (state, carrier, receipt)" python3 - "$tmp/r.status" <<'PY'
import json, sys
bad = 0
for line in open(sys.argv[1]):
    j = json.loads(line)
    i = int(j["id"].split("-")[1])
    want = "backup" if i % 5 in (1, 3) else "primary"
    ok = (j.get("state") == "delivered" and j.get("carrier") == want
          and j.get("receipt") == ("delivered" if want == "backup" else "DELIVRD")
          and j.get("parts") == (2 if i >= 2000 and want == "primary" else 1))
    if not ok:
        bad += 1
        if bad <= 5:
            print("wrong:", line.strip())
sys.exit(1 if bad else 0)
PY
    check "nothing failed" test "$(stat failed)" = 0
    check "every job acknowledged (nothing pending in the group)" \
        test "$(redis-cli -p "$RP" xpending flex:jobs flexd | head -1)" = 0

    stop_flexd
    kill "$hs" 2>/dev/null
    D=$D0
}

# Receipts of both carriers in one writer batch, made certain: receipts
# 1.5 s after each submit, Redis paused (CLIENT PAUSE) meanwhile, so that
# the writer's next batch holds them all: 100 SMPP receipts (their keys
# first) and 300 HTTP ones.
part_batch() {
    echo "== receipts of two carriers in one writer batch"
    fresh
    httpsim_start "$HT" "$tmp/http2.log" "$tmp/http2.json" --callback-delay-ms 1500
    hs=$last_httpsim
    SIMLOG=$tmp/simq.log simoff=0
    restart_sim --dlr-delay-ms 1500
    D0=$D
    D="$D $(http_carrier "$HT") -D route.default=primary -D location.loc-2.route=backup \
-D location.loc-4.route=backup"
    start_flexd
    check "both carriers up" wait_for '[ "$(metric "flex_carrier_up{carrier=\"backup\"}")" = 1 ] &&
        [ "$(metric "flex_carrier_up{carrier=\"primary\"}")" = 1 ]' 10
    python3 - >"$tmp/q.jsonl" <<'PY'
import json
for i in range(400):  # q-0..q-99 by SMPP (loc-1), the rest by HTTP (loc-2, loc-4)
    loc = "loc-1" if i < 100 else ("loc-2" if i % 2 else "loc-4")
    print(json.dumps({"type": "message", "id": f"q-{i}", "location": loc, "patient": f"p-q{i}",
                      "phone": f"+12025556{i:03d}", "body": "Your cleaning is tomorrow at 9:30."}))
PY
    ctl enqueue "$tmp/q.jsonl" >/dev/null
    check "400 accepted before their receipts come" wait_for '[ "$(stat sent)" = 400 ]' $((10 * slow))
    redis-cli -p "$RP" client pause 2500 all >/dev/null
    sleep 3
    check "400 delivered, though their receipts reached the writer together" \
        wait_for '[ "$(stat delivered)" = 400 ]' $((15 * slow))
    ctl status $(seq 0 399 | sed 's/^/q-/') >"$tmp/q.status"
    check "... each by its own carrier" python3 - "$tmp/q.status" <<'PY'
import json, sys
bad = 0
for line in open(sys.argv[1]):
    j = json.loads(line)
    want = "primary" if int(j["id"].split("-")[1]) < 100 else "backup"
    if j.get("state") != "delivered" or j.get("carrier") != want:
        bad += 1
        if bad <= 5:
            print("wrong:", line.strip())
sys.exit(1 if bad else 0)
PY
    check "... no duplicate counted" test "$(metric flex_receipts_duplicate_total)" = 0
    stop_flexd
    kill "$hs" 2>/dev/null
    SIMLOG=$tmp/simr.log simoff=0
    restart_sim --dlr-twice --mo-follow "$MO"
    D=$D0
}

part_optout() {
    echo "== the exact opt-out lookup answers an error"
    fresh
    ctl optout add +12025550042 >/dev/null # in the bloom filter flexd loads at start
    ctl optout add +12025550044 >/dev/null
    sim_mark
    start_flexd
    check "flexd up" ready
    ctl optout remove +12025550044 >/dev/null # opted in: the bloom still says maybe
    ctl location pause loc-3 >/dev/null
    job o-3 loc-3 +12025550044 | ctl enqueue - >/dev/null
    check "a job of the paused loc-3 held (its number opted in again)" \
        wait_for '[ "$(metric flex_jobs_held)" = 1 ]' 10
    # The exact set becomes a string: every SISMEMBER answers WRONGTYPE.
    redis-cli -p "$RP" del flex:optout >/dev/null
    redis-cli -p "$RP" set flex:optout not-a-set >/dev/null
    { job o-1 loc-1 +12025550042; job o-2 loc-1 +12025550043; } | ctl enqueue - >/dev/null
    check "the job of a number the bloom does not know goes" \
        wait_for '[ "$(state o-2)" = delivered/ ]' 10
    check "the job whose exact lookup failed: suppressed, optout" \
        wait_for '[ "$(state o-1)" = suppressed/optout ]' 10
    ctl location resume loc-3 >/dev/null
    check "the held job released while the lookup fails: suppressed, optout" \
        wait_for '[ "$(state o-3)" = suppressed/optout ]' 10
    sleep 1
    check "neither reached the SMSC" not_sent '1202555004[24]'
    check "both counted as opt-out suppressions" test "$(stat suppressed_optout)" = 2
    job o-2 loc-1 +12025550043 | ctl enqueue - >/dev/null # the same id again
    check "an id enqueued again is counted a duplicate" wait_for '[ "$(stat duplicates_suppressed)" = 1 ]' 10
    check "... and not sent again" test "$(sim_new | grep -c 12025550043)" = 1
    stop_flexd
    redis-cli -p "$RP" del flex:optout >/dev/null
    # flexctl's writes refused: it says so and fails (an enqueue reported
    # done but not made would lose the jobs without a trace)
    redis-cli -p "$RP" set flex:jobs not-a-stream >/dev/null
    job o-4 loc-1 +12025550046 | ctl enqueue - >"$tmp/refused.out" 2>&1
    echo "rc=$?" >>"$tmp/refused.out"
    check "flexctl enqueue refused by Redis: exit 1, and why" \
        sh -c "grep -q 'redis refused' '$tmp/refused.out' && grep -qx rc=1 '$tmp/refused.out'"
    redis-cli -p "$RP" del flex:jobs >/dev/null
}

# expires_in SECONDS: an RFC 3339 time that many seconds from now
expires_in() {
    python3 -c 'import datetime as d, sys; print((d.datetime.now(d.timezone.utc) + d.timedelta(seconds=int(sys.argv[1]))).strftime("%Y-%m-%dT%H:%M:%SZ"))' "$1"
}

part_expiry() {
    echo "== expiry while every carrier is down, then throttled"
    fresh
    kill "$sim" 2>/dev/null
    wait "$sim" 2>/dev/null
    SIMLOG=$tmp/sim2.log simoff=0
    D0=$D
    D="$D -D route.default=primary"
    start_flexd
    check "flexd up, its only carrier down" \
        wait_for 'curl -sf http://127.0.0.1:$HP/healthz >/dev/null' 10
    job e-0 loc-1 +12025550060 "\"expires_at\":\"$(expires_in -60)\"" | ctl enqueue - >/dev/null
    check "a job expired before it is read: expired by the intake" \
        wait_for '[ "$(state e-0)" = "expired/expired before it could be sent" ]' 10
    exp=$(expires_in 3)
    for i in 1 2 3 4 5; do job "e-$i" loc-1 "+1202555006$i" "\"expires_at\":\"$exp\""; done |
        ctl enqueue - >/dev/null
    sleep 1
    check "waiting for a carrier: in flight, not expired yet" \
        sh -c "ctl() { \"$B/flexctl\" $D \"\$@\"; }; ctl status e-1 | grep -q '\"state\":\"in_flight\"'"
    check "each ends expired while the carrier is down" \
        wait_for '[ "$(stat expired)" = 6 ]' 10
    check "... by the dispatcher (expired before a carrier took it)" \
        sh -c "ctl() { \"$B/flexctl\" $D \"\$@\"; }; for i in 1 2 3 4 5; do
            ctl status e-\$i | grep -q '\"state\":\"expired\",.*expired before a carrier took it' || exit 1; done"
    "$B/smscsim" --listen "127.0.0.1:$SP" --dlr-delay-ms 10 --log "$SIMLOG" \
        --stats "$tmp/sim.json" --max-seconds 300 &
    sim=$!
    pids="$pids $sim"
    check "the carrier back" wait_for '[ "$(metric "flex_carrier_up{carrier=\"primary\"}")" = 1 ]' 10
    job e-live loc-1 +12025550070 | ctl enqueue - >/dev/null
    check "a new job goes" wait_for '[ "$(stat delivered)" = 1 ]' 10
    sleep 1
    check "none of the expired reached the SMSC" not_sent '1202555006[0-5]'
    stop_flexd

    fresh
    sim_mark
    D="$D -D carrier.primary.mps=2"
    start_flexd
    check "flexd up, its carrier at 2 msg/s" \
        wait_for '[ "$(metric "flex_carrier_up{carrier=\"primary\"}")" = 1 ]' 10
    exp=$(expires_in 3)
    for i in $(seq 10 29); do job "t-$i" loc-1 "+120255501$i" "\"expires_at\":\"$exp\""; done |
        ctl enqueue - >/dev/null
    check "20 jobs at 2 msg/s with 2-3 s to live: every one settles" \
        wait_for '[ $(( $(stat delivered) + $(stat expired) )) = 20 ]' $((15 * slow))
    sleep 1
    check "most expire waiting for the rate ($(stat expired) of 20), the rest are sent" \
        sh -c "[ $(stat expired) -ge 10 ] && [ $(stat delivered) -ge 1 ]"
    ctl status $(seq 10 29 | sed 's/^/t-/') >"$tmp/t.status"
    sim_new >"$tmp/t.sim"
    check "every expired job is absent from the SMSC's log, every sent one there" \
        python3 - "$tmp/t.status" "$tmp/t.sim" <<'PY'
import json, sys
log = open(sys.argv[2]).read()
bad = 0
for line in open(sys.argv[1]):
    j = json.loads(line)
    num = "1202555" + "01" + j["id"].split("-")[1]
    sent = num in log
    if (j["state"] == "expired") == sent or j["state"] not in ("expired", "delivered"):
        print("wrong:", j["id"], j["state"], "in the SMSC's log" if sent else "not sent")
        bad += 1
    elif j["state"] == "expired" and "before a carrier took it" not in j.get("reason", ""):
        print("wrong reason:", line.strip())
        bad += 1
sys.exit(1 if bad else 0)
PY
    stop_flexd
    D=$D0
}

simstat() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$tmp/sim.json" "$1"; }

part_answer() {
    echo "== a receipt answered only once stored: nothing lost to a kill before"
    fresh
    restart_sim --dlr-delay-ms 1500
    start_flexd
    check "flexd up" ready
    job a-1 loc-1 +12025550091 | ctl enqueue - >/dev/null
    check "the job accepted" wait_for '[ "$(state a-1)" = accepted/ ]' $((10 * slow))
    redis-cli -p "$RP" client pause $((4000 * slow)) write >/dev/null
    sleep $((2 * slow)).5 # the receipt comes at 1.5 s; the writer cannot store it
    kill -9 "$FPID"
    wait "$FPID" 2>/dev/null
    sleep $((2 * slow)) # the pause over
    start_flexd
    check "the receipt delivered again to the next flexd: delivered" \
        wait_for '[ "$(state a-1)" = delivered/ ]' $((15 * slow))
    check "... smscsim counted it delivered again" \
        wait_for '[ "$(simstat redelivered)" = 1 ]' 3
    stop_flexd
    sleep 1.5 # smscsim's stats: once a second
    check "... and answered, once stored: nothing unanswered when flexd stops" \
        test "$(simstat redelivered)" = 1
    restart_sim $SIM_ARGS
}

# idem_of ID: the entry recorded for ID in the bucket hashes, if any
idem_of() {
    for k in $(redis-cli -p "$RP" --scan --pattern 'flex:idem:[0-9]*'); do
        redis-cli -p "$RP" hget "$k" "$1"
    done | grep .
}

part_idem() {
    echo "== idempotency records: bucket hashes, the older keys, the sweep"
    fresh
    now=$(($(date +%s) * 1000))
    # As after an upgrade: an older flexd recorded i-1 (another entry),
    # and the window for its keys is open.
    redis-cli -p "$RP" set flex:idem:legacy $((now + 3600000)) >/dev/null
    redis-cli -p "$RP" set flex:seen:i-1 "$((now - 60000))-0" ex 3600 >/dev/null
    # An expanded reminder's id is longer than a job id may be (up to 96
    # bytes): its older key is read whole.  A visit 20 h away: its 24 h
    # reminder, {id}/24h/{starts_at s}, is due at once.
    aid=a-$(printf 'x%.0s' $(seq 1 58)) # 60 bytes: the reminder's id is 75
    astart=$(python3 -c 'import time; print(int(time.time()) + 72000)')
    redis-cli -p "$RP" set "flex:seen:$aid/24h/$astart" "$((now - 60000))-0" ex 3600 >/dev/null
    # The sweep: one record past idempotency_days (30), one not.
    redis-cli -p "$RP" hset flex:idem:7 i-old "$((now - 31 * 86400000))-0" >/dev/null
    redis-cli -p "$RP" hset flex:idem:7 i-young "$((now - 29 * 86400000))-5" >/dev/null
    # ... and the same for jobs of JobBatch entries ("{entry}#{k}")
    redis-cli -p "$RP" hset flex:idem:7 i-old-b "$((now - 31 * 86400000))-0#12" >/dev/null
    redis-cli -p "$RP" hset flex:idem:7 i-young-b "$((now - 29 * 86400000))-5#3" >/dev/null
    sim_mark
    start_flexd
    check "flexd up" ready
    { job i-1 loc-1 +12025550061; job i-2 loc-1 +12025550062; } | ctl enqueue - >/dev/null
    check "a new id goes" wait_for '[ "$(state i-2)" = delivered/ ]' $((10 * slow))
    check "an id an older version recorded is a duplicate" \
        wait_for '[ "$(stat duplicates_suppressed)" = 1 ]' $((10 * slow))
    e=$(idem_of i-2)
    # (the entry itself is cut from flex:jobs within a second of settling:
    # its id is a time of the last minute)
    age=999
    case "$e" in *[!0-9-]* | "") ;; *-*) age=$(($(date +%s) - ${e%-*} / 1000)) ;; esac
    check "the new id recorded in a bucket hash, its stream entry the value" \
        test "$age" -ge 0 -a "$age" -lt 60
    check "no key of its own" test "$(redis-cli -p "$RP" exists flex:seen:i-2)" = 0
    job i-2 loc-1 +12025550062 | ctl enqueue - >/dev/null
    check "the same id again: a duplicate" wait_for '[ "$(stat duplicates_suppressed)" = 2 ]' $((10 * slow))
    check "... sent once in all (smscsim's log is flushed within a second)" \
        wait_for '[ "$(sim_new | grep -c 12025550062)" = 1 ]' 3
    check "the id the older version recorded not sent" not_sent 12025550061
    printf '{"type":"appointment","id":"%s","location":"loc-1","patient":"p-i5","phone":"+12025550065","first_name":"Ana","provider":"Dr. Lee","starts_at":"%s"}\n' \
        "$aid" "$(python3 -c 'import sys, datetime as d; print(d.datetime.fromtimestamp(int(sys.argv[1]), d.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))' "$astart")" |
        ctl enqueue - >/dev/null
    check "a 75-byte reminder id an older version recorded: a duplicate too" \
        wait_for '[ "$(stat duplicates_suppressed)" = 3 ]' $((10 * slow))
    check "... and not sent" not_sent 12025550065
    check "the sweep drops the record past idempotency_days" \
        wait_for '[ "$(redis-cli -p "$RP" hexists flex:idem:7 i-old)" = 0 ]' $((10 * slow))
    check "... and keeps the younger one" test "$(redis-cli -p "$RP" hexists flex:idem:7 i-young)" = 1
    check "... a batch job's alike" \
        sh -c "[ \"\$(redis-cli -p $RP hexists flex:idem:7 i-old-b)\" = 0 ] &&
               [ \"\$(redis-cli -p $RP hexists flex:idem:7 i-young-b)\" = 1 ]"
    check "every bucket a hash table from the start (its shaping field kept by the sweep)" \
        sh -c "[ \"\$(redis-cli -p $RP object encoding flex:idem:7)\" = hashtable ] &&
               [ \"\$(redis-cli -p $RP object encoding flex:idem:1023)\" = hashtable ] &&
               [ \"\$(redis-cli -p $RP hkeys flex:idem:7 | grep -c '^~flex-idem-bucket-kept')\" = 1 ]"
    stop_flexd
    # The window over: an older key no longer counts.
    redis-cli -p "$RP" set flex:idem:legacy 1 >/dev/null
    redis-cli -p "$RP" set flex:seen:i-3 "$((now - 60000))-0" ex 3600 >/dev/null
    start_flexd
    check "flexd up again" ready
    job i-3 loc-1 +12025550063 | ctl enqueue - >/dev/null
    check "after the window, an older version's key is not read" \
        wait_for '[ "$(state i-3)" = delivered/ ]' $((10 * slow))
    stop_flexd
}

part_refusal() {
    echo "== Redis refusing writes: no job acknowledged without its status"
    fresh
    start_flexd
    check "flexd up" ready
    stop_flexd # the group exists; the job waits for the next start
    job x-1 loc-1 +12025550080 "\"expires_at\":\"$(expires_in -60)\"" | ctl enqueue - >/dev/null
    redis-cli -p "$RP" config set maxmemory 1 >/dev/null
    start_flexd
    check "the job read by the intake (pending in the group)" \
        wait_for '[ "$(redis-cli -p "$RP" xpending flex:jobs flexd | head -1)" = 1 ] &&
            grep -q "OOM" "$log"' $((10 * slow))
    sleep 2 # several rounds refused
    check "still pending while its status cannot be written" \
        test "$(redis-cli -p "$RP" xpending flex:jobs flexd | head -1)" = 1
    check "no status written meanwhile" test "$(redis-cli -p "$RP" exists flex:job:x-1)" = 0
    redis-cli -p "$RP" config set maxmemory 0 >/dev/null
    check "once Redis takes writes: expired, with its reason" \
        wait_for '[ "$(state x-1)" = "expired/expired before it could be sent" ]' $((10 * slow))
    check "... and acknowledged" \
        wait_for '[ "$(redis-cli -p "$RP" xpending flex:jobs flexd | head -1)" = 0 ]' 5
    # a write Redis will never take (the job's key of another type) must
    # not stop the intake: logged, counted, and the next jobs go on
    redis-cli -p "$RP" set flex:job:x-2 squatter >/dev/null
    job x-2 loc-1 +12025550081 "\"expires_at\":\"$(expires_in -60)\"" | ctl enqueue - >/dev/null
    job x-3 loc-1 +12025550082 | ctl enqueue - >/dev/null
    check "a refused status write (WRONGTYPE) logged" \
        wait_for 'grep -q "redis refused 1 write: WRONGTYPE" "$log"' $((10 * slow))
    check "... and the next job sent all the same" wait_for '[ "$(stat delivered)" = 1 ]' $((10 * slow))
    check "nothing left pending" \
        wait_for '[ "$(redis-cli -p "$RP" xpending flex:jobs flexd | head -1)" = 0 ]' 5
    stop_flexd
}

# restart_sim [SMSCSIM FLAGS]: smscsim again on $SP (a new log from here on)
restart_sim() {
    kill "$sim" 2>/dev/null
    wait "$sim" 2>/dev/null
    sim_start "$SP" "$SIMLOG" "$tmp/sim.json" 300 "$@"
    sim=$last_sim
}

part_carriers() {
    echo "== a permanent rejection fails the job, a temporary one fails over"
    fresh
    SIMLOG=$tmp/simc.log simoff=0
    restart_sim --fail-rate 1 --fail-status 0x0B # ESME_RINVDSTADR: permanent
    "$B/httpsim" --listen "127.0.0.1:$HT" --callback-delay-ms 10 --log "$tmp/httpc.log" \
        --stats "$tmp/httpc.json" --max-seconds 300 &
    hs=$!
    pids="$pids $hs"
    wait_for 'curl -s -o /dev/null "http://127.0.0.1:$HT/"' 5
    D0=$D
    D="$D -D carrier.backup.url=http://127.0.0.1:$HT \
-D carrier.backup.status_callback=http://127.0.0.1:$HP/webhooks/backup/status"
    start_flexd # route: primary, backup
    check "both carriers up" wait_for '[ "$(metric "flex_carrier_up{carrier=\"backup\"}")" = 1 ] &&
        [ "$(metric "flex_carrier_up{carrier=\"primary\"}")" = 1 ]' 10
    for i in 0 1 2 3 4 5 6 7 8 9; do job "c-$i" loc-1 "+1202555020$i"; done | ctl enqueue - >/dev/null
    check "10 rejected permanently by the first carrier: failed" wait_for '[ "$(stat failed)" = 10 ]' 10
    check "... with its status as the reason" \
        sh -c "ctl() { \"$B/flexctl\" $D \"\$@\"; }; ctl status c-3 | grep -q '\"state\":\"failed\",.*ESME_RINVDSTADR'"
    sleep 1
    check "... none tried on the second carrier" grep -q '"received":0,' "$tmp/httpc.json"
    check "... and no number opted out for it" \
        sh -c "ctl() { \"$B/flexctl\" $D \"\$@\"; }; [ \"\$(ctl optout check +12025550203)\" != opted-out ]"
    stop_flexd
    restart_sim --fail-rate 1 # ESME_RSYSERR: temporary
    start_flexd
    check "both carriers up again" wait_for '[ "$(metric "flex_carrier_up{carrier=\"backup\"}")" = 1 ] &&
        [ "$(metric "flex_carrier_up{carrier=\"primary\"}")" = 1 ]' 10
    for i in 0 1 2 3 4 5 6 7 8 9; do job "d-$i" loc-1 "+1202555030$i"; done | ctl enqueue - >/dev/null
    check "10 refused for now by the first carrier: delivered by the second" \
        wait_for '[ "$(stat delivered)" = 10 ]' 15
    check "... every one by backup" \
        sh -c "ctl() { \"$B/flexctl\" $D \"\$@\"; }; [ \$(ctl status \$(seq 0 9 | sed 's/^/d-/') | grep -c '\"state\":\"delivered\",\"carrier\":\"backup\"') = 10 ]"
    stop_flexd
    kill "$hs" 2>/dev/null
    D=$D0
    SIMLOG=$tmp/simd.log simoff=0
    restart_sim --mo-follow "$MO"
}

mo() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$MO"; } # FROM TO TEXT
part_replies() {
    echo "== automatic replies: the daily cap, one optout_confirm"
    fresh
    sim_mark
    D0=$D
    D="$D -D engine.autoreply_per_day=2"
    start_flexd
    check "flexd ready" ready
    mo +12025550150 12025550100 HELP # three texts (the same text again is a carrier's copy)
    mo +12025550150 12025550100 'help!'
    mo +12025550150 12025550100 Info
    check "HELP three times against a cap of 2: two answers" \
        wait_for '[ "$(sim_new | grep -c "^12025550150	")" = 2 ]' 10
    mo +12025550151 12025550100 STOP
    check "STOP: opted out" wait_for '[ "$(ctl optout check +12025550151)" = opted-out ]' 10
    mo +12025550151 12025550100 'Stop texting me' # another text: fresh, the set unchanged
    check "its optout_confirm sent though the number is opted out" \
        wait_for '[ "$(sim_new | grep -c "^12025550151	.*unsubscribed")" = 1 ]' 10
    sleep 2
    check "STOP twice: one optout_confirm" test "$(sim_new | grep -c "^12025550151	")" = 1
    check "... the third HELP not answered" test "$(sim_new | grep -c "^12025550150	")" = 2
    check "... and counted capped" test "$(metric flex_autoreply_capped_total)" = 1
    stop_flexd
    D=$D0
}

for p in $parts; do
    case $p in
    receipts | batch | optout | expiry | carriers | replies | answer | idem | refusal) "part_$p" ;;
    *) echo "unknown part $p (receipts, batch, optout, expiry, carriers, replies, answer, idem, refusal)"; exit 2 ;;
    esac
done
echo "$fails failed"
[ "$fails" -eq 0 ]
