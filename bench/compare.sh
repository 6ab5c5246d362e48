#!/bin/sh
# Flex against Kannel, the incumbent, side by side (make bench-compare).
#
#   sh bench/compare.sh [OUT] [N]          (defaults: build/compare, 100000)
#   FLEX_BATCH=64 sh bench/compare.sh ...   Flex's jobs 64 to a stream entry
#                                          (flexbench --batch; default 1)
#
# Kannel 1.4.5 comes from Debian: its package is downloaded and unpacked
# into OUT/kannel (nothing installed system-wide but the shared libraries
# it needs, by apt-get when missing; no service started).  bearerbox and
# smsbox run against smscsim with a production configuration: one SMPP
# transceiver with 256 outstanding submits (Kannel's default, 10, is the
# second figure of ../shared/MEASUREMENTS.md), no throughput cap, receipts
# asked for every message (dlr-mask 1) and posted back by smsbox to
# kannelload (bench/kannelload.c), which sends the N messages through
# sendsms over 64 kept-alive connections, as Kannel's users do.  Then
# flexbench sends the same N (no opt-outs) through flexd to the same kind
# of smscsim (same receipt delay).  Each rate is end to end with every
# receipt back: Kannel from the first sendsms request to the last report
# received, Flex from the first job read to the last receipt written.
# Writes OUT/compare.md.  Exit 1 when a run failed or lost messages.
set -eu
OUT=${1:-build/compare}
N=${2:-100000}
B=${BUILD:-build}
DLR_MS=50
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
K=$OUT/kannel

# ---- Kannel from Debian, unpacked -------------------------------------------
if [ ! -x "$K/usr/sbin/bearerbox" ]; then
    rm -rf "$K" "$OUT/deb"
    mkdir -p "$OUT/deb"
    (cd "$OUT/deb" && apt-get download kannel >/dev/null 2>&1) || {
        apt-get update -qq >/dev/null 2>&1 || true
        (cd "$OUT/deb" && apt-get download kannel >/dev/null)
    }
    dpkg-deb -x "$OUT"/deb/kannel_*.deb "$K"
fi
missing=$(ldd "$K/usr/sbin/bearerbox" "$K/usr/sbin/smsbox" | awk '/not found/ { print $1 }' | sort -u)
if [ -n "$missing" ]; then
    echo "Kannel needs: $missing; installing its libraries"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libct4 libmariadb3 libpq5 libsqlite3-0 libpcre3 libxml2 libhiredis0.14 >/dev/null
fi
kver=$("$K/usr/sbin/bearerbox" --version 2>&1 | sed -n 's/.*Kannel bearerbox version `\([^'"'"']*\).*/\1/p' | head -1)

# ---- ports, smscsim -----------------------------------------------------------
free_port() { # free_port FROM: the first free loopback port from FROM up
    python3 - "$1" <<'PY'
import socket, sys
p = int(sys.argv[1])
while True:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        print(p)
        break
    except OSError:
        p += 1
    finally:
        s.close()
PY
}
SIM=$(free_port 23100)
ADMIN=$(free_port $((SIM + 1)))
BOX=$(free_port $((ADMIN + 1)))
SEND=$(free_port $((BOX + 1)))
DLR=$(free_port $((SEND + 1)))
pids=
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
"$B/smscsim" --listen "127.0.0.1:$SIM" --dlr-delay-ms "$DLR_MS" --stats "$OUT/smscsim-kannel.json" \
    --max-seconds 3600 >"$OUT/smscsim-kannel.out" 2>&1 &
sim=$!
pids="$pids $sim"

cat >"$OUT/kannel.conf" <<CONF
group = core
admin-port = $ADMIN
admin-password = bench
smsbox-port = $BOX
box-allow-ip = 127.0.0.1
log-file = "$OUT/bearerbox.log"
log-level = 2
dlr-storage = internal
sms-incoming-queue-limit = -1

group = smsc
smsc = smpp
smsc-id = sim
host = 127.0.0.1
port = $SIM
transceiver-mode = true
smsc-username = flex
smsc-password = flexpass
system-type = VMA
max-pending-submits = 256
reconnect-delay = 1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $BOX
sendsms-port = $SEND
log-file = "$OUT/smsbox.log"
log-level = 2
max-pending-requests = 4096

group = sendsms-user
username = bench
password = bench
max-messages = 1
concatenation = false

group = sms-service
keyword = default
text = "-"
catch-all = true
max-messages = 0
CONF
rm -f "$OUT/bearerbox.log" "$OUT/smsbox.log"
"$K/usr/sbin/bearerbox" "$OUT/kannel.conf" >"$OUT/bearerbox.out" 2>&1 &
bb=$!
pids="$pids $bb"
sleep 1
"$K/usr/sbin/smsbox" "$OUT/kannel.conf" >"$OUT/smsbox.out" 2>&1 &
sb=$!
pids="$pids $sb"
# up when sendsms answers and the SMPP link is online
up=0
for _ in $(seq 1 100); do
    kill -0 "$bb" 2>/dev/null && kill -0 "$sb" 2>/dev/null || break
    if curl -s "http://127.0.0.1:$ADMIN/status?password=bench" | grep -q "online" &&
        curl -s -o /dev/null "http://127.0.0.1:$SEND/"; then
        up=1
        break
    fi
    sleep 0.2
done
[ "$up" = 1 ] || { echo "Kannel did not come up; see $OUT/bearerbox.log"; exit 1; }

echo "== Kannel $kver: $N messages through sendsms, receipts back"
cpu0=$(awk '{ print $14 + $15 }' "/proc/$bb/stat") cpus0=$(awk '{ print $14 + $15 }' "/proc/$sb/stat")
"$B/kannelload" --url "http://127.0.0.1:$SEND/cgi-bin/sendsms?username=bench&password=bench" \
    --count "$N" --dlr-listen "127.0.0.1:$DLR" --clients "${CLIENTS:-64}" --timeout 900 \
    --out "$OUT/kannel.json" || { echo "Kannel's run was incomplete"; cat "$OUT/kannel.json"; exit 1; }
cpu1=$(awk '{ print $14 + $15 }' "/proc/$bb/stat") cpus1=$(awk '{ print $14 + $15 }' "/proc/$sb/stat")
tck=$(getconf CLK_TCK)
kill "$sb" "$bb" "$sim" 2>/dev/null || true
wait "$sb" "$bb" "$sim" 2>/dev/null || true
pids=

echo "== Flex: the same $N messages, flexbench"
"$B/flexbench" --patients "$N" --optout-ratio 0 --dlr-delay-ms "$DLR_MS" --out "$OUT/flex" \
    --batch "${FLEX_BATCH:-1}" \
    >"$OUT/flexbench.out" 2>&1 || { cat "$OUT/flexbench.out"; exit 1; }

python3 - "$OUT" "$N" "$kver" "$cpu0" "$cpu1" "$cpus0" "$cpus1" "$tck" <<'PY'
import json, sys, time
out, n, kver = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c0, c1, s0, s1, tck = (float(x) for x in sys.argv[4:9])
k = json.load(open(f"{out}/kannel.json"))
f = json.load(open(f"{out}/flex/report.json"))
kmps, fmps = k["end_to_end_mps"], f["throughput_mps"]
kcpu = ((c1 - c0) + (s1 - s0)) / tck * 1e5 / max(k["receipts"], 1)
fcpu = f["cpu_s_per_100k"]
ratio = fmps / kmps if kmps else 0
md = f"""# Flex against Kannel, same machine, same run

{time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}; `sh bench/compare.sh {out} {n}`. {n:,} messages
each, to smscsim (receipts after {50} ms), on the same 2 cores as Redis and the simulators.

| | end to end, msg/s | receipts back | CPU s per 100k (gateway processes) |
|---|---|---|---|
| Kannel {kver} (bearerbox + smsbox, sendsms, 64 clients, window 256) | {kmps:,.0f} | {k['receipts']:,} of {k['asked']:,} | {kcpu:.2f} |
| Flex (flexd, `flexbench --patients {n} --optout-ratio 0 --batch {f['run'].get('jobs_per_entry', 1)}`) | {fmps:,.0f} | lost {f['lost']}, duplicated {f['duplicated']} | {fcpu:.2f} |

**Flex / Kannel: {ratio:.1f}x** end to end.
"""
open(f"{out}/compare.md", "w").write(md)
print(md)
sys.exit(0 if f["lost"] == 0 and f["duplicated"] == 0 and k["receipts"] == n else 1)
PY
