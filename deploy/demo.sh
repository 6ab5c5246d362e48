#!/bin/sh
# make demo: a demo campaign on this machine.  Starts its own redis-server
# and smscsim on free loopback ports, runs flexd with deploy/flexd.conf
# (-D overrides point it at them), enqueues a campaign for five practices
# with 2% of patients opted out and a few expired jobs, waits for every
# receipt, prints a report, and stops everything it started.
set -eu
B=${1:-build}
N=${DEMO_JOBS:-20000}
tmp=$(mktemp -d /tmp/flex-demo.XXXXXX)
base=$((24000 + ($$ % 2000) * 2))
RP=$base SP=$((base + 1)) HP=$((base + 2))
pids=""
cleanup() {
    trap - EXIT INT TERM
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1 || true
    [ -n "${DEMO_KEEP:-}" ] && cp -r "$tmp" /tmp/flex-demo-last
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

echo "== flexd -c deploy/flexd.conf --check-config"
"$B/flexd" -c deploy/flexd.conf --check-config
echo
echo "== starting redis-server :$RP, smscsim :$SP, flexd"
redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --logfile "$tmp/redis.log" --dir "$tmp"
for i in 1 2 3 4 5 6 7 8 9 10; do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.2; done
"$B/smscsim" --listen "127.0.0.1:$SP" --dlr-delay-ms 50 --stats "$tmp/sim.json" \
    --log "$tmp/sim.log" --max-seconds 600 &
pids="$pids $!"
D="-c deploy/flexd.conf -D redis.url=redis://127.0.0.1:$RP/0 -D carrier.primary.port=$SP \
-D http.listen=127.0.0.1:$HP -D engine.audit_log=$tmp/audit.log -D engine.log_level=warn \
-D quiet_hours.enabled=false"
echo "(quiet hours are off for the demo: run at night, it would otherwise wait for 08:00"
echo " in each practice's time zone)"
"$B/flexd" $D >/dev/null 2>"$tmp/flexd.log" &
pids="$pids $!"
ctl() { "$B/flexctl" $D "$@"; }
stat() {
    v=$(ctl stats | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p")
    echo "${v:-0}"
}

python3 - "$N" "$tmp" <<'PY'
import json, sys, time
n, tmp = int(sys.argv[1]), sys.argv[2]
names = ["Ana", "Zoë", "Marcus", "Priya", "Wei", "Fatima", "Liam", "Sofia"]
with open(f"{tmp}/jobs.jsonl", "w") as jobs, open(f"{tmp}/optout.txt", "w") as opt:
    for i in range(n):
        phone = f"+1{[202, 312, 303, 602, 415][i % 5]}555{i % 10000:04d}"
        job = {"type": "message", "id": f"demo-{i}", "location": f"loc-{i % 5 + 1}",
               "patient": f"p-{i}", "phone": phone, "template": "reminder_24h",
               "vars": {"first_name": names[i % len(names)], "date": "Tue, Dec 1",
                        "time": "9:30 AM"}}
        if i % 500 == 7:  # a few jobs whose validity ran out before they were read
            job["expires_at"] = "2026-01-01T00:00:00Z"
        if i % 50 == 3:
            opt.write(phone + "\n")
        jobs.write(json.dumps(job) + "\n")
PY
echo "== flexctl optout import ($(wc -l <"$tmp/optout.txt") numbers)"
ctl optout import "$tmp/optout.txt"
echo "== flexctl enqueue ($N jobs)"
start=$(date +%s.%N)
ctl enqueue "$tmp/jobs.jsonl" | head -1
total=$N
i=0
while [ $i -lt 1500 ]; do # every job settled (sent, suppressed, expired, dead)
    done_=$(( $(stat sent) + $(stat suppressed_optout) + $(stat expired) + $(stat dead_letter) ))
    [ "$done_" -ge "$total" ] && break
    sleep 0.2
    i=$((i + 1))
done
settled=$(date +%s.%N)
i=0
while [ $i -lt 50 ] && [ "$(stat delivered)" -lt "$(stat sent)" ]; do # receipts, 10 s at most
    sleep 0.2
    i=$((i + 1))
done
end=$(date +%s.%N)
echo
echo "== report"
ctl stats
python3 - "$start" "$settled" "$end" "$(stat sent)" "$(stat delivered)" \
    "$(stat suppressed_optout)" "$(stat expired)" "$(stat dead_letter)" <<'PY'
import sys
start, settled, end, sent, delivered, supp, expired, dead = sys.argv[1:]
s1, s2 = float(settled) - float(start), float(end) - float(start)
print(f"sent {sent}, delivered {delivered}, suppressed (opted out) {supp}, expired {expired}, "
      f"dead-lettered {dead}")
print(f"{int(sent) / s1:,.0f} messages/s from enqueue to the last job settled ({s1:.1f} s); "
      f"receipts back after {s2:.1f} s")
if int(delivered) < int(sent):
    print(f"{int(sent) - int(delivered)} receipts not matched within 10 s")
PY
sleep 1.1 # smscsim rewrites its stats every second
echo "smscsim: $(cat "$tmp/sim.json")"
echo
echo "== an appointment in 23 hours at loc-1 (New York): the 24 h reminder goes now"
starts=$(python3 -c "import datetime as d; print((d.datetime.now(d.timezone.utc)+d.timedelta(hours=23)).strftime('%Y-%m-%dT%H:%M:%SZ'))")
echo "{\"type\":\"appointment\",\"id\":\"appt-1\",\"location\":\"loc-1\",\"patient\":\"p-1\",\"phone\":\"+12025550101\",\"first_name\":\"Ana\",\"provider\":\"Dr. Lee\",\"starts_at\":\"$starts\"}" |
    ctl enqueue - | head -1
sleep 1.5
echo "flexctl status appt-1: $(ctl status appt-1)"
v=$(python3 -c "import sys,datetime as d; print(int(d.datetime.strptime(sys.argv[1],'%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=d.timezone.utc).timestamp()))" "$starts")
echo "its 24 h reminder: $(ctl status "appt-1/24h/$v")"
echo "scheduled (UTC): $(redis-cli -p "$RP" ZRANGE flex:sched 0 -1 WITHSCORES | paste - - |
    while read -r id ms; do printf '%s at %s; ' "$id" "$(date -u -d @$((ms / 1000)) +%FT%TZ)"; done)"
# smscsim's log: destination, source, coding, text (the reminder is the last to that number)
echo "Ana reads: $(grep "^+\{0,1\}12025550101	" "$tmp/sim.log" | tail -1 | cut -f4)"
echo
echo "stopping (SIGTERM drains flexd)"
