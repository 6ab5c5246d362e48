#!/bin/sh
# A deletion request: flexctl patient forget PHONE|PATIENT removes the
# patient's message history and reply context, scheduled texts, inbound
# texts, front-desk entries and dead letters from Redis, keeps the opt-out record (and
# says so), leaves other patients alone, and is in the audit log by ids.
# Exit 0 pass, 77 skip.
NAME=forget
MO=/tmp/flex-forget-mo.$$
: >"$MO"
SIM_ARGS="--mo-follow $MO"
. tests/integ/lib/env.sh
trap 'cleanup; rm -f "$MO"' EXIT
later=$(python3 -c 'import datetime as d; print((d.datetime.now(d.timezone.utc)+d.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))')
cat >"$tmp/jobs.jsonl" <<EOF
{"type":"message","id":"f-1","location":"loc-1","patient":"p-42","phone":"+12025550142","body":"See you tomorrow at 9:30."}
{"type":"message","id":"f-2","location":"loc-1","patient":"p-43","phone":"+12025550143","body":"See you Friday at 10:00."}
{"type":"message","id":"f-3","location":"loc-1","patient":"p-42","phone":"+12025550142","body":"Later text.","send_at":"$later"}
{"type":"message","id":"f-4","location":"loc-1","patient":"p-44","phone":"+12025550144","body":"Your visit is due."}
EOF
start_flexd
check "flexd ready" wait_for 'curl -sf http://127.0.0.1:$HP/readyz >/dev/null' 10
ctl enqueue "$tmp/jobs.jsonl" >/dev/null
check "three sent, one scheduled" wait_for '[ "$(stat sent)" = 3 ] && [ "$(redis-cli -p $RP ZCARD flex:sched)" = 1 ]' 15
printf '+12025550142\t+12025550100\tCan I move it to Monday?\n' >>"$MO"
check "the patient's reply reached the front desk" \
    wait_for '[ "$(redis-cli -p $RP XLEN flex:frontdesk:loc-1)" = 1 ]' 10
# Dead letters (a location only flexctl knows; bytes that are no job):
# two of +12025550142, one of another patient.
for n in 42 43; do
    echo '{"type":"message","id":"dl-'$n'","location":"loc-9","patient":"p-'$n'","phone":"+120255501'$n'","body":"hi"}' |
        "$B/flexctl" $D -D location.loc-9.name=Nine -D location.loc-9.timezone=America/Chicago \
            -D location.loc-9.phone=+13125550199 enqueue - >/dev/null
done
python3 - "$RP" <<'PY'
import socket, sys
args = [b"XADD", b"flex:jobs", b"*", b"job", b"\xff\xff\xff call +12025550142 \xff"]
cmd = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(cmd)
s.recv(100)
PY
check "three dead letters" wait_for '[ "$(redis-cli -p $RP XLEN flex:deadletter)" = 3 ]' 10
ctl optout add +12025550142 >/dev/null
check "history of +12025550142: out and in" \
    wait_for '[ "$(ctl history +12025550142 2>/dev/null | wc -l)" = 2 ]' 5
# Queued, not read by a flexd (none runs now): a job on flex:jobs, an
# automatic reply on the urgent lane, and the day's count of automatic
# replies, whose key names the number.
check "every settled job cut from flex:jobs (within a second)" \
    wait_for '[ "$(redis-cli -p $RP XLEN flex:jobs)" = 0 ]' 5
kill -TERM "$FPID"
wait "$FPID" 2>/dev/null
echo '{"type":"message","id":"f-5","location":"loc-1","patient":"p-42","phone":"+12025550142","body":"Queued."}' |
    ctl enqueue - >/dev/null
python3 tests/integ/lib/jobpb.py reply_to auto-1 loc-1 +12025550142 |
    redis-cli -p "$RP" -x XADD flex:jobs:urgent '*' job >/dev/null
redis-cli -p "$RP" SET "flex:auto:+12025550142:20000" 1 >/dev/null
ctl patient forget +12025550142 >"$tmp/forget.out" 2>&1
rc=$?
cat "$tmp/forget.out"
check "patient forget exits 0" test $rc -eq 0
check "... says what it removed" grep -q "removed: 2 message-log records (history and reply context), 1 scheduled texts, 1 inbound texts, 1 front-desk" "$tmp/forget.out"
check "... its two dead letters (one undecodable) among them" grep -q ", 2 dead letters" "$tmp/forget.out"
check "... the other patient's dead letter kept" \
    sh -c "[ \"\$(redis-cli -p $RP XLEN flex:deadletter)\" = 1 ] && \"$B/flexctl\" $D deadletter list | grep -q '\"job_id\":\"dl-43\"'"
check "... and that the opt-out record is kept" grep -q "kept: the opt-out record" "$tmp/forget.out"
check "history of +12025550142 is empty" sh -c "[ -z \"\$(\"$B/flexctl\" $D history +12025550142 2>/dev/null)\" ]"
check "no scheduled text of it is left" test "$(redis-cli -p "$RP" ZCARD flex:sched)" = 0
check "no inbound entry of it is left" test "$(redis-cli -p "$RP" XLEN flex:inbound)" = 0
check "no front-desk entry of it is left" test "$(redis-cli -p "$RP" XLEN flex:frontdesk:loc-1)" = 0
check "no queued job or automatic reply of it is left, nor its reply count" \
    sh -c "grep -q ', 2 queued jobs and automatic replies' '$tmp/forget.out' &&
           ! redis-cli -p $RP --raw XRANGE flex:jobs - + | grep -aq 12025550142 &&
           ! redis-cli -p $RP --raw XRANGE flex:jobs:urgent - + | grep -aq 12025550142 &&
           [ -z \"\$(redis-cli -p $RP --scan --pattern 'flex:auto:+12025550142:*')\" ]"
check "the opt-out is still there" test "$(ctl optout check +12025550142)" = opted-out
check "another patient's history is untouched" test "$(ctl history +12025550143 | wc -l)" = 1
ctl patient forget p-44 >"$tmp/forget2.out" 2>&1
check "forget by patient id: its record goes" grep -q "removed: 1 message-log records" "$tmp/forget2.out"
check "... and its history is empty" sh -c "[ -z \"\$(\"$B/flexctl\" $D history +12025550144 2>/dev/null)\" ]"
check "... p-43 still untouched" test "$(ctl history p-43 | wc -l)" = 1
ctl patient forget p-43 >"$tmp/forget3.out" 2>&1
check "forget by patient id: its dead letter goes" \
    sh -c "grep -q ', 1 dead letters' '$tmp/forget3.out' && [ \"\$(redis-cli -p $RP XLEN flex:deadletter)\" = 0 ]"
check "the audit log has both deletions, by ids and masked numbers" \
    sh -c "grep -q '\"ev\":\"forget\".*\"phone\":\"+1202555\*\*\*\*\"' '$tmp/audit.log' &&
           grep -q '\"ev\":\"forget\".*\"patient\":\"p-44\"' '$tmp/audit.log'"
check "... and its chain is intact" sh -c "\"$B/flexctl\" $D audit verify >/dev/null"
echo "$fails failed"
[ "$fails" -eq 0 ]
