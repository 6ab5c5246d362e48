#!/bin/sh
# Receipts matched whatever form of the message id the carrier uses in
# them (engine/core/carrier.h): smscsim answers each submit with a hex id and
# names it in the receipt as --receipt-ids says (the same, text only,
# decimal in the text with and without the TLV, upper case with leading
# zeros).  Two flexd; smscsim sends each receipt on the other process's
# session (--dlr-other-session), so every one is matched through Redis by
# the process that did not send the message.  Exit 0 pass, 77 skip.
NAME=receipts
SIM_ARGS="--receipt-ids same --dlr-other-session"
. tests/integ/lib/env.sh

. tests/integ/lib/jobs.sh
jobs() { message_jobs r "$1" "$2"; } # FIRST COUNT
sent_total=0
start_flexd
f1=$FPID
"$B/flexd" $D -D http.listen=127.0.0.1:$((HP + 100)) >/dev/null 2>>"$tmp/flexd2.log" &
f2=$!
pids="$pids $f2"
ready() { # both flexd: a session bound
    curl -sf "http://127.0.0.1:$HP/readyz" >/dev/null &&
        curl -sf "http://127.0.0.1:$((HP + 100))/readyz" >/dev/null
}
for form in same notlv dec dec-tlv upper; do
    # smscsim again, naming receipts this way (the flexd reconnect)
    kill "$sim" 2>/dev/null
    wait "$sim" 2>/dev/null
    # (sim_start tries again while the port is not free yet)
    sim_start "$SP" "$tmp/sim-$form.log" "$tmp/sim.json" 300 --receipt-ids "$form" \
        --dlr-other-session
    sim=$last_sim
    sleep 0.5 # the old sessions seen closed
    check "$form: both flexd bound again" wait_for ready 10
    first=$sent_total
    jobs "$first" 200 >"$tmp/$form.jsonl"
    ctl enqueue "$tmp/$form.jsonl" >/dev/null
    sent_total=$((sent_total + 200))
    check "$form: all 200 accepted" wait_for '[ "$(stat sent)" = $sent_total ]' 20
    check "$form: every receipt matched (delivered = sent)" \
        wait_for '[ "$(stat delivered)" = $sent_total ]' 20
    check "$form: a job's record names the message the way its submit did" \
        wait_for "ctl status r-$first | grep -q '\"state\":\"delivered\",\"carrier\":\"primary\",\"msgid\":\"[0-9a-f]*\"'" 5
done
check "each flexd matched receipts of the other's messages" \
    sh -c "[ \"\$(curl -s http://127.0.0.1:$HP/metrics | sed -n 's/^flex_jobs_delivered_total //p')\" -gt 0 ] &&
           [ \"\$(curl -s http://127.0.0.1:$((HP + 100))/metrics | sed -n 's/^flex_jobs_delivered_total //p')\" -gt 0 ]"
echo "$fails failed"
[ "$fails" -eq 0 ]
