#!/bin/sh
# [retention]: the streams that hold PHI (inbound texts, dead letters, the
# opt-out log, the front desks, confirmations, escalations, the automatic
# replies) are cut to their age by flexd, younger entries stay; settled
# jobs leave flex:jobs.  Exit 0 pass, 77 skip.
NAME=retention
EXTRA_D="-D retention.inbound_days=1 -D retention.deadletter_days=2 -D retention.optout_log_days=3 -D retention.staff_days=1"
. tests/integ/lib/env.sh
now=$(($(date +%s) * 1000))
day=86400000
# ID_AGE_DAYS STREAM: one entry that many days old (half days allowed: x10)
old() { redis-cli -p "$RP" XADD "$2" "$((now - $1 * day / 10))-0" f v >/dev/null; }
for s in flex:inbound flex:frontdesk flex:frontdesk:loc-1 flex:confirmations flex:escalations; do
    old 15 "$s" # 1.5 days: past 1 day
    old 5 "$s"  # 0.5 day: kept
done
old 25 flex:deadletter # 2.5 days: past 2
old 15 flex:deadletter # 1.5: kept
old 35 flex:optout:log # 3.5 days: past 3
old 25 flex:optout:log # 2.5: kept
old 30 flex:jobs:urgent # 3 hours: an automatic reply long dead
old 1 flex:jobs:urgent  # 2.4 hours: past its 2
redis-cli -p "$RP" XADD flex:jobs:urgent "$((now - 3600000))-0" f v >/dev/null # 1 hour: kept
redis-cli -p "$RP" SADD flex:optout +12025550111 >/dev/null
start_flexd
check "flexd up" wait_for 'curl -sf http://127.0.0.1:$HP/healthz >/dev/null' 10
for s in flex:inbound flex:frontdesk flex:frontdesk:loc-1 flex:confirmations flex:escalations \
    flex:deadletter flex:optout:log; do
    check "$s: the entry past its retention is gone, the younger one stays" \
        wait_for "[ \"\$(redis-cli -p $RP XLEN $s)\" = 1 ]" 5
done
check "flex:jobs:urgent: automatic replies older than 2 hours gone" \
    wait_for '[ "$(redis-cli -p $RP XLEN flex:jobs:urgent)" = 1 ]' 5
# A few jobs (a quiet practice: fewer than a stream node's 100 entries),
# three sent and settled, then one held by a pause (pending): the settled
# entries (a phone, a text) go within seconds though their stream node
# holds one not settled ("~" cuts whole nodes only); the held one stays.
ctl location pause loc-2 >/dev/null
for i in 1 2 3; do
    echo '{"type":"message","id":"q-'$i'","location":"loc-1","patient":"p","phone":"+1202555014'$i'","body":"Your visit is Tuesday"}'
done | ctl enqueue - >/dev/null
check "three jobs sent" wait_for '[ "$(stat sent)" = 3 ]' 10
echo '{"type":"message","id":"q-4","location":"loc-2","patient":"p","phone":"+12025550144","body":"Held"}' |
    ctl enqueue - >/dev/null
check "... their settled entries cut from flex:jobs (exact, not ~), the held one kept" \
    wait_for '[ "$(redis-cli -p $RP XLEN flex:jobs)" = 1 ]' 5
ctl location resume loc-2 >/dev/null
check "... and once it is sent, it goes too" \
    wait_for '[ "$(stat sent)" = 4 ] && [ "$(redis-cli -p $RP XLEN flex:jobs)" = 0 ]' 10
check "the opt-out set itself is kept whole" \
    test "$(redis-cli -p "$RP" SISMEMBER flex:optout +12025550111)" = 1
echo "$fails failed"
[ "$fails" -eq 0 ]
