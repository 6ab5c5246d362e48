#!/bin/sh
# JobBatch entries (several jobs in one flex:jobs entry: flexctl enqueue
# --batch N, proto/flex.proto): each job checked, sent and recorded on its
# own; the entry acknowledged once every job in it is settled; a bad job
# dead-lettered alone, a bad or oversized batch job by job; a paused
# location's jobs held while the rest of their entry goes; a lost
# connection and a SIGKILL with batches half done: nothing lost, and no
# job whose outcome was stored is sent again.  Exit 0 pass, 77 skip.
NAME=jobbatch
EXTRA_D="-D carrier.primary.mps=1500"
. tests/integ/lib/env.sh

jobs() { # FIRST COUNT [LOCATION [NUMBER PREFIX]]: job b-i to +1202555{i}
    python3 - "$1" "$2" "${3:-}" "${4:-+1202555}" <<'PY'
import json, sys
first, count, loc, pre = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
for i in range(first, first + count):
    print(json.dumps({"type": "message", "id": f"b-{i}", "location": loc or f"loc-{i % 5 + 1}",
                      "patient": f"p-{i}", "phone": f"{pre}{i % 10000:04d}",
                      "template": "reminder_24h",
                      "vars": {"first_name": "Ana", "date": "Dec 1", "time": "9:30 AM"}}))
PY
}
pending() { redis-cli -p "$RP" XPENDING flex:jobs flexd | head -1; }
received() { sed -n 's/.*"received":\([0-9]*\).*/\1/p' "$tmp/sim.json"; }
# numbers the SMSC got more than once
twice() { cut -f1 "$tmp/sim.log" | sort | uniq -d | wc -l; }

# 1,000 jobs, 64 an entry; every 50th number opted out; b-3 again inside
# its own batch and b-100 again in a later one.
jobs 0 1000 >"$tmp/c1.jsonl"
awk 'NR % 50 == 1' "$tmp/c1.jsonl" | sed 's/.*"phone": "\([^"]*\)".*/\1/' >"$tmp/optouts.txt"
ctl optout import "$tmp/optouts.txt" >/dev/null
{ head -10 "$tmp/c1.jsonl"; sed -n 4p "$tmp/c1.jsonl"; tail -n +11 "$tmp/c1.jsonl"; sed -n 101p "$tmp/c1.jsonl"; } >"$tmp/c1d.jsonl"
check "enqueue --batch 64: 1,002 jobs" \
    sh -c "\"$B/flexctl\" $D enqueue --batch 64 '$tmp/c1d.jsonl' | grep -qx 'enqueued 1002, rejected 0'"
check "...in 16 entries" test "$(redis-cli -p "$RP" XLEN flex:jobs)" = 16
check "--batch out of range or without its value is a usage error" \
    sh -c "\"$B/flexctl\" $D enqueue --batch 65 /dev/null 2>/dev/null; [ \$? = 2 ] &&
           { \"$B/flexctl\" $D enqueue --batch 2>/dev/null; [ \$? = 2 ]; }"
check "status finds a job inside a queued batch" \
    sh -c "\"$B/flexctl\" $D status b-500 | grep -q '\"state\":\"queued\"'"
# An entry of three jobs, one for a location flexd does not know.
printf '%s\n' \
    '{"type":"message","id":"x-1","location":"loc-1","patient":"p","phone":"+12025558001","body":"a"}' \
    '{"type":"message","id":"x-2","location":"loc-9","patient":"p","phone":"+12025558002","body":"b"}' \
    '{"type":"message","id":"x-3","location":"loc-2","patient":"p","phone":"+12025558003","body":"c"}' |
    "$B/flexctl" $D -D location.loc-9.name=Nine -D location.loc-9.timezone=America/New_York \
        -D location.loc-9.phone=+12025550199 enqueue --batch 3 - >/dev/null

start_flexd
f1=$FPID
check "campaign settles: 980 + 2 sent" wait_for '[ "$(stat sent)" = 982 ]' 30
check "20 opted-out numbers suppressed" test "$(stat suppressed_optout)" = 20
check "two duplicates (in one batch, across two) refused" test "$(stat duplicates_suppressed)" = 2
check "the bad job alone dead-lettered" test "$(stat dead_letter)" = 1
check "its dead letter holds that job, with the reason" \
    sh -c "\"$B/flexctl\" $D deadletter list | grep '\"x-2\"' | grep -q \"unknown location 'loc-9'\""
check "every entry acknowledged" wait_for '[ "$(pending)" = 0 ]' 5
check "...and its marks of settled jobs deleted with it" \
    test "$(redis-cli -p "$RP" --scan --pattern 'flex:jb:*' | wc -l)" = 0
check "smscsim received exactly the sent" wait_for '[ "$(received)" = 982 ]' 5
check "no number texted twice" test "$(twice)" = 0
sed 's/^\+//' "$tmp/optouts.txt" >"$tmp/optouts.nop"
check "nothing sent to an opted-out number" \
    sh -c "! cut -f1 '$tmp/sim.log' | grep -qxF -f '$tmp/optouts.nop'"
check "status: a batch job delivered" \
    sh -c "\"$B/flexctl\" $D status b-7 | grep -q '\"state\":\"delivered\"'"

# Bytes no JobBatch is, and a batch of 65 jobs: dead letters, job by job.
redis-cli -p "$RP" XADD flex:jobs '*' jobs 'not a protobuf' >/dev/null
python3 tests/integ/lib/jobpb.py big 65 loc-1 >"$tmp/big.pb"
redis-cli -p "$RP" -x XADD flex:jobs '*' jobs <"$tmp/big.pb" >/dev/null
check "bad and oversized batches dead-lettered (1 + 65)" wait_for '[ "$(stat dead_letter)" = 67 ]' 10
ctl deadletter list >"$tmp/dl.txt"
check "...with their reasons" \
    sh -c "grep -q 'undecodable JobBatch' '$tmp/dl.txt' &&
           [ \$(grep -c 'JobBatch of 65 jobs: at most 64' '$tmp/dl.txt') = 65 ]"
check "...each replayable on its own" \
    sh -c "\"$B/flexctl\" $D deadletter list | grep -q '\"big-64\"'"
check "nothing sent of them" test "$(stat sent)" = 982
check "their entries acknowledged" wait_for '[ "$(pending)" = 0 ]' 5

# reply_to is flexd's own (its automatic replies pass opt-outs, pauses and
# quiet hours): a producer's job setting it is dead-lettered, never sent.
ctl optout add +12025550150 >/dev/null
python3 tests/integ/lib/jobpb.py reply_to rt-1 loc-1 +12025550150 >"$tmp/rt.pb"
redis-cli -p "$RP" -x XADD flex:jobs '*' job <"$tmp/rt.pb" >/dev/null
check "a producer's optout_confirm with reply_to, to an opted-out number: dead-lettered" \
    wait_for '[ "$(stat dead_letter)" = 68 ]' 10
check "...with its reason, and never sent" \
    sh -c "ctl() { \"$B/flexctl\" $D \"\$@\"; }; ctl deadletter list | grep '\"rt-1\"' | grep -q \"reply_to is flexd's own\" &&
           ! grep -q '^+\{0,1\}12025550150	' '$tmp/sim.log'"
# An entry without a job field (a producer's typo): dead-lettered with its
# fields as the payload, not an empty one.
redis-cli -p "$RP" XADD flex:jobs '*' Job '{"body":"typo in the field name"}' >/dev/null
check "an entry without a job field: dead-lettered, its fields kept as the payload" \
    wait_for '[ "$(stat dead_letter)" = 69 ] &&
              redis-cli -p $RP --raw XRANGE flex:deadletter - + | grep -q "typo in the field name"' 10

# A paused location's jobs are held while the rest of their entries go;
# the entries stay pending until resume sends the held jobs.
ctl location pause loc-2 >/dev/null
sleep 0.5
jobs 2000 500 >"$tmp/p.jsonl"
ctl enqueue --batch 50 "$tmp/p.jsonl" >/dev/null
check "paused: the other locations' 400 go" wait_for '[ "$(stat sent)" = 1382 ]' 20
sleep 0.5
check "...loc-2's 100 held: every entry waits for them" test "$(pending)" = 10
# their entries' marks of the jobs settled last as long as the hold: their
# TTL is set again while flexd holds the jobs (here every claim_idle / 3)
mark=$(redis-cli -p "$RP" --scan --pattern 'flex:jb:*' | head -1)
redis-cli -p "$RP" EXPIRE "$mark" 100 >/dev/null
check "a held batch's mark kept alive while held" \
    wait_for '[ "$(redis-cli -p $RP TTL "$mark")" -gt 1000 ]' 5
ctl location resume loc-2 >/dev/null
check "resumed: the held 100 go" wait_for '[ "$(stat sent)" = 1482 ]' 10
check "...and every entry is acknowledged" wait_for '[ "$(pending)" = 0 ]' 5

# Batch entries read while flexd's records (8,192) are nearly all taken,
# right after reads of single-job entries (which size the next read by
# entries): the jobs without a record, and single-job entries behind them,
# stay pending and are read again; each sent once.  Queued before flexd
# starts, so that its reads meet them in this order.
jobs 40000 8400 "" +1505555 >"$tmp/s1.jsonl"
jobs 10000 3000 "" +1303555 >"$tmp/s2.jsonl"
jobs 30000 20 "" +1404555 >"$tmp/s3.jsonl"
kill -TERM "$f1" # all queued before a flexd reads: the reads' order is fixed
wait "$f1"
ctl enqueue "$tmp/s1.jsonl" >/dev/null
ctl enqueue --batch 64 "$tmp/s2.jsonl" >/dev/null
ctl enqueue "$tmp/s3.jsonl" >/dev/null
start_flexd
f1=$FPID
check "8,400 single jobs, then 3,000 in batches and 20 single ones: all sent" \
    wait_for '[ "$(stat sent)" = 12902 ]' 40
check "...nothing left pending" wait_for '[ "$(pending)" = 0 ]' 10
check "...no number twice" test "$(twice)" = 0

# Every connection of flexd cut while batches are half sent (the carrier at
# 1,500 msg/s): read again from our pending list, each job exactly once.
s0=$(stat sent)
sleep 1.2 # smscsim rewrites its stats every second
r0=$(received)
jobs 3000 3000 >"$tmp/k.jsonl"
ctl enqueue --batch 64 "$tmp/k.jsonl" >/dev/null
wait_for '[ "$(stat sent)" -gt $((s0 + 600)) ]' 20
redis-cli -p "$RP" CLIENT KILL TYPE normal >/dev/null
check "connections cut: every job sent" wait_for '[ "$(stat sent)" = $((s0 + 3000)) ]' 30
check "...nothing left pending" wait_for '[ "$(pending)" = 0 ]' 10
sleep 1.2 # smscsim rewrites its stats every second
check "...each once at the SMSC" test "$(($(received) - r0))" = 3000
check "...no number twice" test "$(twice)" = 0

# SIGKILL with batches half done, and a new flexd (it claims the dead one's
# entries after engine.claim_idle): jobs whose outcome was stored before
# the kill are not sent again (the settled check of a batch taken again);
# only those in flight at the kill may be.
s0=$(stat sent)
jobs 6000 3000 >"$tmp/s.jsonl"
ctl enqueue --batch 64 "$tmp/s.jsonl" >/dev/null
wait_for '[ "$(stat sent)" -gt $((s0 + 900)) ]' 20
kill -9 "$f1"
wait "$f1" 2>/dev/null
check "killed with entries pending" test "$(pending)" -gt 0
# the jobs of this campaign recorded as sent when flexd died
for k in $(redis-cli -p "$RP" KEYS 'flex:hist:*'); do redis-cli -p "$RP" HKEYS "$k"; done |
    sed -n 's/^b-\(6[0-9][0-9][0-9]\|7[0-9][0-9][0-9]\|8[0-9][0-9][0-9]\)$/\1/p' | sort -u >"$tmp/settled.txt"
echo "     $(wc -l <"$tmp/settled.txt") jobs of the campaign settled at the kill"
start_flexd
check "after the kill every job is sent" wait_for '[ "$(stat sent)" -ge $((s0 + 3000)) ]' 40
check "...nothing left pending" wait_for '[ "$(pending)" = 0 ]' 10
sleep 1.2
cut -f1 "$tmp/sim.log" | sort | uniq -d | sed -n 's/^1202555//p' >"$tmp/twice.txt"
echo "     $(wc -l <"$tmp/twice.txt") numbers texted twice (in flight at the kill)"
check "no job settled before the kill sent again" \
    test "$(sort "$tmp/settled.txt" "$tmp/twice.txt" | uniq -d | wc -l)" = 0
check "duplicates at most what was in flight" test "$(wc -l <"$tmp/twice.txt")" -le 1792

[ "$fails" -eq 0 ] || exit 1
