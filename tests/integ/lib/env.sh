# Shared by the integration scripts (sourced, not run): a redis-server and
# an smscsim on free loopback ports, flexd's -D overrides pointing at them
# ($D), and the helpers check, wait_for, ctl, stat, start_flexd.
# FLEX_FAIL_FAST=1 makes the first failed check end the script (exit 1).
# Before sourcing: NAME (for the temp dir), and optionally SIM_ARGS,
# EXTRA_D (more -D options), CONF (the config file) and REDIS_ARGS.
set -u
B=${BUILD:-build}
command -v redis-server >/dev/null || { echo "redis-server missing: sh deploy/install-deps.sh"; exit 77; }
tmp=$(mktemp -d /tmp/flex-$NAME.XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
    redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1
    if [ "$fails" -gt 0 ]; then # keep the evidence
        rm -rf /tmp/flex-$NAME-failed && cp -r "$tmp" /tmp/flex-$NAME-failed
        echo "logs kept in /tmp/flex-$NAME-failed"
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
check() {
    d=$1
    shift
    if "$@"; then
        echo "ok   $d"
    else
        echo "FAIL $d" | tee -a "$tmp/failures" # kept with the logs
        fails=$((fails + 1))
        # tests/mutate.sh: the first failure is the answer; no need to wait for the rest
        if [ "${FLEX_FAIL_FAST:-0}" = 1 ]; then exit 1; fi
    fi
}

# Ports below the ephemeral range (see tests/integ/smpp_client.c).
base=$((20000 + ($$ % 5000) * 2))
RP=$base SP=$((base + 1)) HP=$((base + 2))
# start_redis: (again) on $RP, with $REDIS_ARGS (default: no persistence).
start_redis() {
    redis-server --port "$RP" --bind 127.0.0.1 --daemonize yes --logfile "$tmp/redis.log" \
        --dir "$tmp" ${REDIS_ARGS:---save '' --appendonly no} || exit 1
    for i in 1 2 3 4 5 6 7 8 9 10; do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.2; done
}
start_redis

"$B/smscsim" --listen "127.0.0.1:$SP" --dlr-delay-ms 10 --log "$tmp/sim.log" \
    --stats "$tmp/sim.json" --max-seconds 300 ${SIM_ARGS:-} &
sim=$!
pids="$pids $sim"
D="-c ${CONF:-deploy/flexd.conf} -D redis.url=redis://127.0.0.1:$RP/0 -D carrier.primary.port=$SP \
-D http.listen=127.0.0.1:$HP -D engine.claim_idle=2s -D engine.drain_timeout=10s \
-D carrier.primary.reconnect_max=1s -D quiet_hours.enabled=false \
-D engine.audit_log=$tmp/audit.log ${EXTRA_D:-}"
ctl() { "$B/flexctl" $D "$@"; }
stat() {
    v=$(ctl stats | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p")
    echo "${v:-0}"
}
# Starts a flexd in this shell (so that wait works) and sets FPID.
start_flexd() {
    "$B/flexd" $D >/dev/null 2>>"$tmp/flexd.log" &
    FPID=$!
    pids="$pids $FPID"
}
# sim_start PORT LOG STATS MAX_SECONDS [SMSCSIM FLAGS]: an smscsim (receipts
# after 10 ms), tried again while the port is not free yet; sets $last_sim.
sim_start() {
    port=$1 slog=$2 sstats=$3 smax=$4
    shift 4
    for try in 1 2 3 4 5; do
        "$B/smscsim" --listen "127.0.0.1:$port" --dlr-delay-ms 10 --log "$slog" \
            --stats "$sstats" --max-seconds "$smax" "$@" &
        last_sim=$!
        pids="$pids $last_sim"
        sleep 0.3
        kill -0 "$last_sim" 2>/dev/null && return 0
        sleep 1
    done
    echo "smscsim would not start on $port"
}
# httpsim_start PORT LOG STATS [HTTPSIM FLAGS]: an httpsim, returning once it
# answers; sets $last_httpsim.
httpsim_start() {
    hport=$1 hlog=$2 hstats=$3
    shift 3
    "$B/httpsim" --listen "127.0.0.1:$hport" --log "$hlog" --stats "$hstats" \
        --max-seconds 600 "$@" &
    last_httpsim=$!
    pids="$pids $last_httpsim"
    wait_for "curl -s -o /dev/null http://127.0.0.1:$hport/" 5
}
# http_carrier PORT: -D options sending carrier backup (type http in the
# shipped config) to the httpsim on PORT, its callbacks to this flexd.
http_carrier() {
    echo "-D carrier.backup.url=http://127.0.0.1:$1" \
        "-D carrier.backup.status_callback=http://127.0.0.1:$HP/webhooks/backup/status"
}
# proxy_start [drop N] [hold N]: a TCP proxy to this Redis (lib/proxy.py);
# sets $proxy (its pid: SIGSTOP freezes it) and $PP (its port).
proxy_start() {
    python3 tests/integ/lib/proxy.py "$RP" "$tmp" "$@" &
    proxy=$!
    pids="$pids $proxy"
    wait_for "test -s '$tmp/proxy.port'" 5
    PP=$(cat "$tmp/proxy.port")
}
# wait_for EXPR SECONDS: polls until the shell expression holds.
wait_for() {
    n=0
    while [ $n -lt $(($2 * 10)) ]; do
        eval "$1" && return 0
        sleep 0.1
        n=$((n + 1))
    done
    return 1
}

