#!/bin/sh
# A patient's long text in parts, joined in Redis (engine/core/reply.h,
# "the parts of a longer text"): smscsim spreads the parts of each text over
# the bound receivers, one second apart (--mo-spread --mo-part-gap-ms), so
# that two flexd each get some of them; then a flexd dies between the parts
# of a text, and the last flexd dies and another starts.  Each text reaches
# the front desk whole and once, a multipart STOP opts the number out, and
# no set of parts is left.  Exit 0 pass, 77 skip (no redis-server).
NAME=moparts
MO=/tmp/flex-moparts-mo.$$
: >"$MO"
SIM_ARGS="--mo-follow $MO --mo-spread --mo-part-gap-ms 1000"
. tests/integ/lib/env.sh
trap 'cleanup; rm -f "$MO"' EXIT

mo() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$MO"; } # FROM TO TEXT
metric() { curl -s "http://127.0.0.1:$1/metrics" | sed -n "s/^$2 //p"; }
# desk_count TEXT: entries of loc-1's front desk holding exactly TEXT
desk_count() {
    redis-cli -p "$RP" --raw XRANGE flex:frontdesk:loc-1 - + | grep -c -F -x -- "$1" || true
}
sets_left() { redis-cli -p "$RP" --scan --pattern 'flex:moparts:*' | wc -l; }
redelivered() { sed -n 's/.*"redelivered":\([0-9]*\).*/\1/p' "$tmp/sim.json"; }

# Two texts of several parts each, UCS-2 (an emoji, a Spanish í): 67 units
# a part.
T1='Please STOP texting me, I moved to another city and I am no longer your patient 🙏 thank you'
T2='Hola, necesito cambiar mi cita del viernes porque tengo que viajar 😬 ¿hay algo el lunes por la mañana o el martes después de las 3? Gracias, Lucía'
T3='Hi, this is Bo again 🙂 my daughter also needs a cleaning, could we book both of us on the same day next month, ideally in the afternoon after school?'

start_flexd
f1=$FPID
"$B/flexd" $D -D http.listen=127.0.0.1:$((HP + 100)) >/dev/null 2>>"$tmp/flexd2.log" &
f2=$!
pids="$pids $f2"
check "both flexd ready (Redis up, carrier bound)" \
    wait_for 'curl -sf http://127.0.0.1:$HP/readyz >/dev/null && curl -sf http://127.0.0.1:$((HP + 100))/readyz >/dev/null' 10

# --- the parts of one text over two flexd ------------------------------------
mo +12025550161 12025550100 "$T1"
check "a STOP in two parts, spread over the two flexd: opted out" \
    wait_for '[ "$(ctl optout check +12025550161)" = opted-out ]' 10
check "... each flexd stored one of its parts" \
    test "$(metric "$HP" flex_inbound_parts_total)" -ge 1 -a \
    "$(metric $((HP + 100)) flex_inbound_parts_total)" -ge 1
check "... the text whole, once, on the front desk (an opt-out that says more)" \
    wait_for '[ "$(desk_count "$T1")" = 1 ]' 5
check "... its confirmation sent once" \
    wait_for '[ "$(grep -c "^12025550161	" "$tmp/sim.log")" = 1 ]' 10
check "... and its set of parts deleted" test "$(sets_left)" = 0

# --- a flexd killed between the parts of a text -------------------------------
mo +12025550162 12025550100 "$T2"
check "the first part of a three-part text stored (a set waits)" \
    wait_for '[ "$(sets_left)" = 1 ]' 5
key=$(redis-cli -p "$RP" --scan --pattern 'flex:moparts:*')
ttl=$(redis-cli -p "$RP" PTTL "$key")
check "... the set expires within 5 minutes (PTTL $ttl)" test "$ttl" -gt 0 -a "$ttl" -le 300000
kill -9 "$f1"
check "flexd 1 killed mid-text: the other joins it, whole and once" \
    wait_for '[ "$(desk_count "$T2")" = 1 ]' 15
check "... no set left" wait_for '[ "$(sets_left)" = 0 ]' 3

# --- the last flexd killed between parts, another started -------------------
mo +12025550163 12025550100 "$T3"
check "a first part stored" wait_for '[ "$(sets_left)" = 1 ]' 5
kill -9 "$f2"
sleep 2 # a part sent meanwhile waits, unanswered, for the next bind
start_flexd
check "a new flexd joins the parts stored before and after: whole and once" \
    wait_for '[ "$(desk_count "$T3")" = 1 ]' 15
check "... no set left" wait_for '[ "$(sets_left)" = 0 ]' 3
sleep 1
check "nothing delivered twice: each text once on the front desk" \
    test "$(desk_count "$T1")$(desk_count "$T2")$(desk_count "$T3")" = 111
check "texts joined counted (flex_inbound_joined_total)" \
    test "$(metric "$HP" flex_inbound_joined_total)" -ge 1

# --- the sender's TON, lenient (the default; replies.sh has strict) -----------
# smscsim marks every address international (TON 1); lenient reads ten
# digits that make a NANP number as one, as some SMSCs mean them.
mo 3545550143 12025550100 "STOP"
check "ton = lenient: STOP from 3545550143 (TON 1) opts out the NANP +13545550143" \
    wait_for '[ "$(ctl optout check +13545550143)" = opted-out ]' 10
check "... not +3545550143" test "$(ctl optout check +3545550143)" = allowed

# --- what one flexd may store: engine.inbound_parts_kb -------------------------
# 1 KiB: a two-part text (2 x (134 + 64) bytes) fits; of a six-part one after
# it, the fourth part does not: answered, counted, not stored.
kill -9 "$FPID"
"$B/flexd" $D -D engine.inbound_parts_kb=1 >/dev/null 2>>"$tmp/flexd4.log" &
FPID=$!
pids="$pids $FPID"
check "a flexd with engine.inbound_parts_kb = 1 ready" \
    wait_for 'curl -sf http://127.0.0.1:$HP/readyz >/dev/null' 10
T4='Thanks 🙂 see you then, and please tell Dr. Lee the crown feels a bit high when I bite down'
T5="$(printf 'Long story 🙂 %.0s' 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26)"
r0=$(redelivered)
mo +12025550164 12025550100 "$T4"
check "within the budget: whole and once" wait_for '[ "$(desk_count "$T4")" = 1 ]' 10
mo +12025550165 12025550100 "$T5"
check "past it: parts refused and counted (flex_inbound_parts_refused_total)" \
    wait_for '[ "$(metric "$HP" flex_inbound_parts_refused_total)" -ge 1 ]' 15
check "... logged" grep -q "past engine.inbound_parts_kb" "$tmp/flexd4.log"
sleep 3
check "... that text never whole, its set left to expire" \
    test "$(desk_count "$T5")" = 0 -a "$(sets_left)" = 1
check "... no part delivered again (each answered)" test "$(redelivered)" = "$r0"

echo "$fails failed"
[ "$fails" -eq 0 ]
