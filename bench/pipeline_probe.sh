#!/bin/sh
# quick perf probe: preload N jobs, then start flexd; CPU per process.
N=${N:-100000}
B=/work/main/build
RP=26379 SP=26380 HP=26381
T=/tmp/perf/t; rm -rf $T; mkdir -p $T
redis-server --port $RP --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --logfile $T/redis.log --dir $T
sleep 0.3
$B/smscsim --listen 127.0.0.1:$SP --dlr-delay-ms 50 --stats $T/sim.json --max-seconds 300 &
SIM=$!
D="-c deploy/flexd.conf -D redis.url=redis://127.0.0.1:$RP/0 -D carrier.primary.port=$SP -D http.listen=127.0.0.1:$HP -D quiet_hours.enabled=false -D engine.log_level=warn ${EXTRA:-}"
python3 - $N > $T/jobs.jsonl <<'PY'
import json, sys
n = int(sys.argv[1])
for i in range(n):
    print(json.dumps({"type":"message","id":f"b-{i}","location":f"loc-{i%5+1}","patient":f"p-{i}",
      "phone":f"+1{[202,312,303,602,415][i%5]}555{i%10000:04d}","template":"reminder_24h",
      "vars":{"first_name":"Ana","date":"Dec 1","time":"9:30 AM"}}))
PY
awk 'NR % 50 == 1' $T/jobs.jsonl | sed 's/.*"phone": "\([^"]*\)".*/\1/' > $T/opt.txt
$B/flexctl $D optout import $T/opt.txt >/dev/null
$B/flexctl $D enqueue $T/jobs.jsonl | head -1
RPID=$(redis-cli -p $RP info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p' | tr -d '\r')
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
r0=$(cpu $RPID); s0=$(cpu $SIM)
t0=$(date +%s.%N)
$B/flexd $D 2>$T/flexd.log &
F=$!
exp=$(( N - $(wc -l < $T/opt.txt) ))
while :; do
  d=$(redis-cli -p $RP hget flex:stats delivered); d=${d:-0}
  [ "$d" -ge "$exp" ] && break
  sleep 0.05
done
t1=$(date +%s.%N)
f1=$(cpu $F); r1=$(cpu $RPID); s1=$(cpu $SIM)
for t in /proc/$F/task/*; do echo "  $(cat $t/comm) $(awk '{print $14+$15}' $t/stat)"; done
echo "N=$N delivered=$d time=$(echo "$t1 - $t0" | bc) s rate=$(echo "$d / ($t1 - $t0)" | bc) msg/s"
echo "cpu ticks (1/100 s): flexd=$f1 redis=$((r1-r0)) smscsim=$((s1-s0))"
redis-cli -p $RP info commandstats | grep -E "calls=" | sed 's/cmdstat_//' | sort -t= -k3 -n -r | head -30
kill $F; wait $F; kill $SIM; redis-cli -p $RP shutdown nosave >/dev/null
