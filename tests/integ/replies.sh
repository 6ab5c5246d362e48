#!/bin/sh
# Patients' replies end to end: smscsim sends the texts (--mo-file at bind,
# --mo-follow on demand), flexd classifies and applies them through Redis.
# STOP (once, even sent twice and received by two flexd), START, HELP and
# its daily cap, a confirmation with its reminders dropped, reschedule and
# emergency routing, an unknown sender, the message history and its import,
# and then the checks just before a carrier: opt-outs and a pause during a
# rate-limited campaign, for jobs already read and waiting, with two flexd;
# pause --all; the sandbox.  Exit 0 pass, 77 skip (no redis-server).
NAME=replies
MO=/tmp/flex-replies-mo.$$
MOF=/tmp/flex-replies-mofile.$$
: >"$MO"
# Received by every session when it binds: both flexd get these two.
printf '+12025550188\tSTOP\n+12025550188\tSTOP\n' >"$MOF"
SIM_ARGS="--mo-follow $MO --mo-file $MOF"
# ton = strict: a text's international (TON 1) digits are read as such.
EXTRA_D="-D engine.autoreply_per_day=2 -D engine.confirm_drops=reminder_72h,reminder_24h,reminder_2h \
-D carrier.primary.ton=strict"
. tests/integ/lib/env.sh
trap 'cleanup; rm -f "$MO" "$MOF"' EXIT

mo() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$MO"; } # FROM TO TEXT
# smscsim's log: destination, source, coding, text, ids (tab-separated)
sent_to() { grep -c "^+\{0,1\}$1	" "$tmp/sim.log" 2>/dev/null || true; } # NUMBER (no +)
sim_texts_to() { grep "^+\{0,1\}$1	" "$tmp/sim.log" 2>/dev/null || true; }
sent_from() { grep -c "^[^	]*	+\{0,1\}$1	" "$tmp/sim.log" 2>/dev/null || true; }
metric() { curl -s "http://127.0.0.1:$HP/metrics" | sed -n "s/^$1 //p"; }
xlen() { redis-cli -p "$RP" XLEN "$1"; }
xfield() { # STREAM FIELD: the field of the newest entry
    redis-cli -p "$RP" --no-raw XREVRANGE "$1" + - COUNT 1 |
        awk -v f="$2" 'found { sub(/^ *[0-9]+\) "/, ""); sub(/"$/, ""); print; exit }
                       $0 ~ "[0-9]\\) \"" f "\"$" { found = 1 }'
}

start_flexd
f1=$FPID
check "flexd ready (Redis up, carrier bound)" wait_for 'curl -sf http://127.0.0.1:$HP/readyz >/dev/null' 10

# --- the reply context: texts sent first -----------------------------------
starts=$(python3 -c 'import datetime as d; print((d.datetime.now(d.timezone.utc)+d.timedelta(hours=23)).strftime("%Y-%m-%dT%H:%M:%SZ"))')
cat >"$tmp/ctx.jsonl" <<EOF
{"type":"message","id":"r-1","location":"loc-1","patient":"p-1","phone":"+12025550101","template":"reminder_24h","vars":{"first_name":"Ana","date":"Dec 1","time":"9:30 AM"}}
{"type":"appointment","id":"a-2","location":"loc-1","patient":"p-2","phone":"+12025550102","first_name":"Bo","provider":"Dr. Lee","starts_at":"$starts","status":"scheduled"}
{"type":"message","id":"r-3","location":"loc-2","patient":"p-3","phone":"+12025550103","template":"reminder_24h","vars":{"first_name":"Cy","date":"Dec 1","time":"9:30 AM"}}
{"type":"message","id":"r-4","location":"loc-1","patient":"p-4","phone":"+12025550104","template":"reminder_24h","vars":{"first_name":"Di","date":"Dec 1","time":"9:30 AM"}}
EOF
ctl enqueue "$tmp/ctx.jsonl" >/dev/null
check "reminders sent (r-1, r-3, r-4 and a-2's 24 h catch-up)" \
    wait_for '[ "$(stat sent)" -ge 4 ]' 15
check "the 2 h reminder of a-2 is scheduled" \
    test -n "$(redis-cli -p "$RP" ZRANGE flex:sched 0 -1 | grep '^a-2/2h/')"

# --- STOP: sent twice at bind and received by two flexd: one confirmation -----
"$B/flexd" $D -D http.listen=127.0.0.1:$((HP + 100)) >/dev/null 2>>"$tmp/flexd2.log" &
f2=$!
pids="$pids $f2"
check "STOP from +12025550188 (no context, to loc-1): opted out" \
    wait_for '[ "$(ctl optout check +12025550188)" = opted-out ]' 10
sleep 2
check "optout_confirm sent exactly once though the STOP came 4 times" \
    test "$(sent_to 12025550188)" = 1
check "... and it is the optout_confirm text" \
    grep -q "^12025550188.*unsubscribed" "$tmp/sim.log"
check "the carrier's copy of a text counted, not applied again" \
    test "$(metric flex_inbound_copies_total)" -ge 1

# --- STOP from a patient with context: nothing else ever goes -------------
mo +12025550101 12025550100 "Stop texting me please"
check "reworded STOP opts +12025550101 out within a second" \
    wait_for '[ "$(ctl optout check +12025550101)" = opted-out ]' 3
check "its confirmation goes out once" wait_for '[ "$(sent_to 12025550101)" = 2 ]' 10
auto_id=$(redis-cli -p "$RP" --raw XREVRANGE flex:jobs:urgent + - COUNT 1 | sed -n '/^id$/{n;p}')
check "flexctl status of the automatic reply ($auto_id): delivered, its stream entry read right" \
    wait_for 'ctl status "$auto_id" | grep -q "\"state\":\"delivered\""' 10
echo '{"type":"message","id":"r-1b","location":"loc-1","patient":"p-1","phone":"+12025550101","template":"reminder_24h","vars":{"first_name":"Ana","date":"Dec 2","time":"9:30 AM"}}' |
    ctl enqueue - >/dev/null
sleep 2
check "a later reminder to it is suppressed" test "$(sent_to 12025550101)" = 2
check "flex:inbound has the text with intent stop and its patient" \
    test "$(xfield flex:inbound intent)" = stop
check "stats: optouts counted" test "$(stat optouts)" -ge 2

# --- START, HELP and its cap -------------------------------------------------
mo +12025550101 12025550100 "START"
check "START opts back in" wait_for '[ "$(ctl optout check +12025550101)" = allowed ]' 5
check "optin_confirm once" wait_for 'sim_texts_to 12025550101 | grep -q "subscribed to appointment texts again"' 10
mo +12025550104 12025550100 "HELP"
mo +12025550104 12025550100 "help!"
mo +12025550104 12025550100 "Info"
mo +12025550104 12025550100 "AYUDA"
check "HELP answered with the help template" \
    wait_for 'sim_texts_to 12025550104 | grep -q "For help call"' 10
sleep 2
check "auto-replies capped at engine.autoreply_per_day = 2 (reminder + 2 helps)" \
    test "$(sent_to 12025550104)" = 3

# --- confirm, reschedule, emergency, unknown -----------------------------------
mo +12025550102 12025550100 "Yes"
check "confirmation event with patient, appointment and location" \
    wait_for '[ "$(xfield flex:confirmations appointment)" = a-2 ]' 5
check "... patient p-2, location loc-1" \
    test "$(xfield flex:confirmations patient)/$(xfield flex:confirmations location)" = p-2/loc-1
check "the appointment's remaining reminder (2 h, in confirm_drops) dropped" \
    test -z "$(redis-cli -p "$RP" ZRANGE flex:sched 0 -1 | grep '^a-2/2h/')"
mo +12025550103 13125550100 "Can I reschedule to Friday?"
check "reschedule request on loc-2's front-desk stream" \
    wait_for '[ "$(xfield flex:frontdesk:loc-2 kind)" = reschedule ]' 5
check "... with the patient and the text" \
    test "$(xfield flex:frontdesk:loc-2 patient)" = p-3
mo +12025550104 12025550100 "my tooth broke and it is bleeding a lot"
check "emergency on flex:escalations, urgent" \
    wait_for '[ "$(xfield flex:escalations urgent)" = 1 ]' 5
check "... and on the front desk" test "$(xfield flex:frontdesk:loc-1 kind)" = emergency
mo +12025550177 19995550100 "running 10 min late, sorry"
check "an unknown sender to an unknown number: catch-all front desk" \
    wait_for '[ "$(xlen flex:frontdesk)" -ge 1 ]' 5
mo +12025550178 13035550100 "CANCEL"
check "CANCEL from an unknown sender: opted out" \
    wait_for '[ "$(ctl optout check +12025550178)" = opted-out ]' 5
check "... confirmed from loc-3 and shown to loc-3's front desk" \
    wait_for '[ "$(sent_to 12025550178)" = 1 ] && [ "$(xfield flex:frontdesk:loc-3 kind)" = stop ]' 10

# --- one text refused, the texts applied with it are not ----------------------
# The texts of a batch go to Redis in one script call; a write refused for
# one (its auto-reply counter made a hash: INCR answers WRONGTYPE) stops
# that text alone, as when each had a call of its own.
day=$(($(date +%s) / 86400))
for d in $day $((day + 1)); do
    redis-cli -p "$RP" HSET "flex:auto:+12025550171:$d" x 1 >/dev/null
done
printf '+12025550171\t12025550100\tHELP\n+12025550172\t12025550100\tCan I come Tuesday instead?\n+12025550173\t12025550100\tSTOP\n' >>"$MO"
check "a text whose write Redis refuses (WRONGTYPE) is logged as not applied" \
    wait_for 'cat "$tmp"/flexd*.log | grep -q "inbound text not applied: WRONGTYPE"' 10
check "... the texts with it are applied: the front desk sees the reschedule" \
    wait_for 'redis-cli -p "$RP" XRANGE flex:frontdesk:loc-1 - + | grep -q "^+12025550172$"' 5
check "... and the STOP opts out" \
    wait_for '[ "$(ctl optout check +12025550173)" = opted-out ]' 5
check "... the refused text's own earlier writes stay (its flex:inbound entry)" \
    test "$(redis-cli -p "$RP" XRANGE flex:inbound - + | grep -ac 12025550171)" -ge 1
# (the counters are written once per call, at its end; integ_replies checks
# them and the log's expiry exactly, on a Redis of its own)
check "stats: texts counted by intent (3 STOPs at least, a reschedule)" \
    test "$(stat inbound_stop)" -ge 3 -a "$(stat inbound_reschedule)" -ge 1
check "... and in all" test "$(stat inbound)" -ge 10

# --- a number that texts a lot keeps its context ------------------------------
# 21 texts in a day from p-4 (Di, loc-1): the context reads 20 records of a
# day at most, and its texts received would have filled them ahead of the
# reminder sent to it; they are scored apart (the number + .5).
for i in $(seq 1 21); do printf '+12025550104\t12025550100\tthanks %s\n' "$i" >>"$MO"; done
check "21 texts from +12025550104 logged as received (scored 12025550104.5)" \
    wait_for '[ "$(redis-cli -p "$RP" ZCOUNT "flex:log:$day" 12025550104.5 12025550104.5)" -ge 21 ]' 10
mo +12025550104 12025550100 "Can I move my visit to Monday?"
check "... its next text still finds its patient for the front desk (p-4)" \
    wait_for '[ "$(xfield flex:frontdesk:loc-1 text)" = "Can I move my visit to Monday?" ]' 10
check "... p-4" test "$(xfield flex:frontdesk:loc-1 patient)" = p-4

# --- history ---------------------------------------------------------------
ctl history +12025550101 >"$tmp/h1.txt"
check "history: 5 lines out and in for +12025550101" test "$(wc -l <"$tmp/h1.txt")" -ge 5
check "history: the reminder, delivered" grep -q "	out	loc-1	reminder_24h	delivered	Hi Ana" "$tmp/h1.txt"
check "history: the STOP, in" grep -q "	in	loc-1	stop	received	Stop texting me please" "$tmp/h1.txt"
check "history by patient id" test "$(ctl history p-2 | grep -c "	out	")" -ge 1
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cat >"$tmp/imp.jsonl" <<EOF
{"phone":"(202) 555-0105","patient":"p-5","location":"loc-1","direction":"out","at":"2026-11-20T10:00:00Z","template":"recall_due","status":"delivered","text":"Time for your cleaning"}
{"phone":"+12025550105","patient":"p-5","location":"loc-1","direction":"in","at":"2026-11-20T10:05:00Z","intent":"confirm","text":"Y"}
{"phone":"not a number","direction":"out","at":"$now","text":"x"}
EOF
ctl history import "$tmp/imp.jsonl" >"$tmp/imp.out" 2>"$tmp/imp.err"
rc=$?
check "history import: exit 3 with one bad line" test "$rc" = 3
check "... 'imported 2, rejected 1', then '3: reason', on stdout as enqueue prints" \
    test "$(cat "$tmp/imp.out")" = "$(printf 'imported 2, rejected 1\n3: missing or invalid phone')"
printf 'garbage\n' | ctl history import - >"$tmp/imp3.out" 2>&1
check "... a line that is not JSON: the parser's reason" grep -q "^1: not JSON: ." "$tmp/imp3.out"
ctl history import "$tmp/imp.jsonl" >"$tmp/imp2.out" 2>/dev/null
check "import again: nothing added twice" grep -q "imported 0, rejected 1" "$tmp/imp2.out"
printf '\357\273\277+12025550157\n+12025550158\n' >"$tmp/bom.csv" # a spreadsheet's CSV UTF-8
check "optout import: a first number after a byte order mark is imported" \
    sh -c "ctl() { \"$B/flexctl\" $D \"\$@\"; }; [ \"\$(ctl optout import '$tmp/bom.csv')\" = 'imported 2, rejected 0' ] &&
           [ \"\$(ctl optout check +12025550157)\" = opted-out ]"
printf 'Phone,Name\n+12025550159,Ann\n' >"$tmp/hdr.csv"
printf '202555O16O\n+12025550156\n' >"$tmp/typo.csv"
check "... a header without digits skipped; a first line with digits a number or rejected" \
    sh -c "ctl() { \"$B/flexctl\" $D \"\$@\"; }; [ \"\$(ctl optout import '$tmp/hdr.csv' 2>/dev/null)\" = 'imported 1, rejected 0' ] &&
           ctl optout import '$tmp/typo.csv' | grep -q '^imported 1, rejected 1'"
printf '%s\n' '{"phone":"+12025550106","direction":"in","at":"2026-11-20T10:05:00Z","text":"Hi \u001b[31mred\u0007 \u009b ok"}' |
    ctl history import - >/dev/null
check "history shows a text's control characters as \\xNN, never raw to the terminal" \
    sh -c "ctl() { \"$B/flexctl\" $D \"\$@\"; }; ctl history +12025550106 >'$tmp/h6.txt' &&
           grep -qF 'Hi \\x1b[31mred\\x07 \\xc2\\x9b ok' '$tmp/h6.txt' && ! grep -q \"\$(printf '\\033')\" '$tmp/h6.txt'"
check "imported history in time order" \
    test "$(ctl history +12025550105 | cut -f2 | tr '\n' ' ')" = "out in "

# --- checks just before the carrier: two flexd, 40 msg/s, 400 jobs waiting -------
kill -TERM "$f1" "$f2"
wait "$f1" "$f2" 2>/dev/null
EXTRA_D="$EXTRA_D -D carrier.primary.mps=40"
D="$D -D carrier.primary.mps=40"
python3 - >"$tmp/camp.jsonl" <<'PY'
import json
for i in range(1000, 1400):
    print(json.dumps({"type": "message", "id": f"c-{i}", "location": f"loc-{i % 5 + 1}",
                      "patient": f"pc-{i}", "phone": f"+1202555{i:04d}", "template": "reminder_24h",
                      "vars": {"first_name": "Ana", "date": "Dec 1", "time": "9:30 AM"}}))
PY
before=$(stat sent)
ctl enqueue "$tmp/camp.jsonl" >/dev/null
start_flexd
f1=$FPID
"$B/flexd" $D -D http.listen=127.0.0.1:$((HP + 100)) >/dev/null 2>>"$tmp/flexd2.log" &
f2=$!
pids="$pids $f2"
check "campaign under way" wait_for '[ "$(stat sent)" -ge $((before + 20)) ]' 15
# 30 numbers far down the queue opt out: their jobs are read and waiting.
for i in $(seq 1300 1329); do echo "+1202555$i"; done >"$tmp/late-optouts.txt"
ctl optout import "$tmp/late-optouts.txt" >/dev/null
ctl location pause loc-3 >/dev/null
sleep 1.2
l3=$(sent_from 13035550100)
sleep 3
check "pause of loc-3 honoured within ~1 s by jobs already waiting (two flexd)" \
    test "$(sent_from 13035550100)" = "$l3"
ctl location resume loc-3 >/dev/null
check "campaign settles: 400 - 30 opted out" \
    wait_for '[ "$(stat sent)" = $((before + 370)) ]' 40
n=0
for i in $(seq 1300 1329); do n=$((n + $(sent_to "1202555$i"))); done
check "none of the 30 numbers that opted out while waiting got a text" test "$n" = 0
s1=$(metric flex_send_suppressed_total)
s2=$(curl -s "http://127.0.0.1:$((HP + 100))/metrics" | sed -n "s/^flex_send_suppressed_total //p")
check "... all 30 stopped at the carrier's door, already read ($s1 + $s2)" \
    test "$((s1 + s2))" = 30
check "loc-3's held jobs all went after the resume (74 + CANCEL's confirmation)" \
    wait_for '[ "$(sent_from 13035550100)" = 75 ]' 5

# --- quiet hours that begin while jobs wait: scheduled for their end, sent once ------
kill -TERM "$f1" "$f2"
wait "$f1" "$f2" 2>/dev/null
qconf() { # ENABLED START END: deploy/flexd.conf with these quiet hours
    sed "/^\[quiet_hours\]/,/^\[/{s/^enabled *=.*/enabled = $1/;s/^start *=.*/start = $2/;s/^end *=.*/end = $3/}" \
        deploy/flexd.conf >"$tmp/q.conf.new" && mv "$tmp/q.conf.new" "$tmp/q.conf"
}
qconf false 21:00 08:00
DQ=$(echo "$D" | sed "s|-c deploy/flexd.conf|-c $tmp/q.conf|; s|-D quiet_hours.enabled=false||")
python3 - >"$tmp/quiet.jsonl" <<'PY'
import json
for i in range(2000, 2150):
    print(json.dumps({"type": "message", "id": f"q-{i}", "location": "loc-1", "patient": f"pq-{i}",
                      "phone": f"+1202555{i:04d}", "body": "Quiet hours test"}))
PY
before=$(stat sent)
"$B/flexd" $DQ >/dev/null 2>>"$tmp/flexd.log" &
fq=$!
pids="$pids $fq"
ctl enqueue "$tmp/quiet.jsonl" >/dev/null
check "quiet-hours campaign under way" wait_for '[ "$(stat sent)" -ge $((before + 10)) ]' 15
# Quiet from a minute ago to the next whole minute at least 15 s away.
set -- $(python3 -c 'import datetime as d, zoneinfo as z
n = d.datetime.now(z.ZoneInfo("America/New_York"))
e = (n + d.timedelta(seconds=75)).replace(second=0, microsecond=0)
print((n - d.timedelta(minutes=1)).strftime("%H:%M"), e.strftime("%H:%M"))')
qconf true "$1" "$2"
kill -HUP "$fq"
sleep 1.5
q1=$(stat sent)
sleep 2
check "quiet hours begun by a reload: jobs already waiting stop within a second" \
    test "$(stat sent)" = "$q1"
check "... and are scheduled for their end (status scheduled, quiet_hours)" \
    wait_for 'ctl status q-2149 | grep -q "\"state\":\"scheduled\",\"reason\":\"quiet_hours\""' 5
check "... counted in flex_send_deferred_total" test "$(metric flex_send_deferred_total)" -gt 0
check "promoted at their end: all 150 sent (not taken for duplicates)" \
    wait_for '[ "$(stat sent)" = $((before + 150)) ]' 90
qconf false 21:00 08:00
kill -HUP "$fq"
sleep 1.5 # smscsim flushes its log every second
dup=0
for i in $(seq 2000 2149); do [ "$(sent_to "1202555$i")" = 1 ] || dup=$((dup + 1)); done
check "... each exactly once" test "$dup" = 0
kill -TERM "$fq"
wait "$fq" 2>/dev/null
start_flexd
f1=$FPID
f2=

# --- pause --all, sandbox ----------------------------------------------------------
ctl location pause --all >/dev/null
before=$(stat sent)
echo '{"type":"message","id":"pa-1","location":"loc-4","patient":"p","phone":"+12025550190","body":"hi"}' | ctl enqueue - >/dev/null
sleep 2
check "pause --all holds every location" test "$(stat sent)" = "$before"
ctl location resume --all >/dev/null
check "resume --all sends it" wait_for '[ "$(stat sent)" = $((before + 1)) ]' 10
kill -TERM "$f1"
wait "$f1" 2>/dev/null
D="$D -D engine.allow_only=+12025550191"
start_flexd
printf '%s\n' \
    '{"type":"message","id":"sb-1","location":"loc-1","patient":"p","phone":"+12025550191","body":"test"}' \
    '{"type":"message","id":"sb-2","location":"loc-1","patient":"p","phone":"+12025550192","body":"real patient"}' |
    ctl enqueue - >/dev/null
check "sandbox: the allowed test number gets its text" wait_for '[ "$(sent_to 12025550191)" = 1 ]' 10
check "sandbox: any other number is suppressed with reason sandbox" \
    wait_for 'ctl status sb-2 | grep -q "\"reason\":\"sandbox\""' 5
check "... and never reaches the carrier" test "$(sent_to 12025550192)" = 0

# --- the sender's TON (carrier.primary.ton = strict here; mo_parts.sh has
# lenient, the default) -------------------------------------------------------
# smscsim marks every address international (TON 1): ten digits that are
# also a NANP number are Iceland's +354 555 0143 under strict.
mo 3545550143 12025550100 "STOP"
mo 12025550177 12025550100 "STOP"
check "ton = strict: STOP from 3545550143 (TON 1) opts out +3545550143" \
    wait_for '[ "$(ctl optout check +3545550143)" = opted-out ]' 10
check "... not the NANP +13545550143" test "$(ctl optout check +13545550143)" = allowed
check "... and 12025550177 (TON 1) is +12025550177" \
    wait_for '[ "$(ctl optout check +12025550177)" = opted-out ]' 10

# --- the audit log every flexd and flexctl of this run wrote (one file) --------------
kill -TERM "$FPID"
wait "$FPID" 2>/dev/null
ctl audit verify >"$tmp/verify.out"
check "audit log: the chain of every flexd and flexctl of the run is intact" test $? = 0
a() { grep -c "$1" "$tmp/audit.log"; }
check "audit: sends, statuses, inbound texts, opt-outs by SMS and flexctl, pauses, reloads" \
    test "$(a '"ev":"send"')" -gt 500 -a "$(a '"ev":"inbound"')" -ge 10 \
    -a "$(a '"ev":"optout","source":"flexctl"')" = 34 -a "$(a '"ev":"pause"')" -ge 2 \
    -a "$(a '"ev":"reload"')" -ge 2
check "audit: the STOP of +12025550188 made one optout line across both flexd" \
    test "$(a '"ev":"optout".*"phone":"+1202555\*\*\*\*","source":"sms"')" -ge 1
check "audit: no full phone number and no message text in it" \
    test "$(grep -c '1202555[0-9][0-9][0-9][0-9]\|Capitol Dental\|tooth' "$tmp/audit.log")" = 0
sed -i '5s/"loc-1"/"loc-2"/' "$tmp/audit.log"
ctl audit verify >/dev/null
check "audit: one edited byte and verify exits 4" test $? = 4

[ "$fails" -eq 0 ]
