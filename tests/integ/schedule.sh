#!/bin/sh
# Scheduling end to end: appointments expanded into reminders (catch-up of
# a missed one, the rest promoted from the scheduled set when due),
# reschedules and cancellations (also of a reminder already promoted and
# held), recalls, send_at, quiet hours in the location's zone, and the
# per-patient frequency cap after a config reload.  Exit 0 pass, 77 skip.
NAME=sched
mkdir -p /tmp/flex-sched-conf.$$
CONF=/tmp/flex-sched-conf.$$/flexd.conf
cp deploy/flexd.conf "$CONF"
sed -i 's/^\[engine\]/[engine]\ncap_per_day = 0/' "$CONF"
. tests/integ/lib/env.sh
trap 'cleanup; rm -rf /tmp/flex-sched-conf.$$' EXIT
start_flexd
f1=$FPID
wait_for 'ctl stats >/dev/null 2>&1 && [ -n "$(redis-cli -p $RP EXISTS flex:jobs | grep 1)" ]' 10

# py SCRIPT ARGS: small time computations (zoneinfo reads the same tz files).
py() { python3 -c "$@"; }
iso_in() { py "import sys,time,datetime as d; print(d.datetime.fromtimestamp(time.time()+float(sys.argv[1]),d.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))" "$1"; }
epoch() { py "import sys,datetime as d; print(int(d.datetime.strptime(sys.argv[1],'%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=d.timezone.utc).timestamp()))" "$1"; }
state() { ctl status "$1" | sed -n 's/.*"state":"\([a-z_]*\)".*/\1/p'; }
field() { redis-cli -p "$RP" HGET "flex:job:$1" "$2"; }
appt() { # ID PATIENT STARTS_AT [STATUS [LOCATION]]
    printf '{"type":"appointment","id":"%s","location":"%s","patient":"%s","phone":"+12025550%s","first_name":"Ana","provider":"Dr. Lee","starts_at":"%s","status":"%s"}\n' \
        "$1" "${5:-loc-1}" "$2" "$(printf '%03d' $(($(echo "$2" | tr -dc 0-9) % 1000)))" "$3" "${4:-scheduled}" |
        ctl enqueue - >/dev/null
}

# 0. An appointment 20 h away: the missed 24 h reminder goes at once (the
# 2 h one is 18 h off), the 72 h one is skipped.
s0=$(iso_in 72000)
v0=$(epoch "$s0")
appt a-0 p-100 "$s0"
check "booked 20 h ahead: 2 planned, 1 skipped" \
    wait_for '[ "$(field a-0 reason)" = "expanded:2 skipped:1" ]' 5
check "booked 20 h ahead: the missed 24 h reminder goes at once" \
    wait_for '[ "$(state a-0/24h/$v0)" = delivered ]' 5
check "booked 20 h ahead: the 2 h one waits for its time" \
    test "$(redis-cli -p $RP ZSCORE flex:sched a-0/2h/$v0)" = "$(((v0 - 7200) * 1000))"

# 1. An appointment 2 h + 5 s away: the 24 h reminder is not caught up (the
# 2 h one is 5 s off), the 2 h one goes when due.
s1=$(iso_in 7205)
v1=$(epoch "$s1")
appt a-1 p-101 "$s1"
check "booked 2 h ahead: 1 planned, 2 skipped" \
    wait_for '[ "$(field a-1 reason)" = "expanded:1 skipped:2" ]' 5
check "2 h reminder waits in the scheduled set" \
    test -n "$(redis-cli -p $RP ZSCORE flex:sched a-1/2h/$v1)"
check "2 h reminder promoted and sent when due" wait_for '[ "$(state a-1/2h/$v1)" = delivered ]' 12
local_time=$(py "import sys,datetime as d,zoneinfo as z; t=d.datetime.fromtimestamp(int(sys.argv[1]),z.ZoneInfo('America/New_York')); print(t.strftime('%b ')+str(t.day), t.strftime('%I:%M %p').lstrip('0'))" "$v1")
want_time=$(echo "$local_time" | cut -d' ' -f3-)
check "reminder text shows the visit in the practice's zone ($local_time)" \
    wait_for 'grep -qF "$want_time" "$tmp/sim.log"' 3 # smscsim flushes its log every second

# 1b. An appointment without a provider, 71.5 h away: nothing dead-lettered;
# the missed 72 h reminder goes at once, its "with {provider}" (an optional
# part of the shipped template) left out.
s1b=$(iso_in 257400)
v1b=$(epoch "$s1b")
printf '{"type":"appointment","id":"a-1b","location":"loc-1","patient":"p-1b","phone":"+12025550111","first_name":"Noor","starts_at":"%s"}\n' \
    "$s1b" | ctl enqueue - >/dev/null
check "no provider: all three reminders planned (none dead-lettered)" \
    wait_for '[ "$(field a-1b reason)" = "expanded:3 skipped:0" ]' 5
check "no provider: the 72 h reminder sent" wait_for '[ "$(state a-1b/72h/$v1b)" = delivered ]' 5
check "... its text without \"with\"" \
    wait_for 'grep -q "Hi Noor, .* reminder: .* at [0-9:]* [AP]M\. Reply C" "$tmp/sim.log"' 3

# 2. Reschedule: the old 2 h reminder (due in 4 s) is replaced by one an
# hour later; nothing goes out for the old time.
s2=$(iso_in 7204)
v2=$(epoch "$s2")
appt a-2 p-102 "$s2"
wait_for '[ "$(state a-2/2h/$v2)" = scheduled ]' 5
s2b=$(iso_in 10800)
v2b=$(epoch "$s2b")
appt a-2 p-102 "$s2b"
# Out of the set, and never sent: still "scheduled", or "suppressed" when a
# slow machine (a sanitizer build) promoted it before the reschedule was
# read and the check before the carrier stopped it.
check "rescheduled: the old reminder never goes" \
    wait_for 'test -z "$(redis-cli -p $RP ZSCORE flex:sched a-2/2h/$v2)" && case "$(state a-2/2h/$v2)" in scheduled | suppressed) true ;; *) false ;; esac' 10
check "rescheduled: the new one waits for its time" \
    test "$(redis-cli -p $RP ZSCORE flex:sched a-2/2h/$v2b)" = "$(((v2b - 7200) * 1000))"

# 3. Cancellation removes what is pending.
s3=$(iso_in 7204)
v3=$(epoch "$s3")
appt a-3 p-103 "$s3"
wait_for '[ "$(state a-3/2h/$v3)" = scheduled ]' 5
appt a-3 p-103 "$s3" cancelled
check "cancelled appointment: state suppressed/cancelled" \
    wait_for '[ "$(state a-3)" = suppressed ] && [ "$(field a-3 reason)" = cancelled ]' 5
sleep 5
check "cancelled: its 2 h reminder never goes" test "$(state a-3/2h/$v3)" = scheduled

# 4. A reminder already promoted and held (paused location) when its
# appointment is cancelled is stopped by the gate.
ctl location pause loc-2 >/dev/null
sleep 0.5
s4=$(iso_in 7203)
v4=$(epoch "$s4")
appt a-4 p-104 "$s4" scheduled loc-2
sleep 5 # the reminder is now on the stream, held
appt a-4 p-104 "$s4" cancelled loc-2
sleep 1
ctl location resume loc-2 >/dev/null
check "held reminder of a cancelled visit is suppressed" \
    wait_for '[ "$(state a-4/2h/$v4)" = suppressed ] && [ "$(field a-4/2h/$v4 reason)" = cancelled ]' 10

# 5. A recall due in 14 days: the first text today at 10:00 local (or now,
# when that has passed), then 7 and 30 days after due at 10:00 local.
due=$(py "import datetime as d,zoneinfo as z; print((d.datetime.now(z.ZoneInfo('America/Chicago')).date()+d.timedelta(days=14)).isoformat())")
printf '{"type":"recall","id":"r-1","location":"loc-2","patient":"p-201","phone":"+12025550201","first_name":"Ana","due":"%s"}\n' "$due" |
    ctl enqueue - >/dev/null
want7=$(py "import sys,datetime as d,zoneinfo as z; t=d.datetime.combine(d.date.fromisoformat(sys.argv[1])+d.timedelta(days=7),d.time(10,0),z.ZoneInfo('America/Chicago')); print(int(t.timestamp()*1000))" "$due")
want30=$(py "import sys,datetime as d,zoneinfo as z; t=d.datetime.combine(d.date.fromisoformat(sys.argv[1])+d.timedelta(days=30),d.time(10,0),z.ZoneInfo('America/Chicago')); print(int(t.timestamp()*1000))" "$due")
vr=$(epoch "${due}T00:00:00Z")
check "recall: 7 days after due at 10:00 Chicago time" \
    wait_for '[ "$(redis-cli -p $RP ZSCORE flex:sched r-1/7d/$vr)" = "$want7" ]' 5
check "recall: 30 days after due at 10:00 Chicago time" \
    test "$(redis-cli -p $RP ZSCORE flex:sched r-1/30d/$vr)" = "$want30"
check "recall: the first text is sent or waits for 10:00 today" \
    wait_for '[ "$(state r-1/due/$vr)" = delivered ] || [ "$(state r-1/due/$vr)" = scheduled ]' 5

# 6. send_at: a message for later waits, then goes.
at=$(iso_in 3)
printf '{"type":"message","id":"m-later","location":"loc-1","patient":"p-301","phone":"+12025550301","body":"See you soon","send_at":"%s"}\n' "$at" |
    ctl enqueue - >/dev/null
check "send_at: scheduled first" wait_for '[ "$(state m-later)" = scheduled ]' 3
check "send_at: sent when due" wait_for '[ "$(state m-later)" = delivered ]' 10

# 7. Quiet hours: make "now" quiet at loc-5 (Los Angeles) until the next
# minute; a message there waits for exactly that local time.
qs=$(py "import datetime as d,zoneinfo as z; n=d.datetime.now(z.ZoneInfo('America/Los_Angeles')); a=n-d.timedelta(hours=1); b=n.replace(second=0,microsecond=0)+d.timedelta(minutes=2); print(a.strftime('%H:%M'), b.strftime('%H:%M'), int(b.timestamp()*1000))")
sed -i "/^\[quiet_hours\]/,/^\[carrier/ { s/^start = .*/start = $(echo $qs | cut -d' ' -f1)/; s/^end = .*/end = $(echo $qs | cut -d' ' -f2)/ }" "$CONF"
D=$(echo "$D" | sed 's/-D quiet_hours.enabled=false//')
kill -TERM "$f1"
wait "$f1"
start_flexd
f1=$FPID
printf '{"type":"message","id":"m-quiet","location":"loc-5","patient":"p-401","phone":"+12025550401","body":"Your crown is ready"}\n' |
    ctl enqueue - >/dev/null
check "quiet hours: the message waits" wait_for '[ "$(state m-quiet)" = scheduled ]' 5
check "quiet hours: until their end, Los Angeles time" \
    test "$(redis-cli -p $RP ZSCORE flex:sched m-quiet)" = "$(echo $qs | cut -d' ' -f3)"

# 8. The frequency cap (1 a day), set by a reload: one patient, two
# appointments; the first one's caught-up 24 h reminder goes, the second
# one's 2 h reminder the same day is capped.
sed -i 's/^cap_per_day = 0$/cap_per_day = 1/' "$CONF"
sed -i '/^\[quiet_hours\]/,/^\[carrier/ s/^enabled = true$/enabled = false/' "$CONF"
ctl reload >/dev/null
sleep 1.5
s8=$(iso_in 72000)
v8=$(epoch "$s8")
appt a-8 p-108 "$s8"
check "cap: first reminder of the day goes" wait_for '[ "$(state a-8/24h/$v8)" = delivered ]' 5
s9=$(iso_in 7203)
v9=$(epoch "$s9")
appt a-9 p-108 "$s9"
check "cap: second one that day is suppressed" \
    wait_for '[ "$(state a-9/2h/$v9)" = suppressed ] && [ "$(field a-9/2h/$v9 reason)" = frequency_cap ]' 12

# 8b. Held jobs released together: an opted-out one among them must not
# shift the gate's answers onto the wrong jobs (the suppression's own
# writes used to come back first: both reminders went out uncapped).
ctl location pause loc-3 >/dev/null
ctl optout add +12025550111 >/dev/null
sleep 0.5
printf '{"type":"message","id":"m-held-out","location":"loc-3","patient":"p-111","phone":"+12025550111","body":"Held, then opted out"}\n' |
    ctl enqueue - >/dev/null
s10=$(iso_in 72000)
v10=$(epoch "$s10")
s11=$(iso_in 72600)
v11=$(epoch "$s11")
appt a-10 p-110 "$s10" scheduled loc-3
appt a-11 p-110 "$s11" scheduled loc-3
wait_for '[ "$(state a-10/24h/$v10)" = scheduled ] && [ "$(state a-11/24h/$v11)" = scheduled ]' 5
sleep 1.5 # promoted and held
ctl location resume loc-3 >/dev/null
check "released together: the opted-out one is suppressed" \
    wait_for '[ "$(state m-held-out)" = suppressed ]' 10
check "released together: exactly one of the patient's two reminders goes, one is capped" \
    wait_for '[ "$(state a-10/24h/$v10)$(state a-11/24h/$v11)" = deliveredsuppressed ] || [ "$(state a-10/24h/$v10)$(state a-11/24h/$v11)" = suppresseddelivered ]' 10

# 9. Carriers follow reloads: one added binds, one removed unbinds.
bound() { sed -n 's/.*"bound_sessions":\([0-9]*\).*/\1/p' "$tmp/sim.json"; }
check "one session bound before" test "$(bound)" = 1
printf '\n[carrier extra]\ntype = smpp\nhost = 127.0.0.1\nport = %s\nsystem_id = flex\npassword = flexpass\n' \
    "$SP" >>"$CONF"
ctl reload >/dev/null
check "reload: the added carrier binds" wait_for '[ "$(bound)" = 2 ]' 5
sed -i '/^\[carrier extra\]/,$d' "$CONF"
ctl reload >/dev/null
check "reload: the removed carrier unbinds" wait_for '[ "$(bound)" = 1 ]' 5
check "reload: flexd logged it" grep -q 'carrier extra removed or disabled' "$tmp/flexd.log"

kill -TERM "$f1"
wait "$f1"
grep '"level":"error"' "$tmp/flexd.log" | head -5
echo "$fails failed"
[ "$fails" -eq 0 ]
