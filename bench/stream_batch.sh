#!/bin/sh
# What several jobs per stream entry would save Redis (docs/benchmarks.md,
# "Several jobs per stream entry"): 200,000 entries of one 150-byte job,
# then 3,125 entries of 64 (the same bytes), each read by XREADGROUP and
# acknowledged by XACK as flexd would; Redis CPU per job from INFO
# commandstats.  A scratch redis-server on a free loopback port.
# Usage: sh bench/stream_batch.sh
set -eu
PORT=$((26000 + $$ % 1000))
DIR=$(mktemp -d)
trap 'redis-cli -p $PORT shutdown nosave >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
gen() { # MODE add|read
    python3 - "$1" "$2" <<'PY'
import sys
mode, what = sys.argv[1], sys.argv[2]
N, B, job = 200000, 64, "x" * 150
def cmd(*a):
    out = "*%d\r\n" % len(a)
    for x in a:
        x = str(x)
        out += "$%d\r\n%s\r\n" % (len(x.encode()), x)
    return out
w = sys.stdout.write
if what == "add":
    w(cmd("XGROUP", "CREATE", "s", "g", "0", "MKSTREAM"))
    if mode == "single":
        for i in range(1, N + 1):
            w(cmd("XADD", "s", "1-%d" % i, "job", job, "id", "bench-%07d" % i))
    else:
        for i in range(1, N // B + 1):
            w(cmd("XADD", "s", "1-%d" % i, "batch", job * B, "n", B))
else:
    ne, per = (N, 256) if mode == "single" else (N // B, 4)
    i = 1
    while i <= ne:
        w(cmd("XREADGROUP", "GROUP", "g", "c", "COUNT", per, "STREAMS", "s", ">"))
        w(cmd("XACK", "s", "g", *["1-%d" % k for k in range(i, min(ne, i + per - 1) + 1)]))
        i += per
PY
}
for mode in single batch; do
    redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --logfile "$DIR/redis.log" --dir "$DIR"
    until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.1; done
    gen "$mode" add | redis-cli -p "$PORT" --pipe >/dev/null
    redis-cli -p "$PORT" config resetstat >/dev/null
    gen "$mode" read >"$DIR/read.txt"
    redis-cli -p "$PORT" --pipe <"$DIR/read.txt" >/dev/null
    redis-cli -p "$PORT" info commandstats | tr -d '\r' | awk -F'[=,:]' -v m="$mode" '
        /cmdstat_(xreadgroup|xack)/ { printf "%-7s %-11s %.3f us per job\n", m, substr($1, 9), $5 / 200000 }'
    redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
    sleep 0.3
done
