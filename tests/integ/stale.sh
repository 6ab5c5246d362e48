#!/bin/sh
# Sending stops when flexd can no longer learn of opt-outs and pauses
# (tests/integ/lib/env.sh gives the servers): flexd reaches Redis through a
# proxy, loc-1 is limited to 5 texts a second and 200 of its jobs wait on
# that limit; the proxy is then frozen (a hung network or Redis).  Within a
# second of its last complete read nothing more goes; once the proxy runs
# again, sending goes on.
NAME=stale
EXTRA_D="-D location.loc-1.mps=5"
. tests/integ/lib/env.sh

proxy_start
"$B/flexd" $D -D "redis.url=redis://127.0.0.1:$PP/0" >/dev/null 2>>"$tmp/flexd.log" &
pids="$pids $!"
check "flexd up through the proxy" wait_for "curl -sf http://127.0.0.1:$HP/readyz >/dev/null" 20

i=0
while [ $i -lt 200 ]; do
    printf '{"type":"message","id":"st-%d","location":"loc-1","patient":"p-%d","phone":"+1202555%04d","body":"See you tomorrow at 9:30."}\n' \
        $i $i $((1000 + i))
    i=$((i + 1))
done | ctl enqueue - >/dev/null
sent() { if [ -s "$tmp/sim.log" ]; then wc -l <"$tmp/sim.log"; else echo 0; fi; }
check "texts going out at the location's limit" wait_for '[ $(sent) -ge 5 ]' 10
check "... news younger than a second meanwhile" \
    sh -c "[ \"\$(curl -s http://127.0.0.1:$HP/metrics | sed -n 's/^flex_news_age_seconds 0\.[0-9]*$/y/p')\" = y ]"

kill -STOP "$proxy"
sleep 2
c1=$(sent)
sleep 3
c2=$(sent)
check "proxy frozen: nothing sent after the first second ($c1 then $c2)" test "$c1" = "$c2"
check "... said in the log" grep -q 'no news from Redis for [0-9]* ms' "$tmp/flexd.log"
check "... counted, and the news' age shown" \
    sh -c "[ \"\$(curl -s http://127.0.0.1:$HP/metrics | sed -n 's/^flex_send_stale_total //p')\" -ge 1 ] &&
           curl -s http://127.0.0.1:$HP/metrics | grep -q '^flex_news_age_seconds [1-9]'"
kill -CONT "$proxy"
check "proxy running again: sending goes on" wait_for "[ \$(sent) -gt $c2 ]" 10
check "... said in the log" wait_for "grep -q 'news from Redis again' '$tmp/flexd.log'" 5
[ "$fails" -eq 0 ]
