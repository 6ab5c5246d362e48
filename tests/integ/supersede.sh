#!/bin/sh
# An older version of an appointment applied after a newer one changes
# nothing.  A flexd reads version 1 of two appointments and dies before
# writing their plans (a consumer that reads and never acknowledges: a
# kill -9 at that point); a reschedule of the first and a cancellation of
# the second are applied by a running flexd; then that flexd claims the
# dead one's entries (engine.claim_idle).  The newest version the stream
# holds must stay: no reminder for the cancelled visit, none for the old
# time, the new time's reminders kept, the status records of the newest.
# Exit 0 pass, 77 skip (no redis-server).
NAME=supersede
EXTRA_D="-D engine.claim_idle=6s"
. tests/integ/lib/env.sh

py() { python3 -c "$@"; }
iso_in() { py "import sys,time,datetime as d; print(d.datetime.fromtimestamp(time.time()+float(sys.argv[1]),d.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))" "$1"; }
epoch() { py "import sys,datetime as d; print(int(d.datetime.strptime(sys.argv[1],'%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=d.timezone.utc).timestamp()))" "$1"; }
state() { ctl status "$1" | sed -n 's/.*"state":"\([a-z_]*\)".*/\1/p'; }
parent() { redis-cli -p "$RP" HGET "flex:parent:appointment:$1" "$2"; }
appt() { # ID PHONE STARTS_AT STATUS
    printf '{"type":"appointment","id":"%s","location":"loc-1","patient":"p-%s","phone":"%s","first_name":"Ana","starts_at":"%s","status":"%s"}\n' \
        "$1" "$1" "$2" "$3" "$4" | ctl enqueue - >/dev/null
}
dead_read() { # the dead flexd's read of the next entry
    redis-cli -p "$RP" XREADGROUP GROUP flexd deadhost-1 COUNT 1 STREAMS flex:jobs '>' >/dev/null
}
texts_to() { grep -c "^+\{0,1\}$1	" "$tmp/sim.log" 2>/dev/null || true; }

start_flexd
check "flexd ready (its consumer group made)" \
    wait_for 'curl -sf http://127.0.0.1:$HP/readyz >/dev/null' 10
kill -TERM "$FPID"
wait "$FPID" 2>/dev/null

# Version 1 of each: 2 h and ~15 s away, so that their 2 h reminders are
# due ~15 s from now.
sA=$(iso_in 7215) sB=$(iso_in 7217) sA2=$(iso_in 432000)
vA=$(epoch "$sA") vB=$(epoch "$sB") vA2=$(epoch "$sA2")
appt a-A +12025550161 "$sA" scheduled
dead_read
appt a-B +12025550162 "$sB" scheduled
dead_read
check "the dead flexd holds both first versions, unacknowledged" \
    test "$(redis-cli -p "$RP" XPENDING flex:jobs flexd | head -1)" = 2

start_flexd
check "a flexd up again" wait_for 'curl -sf http://127.0.0.1:$HP/readyz >/dev/null' 10
appt a-A +12025550161 "$sA2" scheduled # the reschedule, five days on
appt a-B +12025550162 "$sB" cancelled  # the cancellation
check "the newer versions applied (a-A at its new time, a-B cancelled)" \
    wait_for '[ "$(parent a-A v)" = "${vA2}000" ] && [ "$(parent a-B v)" = 0 ]' 5
check "the first versions claimed from the dead flexd and settled" \
    wait_for '[ "$(redis-cli -p "$RP" XPENDING flex:jobs flexd | head -1)" = 0 ]' 20
check "... a-A's record still holds the new time" test "$(parent a-A v)" = "${vA2}000"
check "... a-B's still cancelled" test "$(parent a-B v)" = 0
check "... the new time's 24 h and 2 h reminders still planned" \
    sh -c "[ -n \"\$(redis-cli -p $RP ZSCORE flex:sched a-A/24h/$vA2)\" ] &&
           [ -n \"\$(redis-cli -p $RP ZSCORE flex:sched a-A/2h/$vA2)\" ]"
check "... neither old 2 h reminder planned again" \
    sh -c "[ -z \"\$(redis-cli -p $RP ZSCORE flex:sched a-A/2h/$vA)\" ] &&
           [ -z \"\$(redis-cli -p $RP ZSCORE flex:sched a-B/2h/$vB)\" ]"
check "... the appointments' status records are the newest versions'" \
    sh -c "[ \"\$(redis-cli -p $RP HGET flex:job:a-B reason)\" = cancelled ] &&
           [ \"\$(redis-cli -p $RP HGET flex:job:a-A send_at)\" -gt $(((vA2 - 3 * 86400 - 600) * 1000)) ]"
check "... and the superseded version's reminders have no record saying scheduled" \
    test -z "$(redis-cli -p "$RP" HGET "flex:job:a-B/2h/$vB" state)"
now=$(date +%s)
[ "$now" -lt $((vB - 7200 + 3)) ] && sleep $((vB - 7200 + 3 - now))
check "past the old 2 h reminders' time: no text for the cancelled visit or the old time" \
    test "$(texts_to 12025550161)$(texts_to 12025550162)" = 00

[ "$fails" -eq 0 ]
