#!/bin/sh
# httpsim, the Twilio-style HTTP carrier simulator, on loopback: the
# Messages API with curl (201 and a unique sid, the log line, 401, 400s,
# 404, 429 with Retry-After, 500 at --fail-rate 1, keep-alive), status
# callbacks and --mo-file inbound texts received by a small python server
# and their X-Twilio-Signature checked with openssl, retries and give-ups,
# the --stats counters, and SIGTERM (exit 0).
# Exit 0 pass, 77 skip (python3, curl or openssl missing).
set -u
B=${BUILD:-build}
for c in python3 curl openssl; do
    command -v $c >/dev/null || { echo "$c missing"; exit 77; }
done
[ -x "$B/httpsim" ] || { echo "$B/httpsim not built"; exit 77; }
tmp=$(mktemp -d /tmp/flex-httpsim.XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
. tests/integ/lib/check.sh

# Ports below the ephemeral range (see tests/integ/smpp_client.c).
base=$((20000 + ($$ % 2500) * 5))
A=$base T=$((base + 1)) F=$((base + 2)) U=$((base + 3)) R=$((base + 4))
api() { echo "http://127.0.0.1:$1/2010-04-01/Accounts/ACtest/Messages.json"; }
cb="http://127.0.0.1:$R/webhooks/backup/status"
# stat FILE KEY: a counter from a --stats file.
stat() { v=$(sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1" 2>/dev/null); echo "${v:-0}"; }
wait_for() { # EXPR SECONDS
    n=0
    while [ $n -lt $(($2 * 10)) ]; do
        eval "$1" && return 0
        sleep 0.1
        n=$((n + 1))
    done
    return 1
}

# The receiver: every POST as one JSON line (path, signature, the form's
# pairs in order); /flaky/ answers 500 twice, then 200; /dead/ always 503;
# /onceper/ is answered only as the first request of its connection (a
# later one is read and its connection closed unanswered, as a server's
# idle timeout crossing a request does); /never/ is never answered; each
# drop a line in the drops file.
cat >"$tmp/recv.py" <<'PY'
import json, sys, threading, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
out, lock, tries = open(sys.argv[2], "a"), threading.Lock(), {}
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    served = 0
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.served += 1
        if ("/onceper/" in self.path and self.served > 1) or "/never/" in self.path:
            with lock:
                open(sys.argv[2] + ".drops", "a").write(self.path + "\n")
            self.close_connection = True
            return
        with lock:
            n = tries[self.path] = tries.get(self.path, 0) + 1
            out.write(json.dumps({"path": self.path, "sig": self.headers.get("X-Twilio-Signature"),
                                  "type": self.headers.get("Content-Type"),
                                  "params": urllib.parse.parse_qsl(body, keep_blank_values=True)}) + "\n")
            out.flush()
        code = 503 if "/dead/" in self.path else 500 if "/flaky/" in self.path and n <= 2 else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$tmp/recv.py" "$R" "$tmp/recv.jsonl" &
pids="$pids $!"
touch "$tmp/recv.jsonl"
# got PATH [FIELD=VALUE...]: how many requests to PATH had all those fields.
got() {
    python3 - "$tmp/recv.jsonl" "$@" <<'PY'
import json, sys
path, want = sys.argv[2], [a.split("=", 1) for a in sys.argv[3:]]
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    p = dict(r["params"])
    n += r["path"] == path and all(p.get(k) == v for k, v in want)
print(n)
PY
}

printf '+12025550111\tSTOP\n12025550112\t12025550199\tHola, ¿mañana a las 9?\n' >"$tmp/mo.txt"
printf '+12025550113\tYES\n' >"$tmp/mo2.txt"
"$B/httpsim" --listen "127.0.0.1:$A" --callback-delay-ms 50 --callback-sent --log "$tmp/sim.log" \
    --stats "$tmp/a.json" --mo-file "$tmp/mo.txt" --max-seconds 120 2>"$tmp/a.err" &
sima=$!
pids="$pids $sima"
"$B/httpsim" --listen "127.0.0.1:$T" --throttle-mps 2 --stats "$tmp/t.json" \
    --mo-file "$tmp/mo2.txt" --mo-url "http://127.0.0.1:$R/explicit/inbound" --max-seconds 120 &
pids="$pids $!"
"$B/httpsim" --listen "127.0.0.1:$F" --fail-rate 1 --stats "$tmp/f.json" --max-seconds 120 &
pids="$pids $!"
"$B/httpsim" --listen "127.0.0.1:$U" --undelivered-rate 1 --callback-retries 1 \
    --stats "$tmp/u.json" --max-seconds 120 2>"$tmp/u.err" &
pids="$pids $!"
# Ready once their first stats are written (a request would be counted).
check "four simulators and the receiver listen" wait_for \
    "[ -s $tmp/a.json -a -s $tmp/t.json -a -s $tmp/f.json -a -s $tmp/u.json ] &&
     curl -s -o /dev/null -X POST http://127.0.0.1:$R/ping" 10

# send PORT OUT [curl args...]: a POST as the HTTP adapter makes it; the
# status code on stdout, the body in OUT, the headers in OUT.h.
send() {
    port=$1 out=$2
    shift 2
    curl -s -u ACtest:testtoken -o "$out" -D "$out.h" -w '%{http_code}' "$@" "$(api "$port")"
}
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))" "$@"; }

# 1. Accepted: 201, Twilio's JSON, the log line.
code=$(send "$A" "$tmp/r1" --data-urlencode To=+12025550101 --data-urlencode From=+12025550100 \
    --data-urlencode 'Body=Hi Zoë, see you Dec 1 at 9:30 AM. Reply C to confirm.' \
    --data-urlencode "StatusCallback=$cb")
check "201 Created" test "$code" = 201
sid=$(field "$tmp/r1" sid)
check "sid is SM + 32 hex digits" sh -c "echo '$sid' | grep -qx 'SM[0-9a-f]\{32\}'"
check "status queued, to, from, body, error_code null" python3 -c "
import json, sys
r = json.load(open('$tmp/r1'))
assert r['status'] == 'queued' and r['to'] == '+12025550101' and r['from'] == '+12025550100'
assert r['body'] == 'Hi Zoë, see you Dec 1 at 9:30 AM. Reply C to confirm.', r['body']
assert r['error_code'] is None and r['account_sid'] == 'ACtest' and r['num_segments'] == '1'
assert r['uri'] == '/2010-04-01/Accounts/ACtest/Messages/$sid.json'"
code=$(send "$A" "$tmp/r2" --data-urlencode To=+12025550102 --data-urlencode From=+12025550100 \
    --data-urlencode "Body=Tab	and \\ backslash" --data-urlencode "StatusCallback=$cb")
sid2=$(field "$tmp/r2" sid)
check "a second message, another sid" test "$code" = 201 -a "$sid2" != "$sid"
check "log line: to, from, utf8, text, sid" wait_for "grep -qxF '+12025550101	+12025550100	utf8	Hi Zoë, see you Dec 1 at 9:30 AM. Reply C to confirm.	$sid' '$tmp/sim.log'" 3
check "log escapes tab and backslash" \
    wait_for "grep -qF 'utf8	Tab\\tand \\\\ backslash	$sid2' '$tmp/sim.log'" 3

# 2. Refusals.
code=$(curl -s -u ACtest:wrong -o "$tmp/r3" -D "$tmp/r3.h" -w '%{http_code}' \
    --data-urlencode To=+12025550101 "$(api "$A")")
check "401 for a wrong auth token" test "$code" = 401
check "...code 20003" test "$(field "$tmp/r3" code)" = 20003
check "...and WWW-Authenticate" grep -qi '^WWW-Authenticate: Basic' "$tmp/r3.h"
code=$(curl -s -o /dev/null -w '%{http_code}' --data-urlencode To=+12025550101 "$(api "$A")")
check "401 without credentials" test "$code" = 401
code=$(send "$A" "$tmp/r4" --data-urlencode To=2025550101 --data-urlencode From=+12025550100 \
    --data-urlencode Body=x)
check "400 code 21211 for a To that is not E.164" \
    test "$code $(field "$tmp/r4" code) $(field "$tmp/r4" status)" = "400 21211 400"
code=$(send "$A" "$tmp/r5" --data-urlencode To=+12025550101 --data-urlencode From=+12025550100)
check "400 code 21602 without Body" test "$code $(field "$tmp/r5" code)" = "400 21602"
code=$(send "$A" "$tmp/r6" --data-urlencode To=+12025550101 --data-urlencode From=+12025550100 \
    --data-urlencode Body=x --data-urlencode StatusCallback=ftp://x)
check "400 code 21609 for a bad StatusCallback" test "$code $(field "$tmp/r6" code)" = "400 21609"
code=$(curl -s -u ACtest:testtoken -o "$tmp/r7" -w '%{http_code}' -d Body=x \
    "http://127.0.0.1:$A/2010-04-01/Accounts/ACother/Messages.json")
check "404 code 20404 for another account's path" test "$code $(field "$tmp/r7" code)" = "404 20404"
head -c 17000 /dev/zero | tr '\0' x >"$tmp/big"
code=$(send "$A" "$tmp/junk" --data-binary "@$tmp/big")
check "413 for a body over 16 KiB" test "$code" = 413

# 3. Throttling at 2 msg/s, burst 1: six requests on one connection.
args=""
for i in 1 2 3 4 5 6; do args="$args -o /dev/null $(api "$T")"; done
curl -s -u ACtest:testtoken -D "$tmp/t.h" --data-urlencode To=+12025550103 \
    --data-urlencode From=+12025550100 --data-urlencode Body=hi $args
check "throttled: 429s beside the 201" \
    test "$(grep -c '^HTTP/1.1 201' "$tmp/t.h") $(grep -c '^HTTP/1.1 429' "$tmp/t.h")" = "1 5"
check "...with Retry-After: 1" grep -qi '^Retry-After: 1' "$tmp/t.h"
code=$(send "$T" "$tmp/r8" --data-urlencode To=+12025550103 --data-urlencode From=+12025550100 \
    --data-urlencode Body=hi)
check "...code 20429" test "$code $(field "$tmp/r8" code)" = "429 20429"
check "throttled counted; six requests, one TCP connection (keep-alive)" wait_for \
    "[ \"\$(stat $tmp/t.json throttled) \$(stat $tmp/t.json connections) \$(stat $tmp/t.json received)\" = '6 2 1' ]" 3

# 4. --fail-rate 1: every message answered 500.
code=$(send "$F" "$tmp/r9" --data-urlencode To=+12025550104 --data-urlencode From=+12025550100 \
    --data-urlencode Body=hi --data-urlencode "StatusCallback=$cb")
check "--fail-rate 1: 500 code 20500" test "$code $(field "$tmp/r9" code)" = "500 20500"
check "...counted failed, nothing received" \
    wait_for "[ \"\$(stat $tmp/f.json failed) \$(stat $tmp/f.json received)\" = '1 0' ]" 3

# 5. Status callbacks: sent, then delivered after 50 ms, signed.
check "callbacks 'sent' and 'delivered' for the first message" wait_for \
    "[ \"\$(got /webhooks/backup/status MessageSid=$sid MessageStatus=sent) \$(got /webhooks/backup/status MessageSid=$sid MessageStatus=delivered To=+12025550101 From=+12025550100 AccountSid=ACtest)\" = '1 1' ]" 5
check "...and for the second" wait_for \
    "[ \"\$(got /webhooks/backup/status MessageSid=$sid2 MessageStatus=delivered)\" = 1 ]" 5
check "...sent as a form" sh -c "grep -q '\"application/x-www-form-urlencoded\"' '$tmp/recv.jsonl'"

# 6. --mo-file: to the first StatusCallback with /inbound for /status
# (simulator A), and to --mo-url at start (simulator T).
check "inbound texts to the derived URL" wait_for \
    "[ \"\$(got /webhooks/backup/inbound From=+12025550111 To=+12025550100 Body=STOP NumMedia=0 AccountSid=ACtest) \$(got /webhooks/backup/inbound From=+12025550112 To=+12025550199 'Body=Hola, ¿mañana a las 9?')\" = '1 1' ]" 5
check "an inbound text to --mo-url" wait_for \
    "[ \"\$(got /explicit/inbound From=+12025550113 Body=YES)\" = 1 ]" 5

# 7. Retries: a receiver failing twice, then taking it; one always
# failing (given up after the retries); --undelivered-rate 1.
send "$A" "$tmp/junk" --data-urlencode To=+12025550105 --data-urlencode From=+12025550100 \
    --data-urlencode Body=flaky --data-urlencode "StatusCallback=http://127.0.0.1:$R/flaky/status" >/dev/null
code=$(send "$U" "$tmp/r10" --data-urlencode To=+12025550106 --data-urlencode From=+12025550100 \
    --data-urlencode Body=undelivered --data-urlencode "StatusCallback=$cb")
sid3=$(field "$tmp/r10" sid)
send "$U" "$tmp/junk" --data-urlencode To=+12025550107 --data-urlencode From=+12025550100 \
    --data-urlencode Body=dead --data-urlencode "StatusCallback=http://127.0.0.1:$R/dead/status" >/dev/null
# "sent" and "delivered" both refused once (the first two requests), then
# both taken.
check "a refused callback is tried again until taken" wait_for \
    "[ \"\$(got /flaky/status) \$(stat $tmp/a.json callbacks_retried) \$(stat $tmp/a.json callbacks_pending)\" = '4 2 0' ]" 5
check "--undelivered-rate 1: undelivered with ErrorCode 30003" wait_for \
    "[ \"\$(got /webhooks/backup/status MessageSid=$sid3 MessageStatus=undelivered ErrorCode=30003)\" = 1 ]" 5
check "a callback always refused: given up after --callback-retries 1" \
    wait_for "[ \"\$(got /dead/status) \$(stat $tmp/u.json callbacks_failed)\" = '2 1' ]" 5
check "...saying why on stderr" grep -q "given up after 2 tries: HTTP 503" "$tmp/u.err"

# 7b. A kept-alive callback connection the receiver closes as a request
# arrives: the callback again on a new connection at once, not counted as a
# retry (simulator T, two messages a second: one every 0.6 s).
t_retried=$(stat "$tmp/t.json" callbacks_retried) # (its --mo-url text may have met R starting)
for i in 1 2 3; do
    send "$T" "$tmp/junk" --data-urlencode To=+1202555012$i --data-urlencode From=+12025550100 \
        --data-urlencode Body=keep --data-urlencode "StatusCallback=http://127.0.0.1:$R/onceper/status" >/dev/null
    sleep 0.6
done
check "callbacks on a reused connection closed unanswered: each sent again on a new one" wait_for \
    "[ \"\$(got /onceper/status MessageStatus=delivered) \$(stat $tmp/t.json callbacks_sent) \$(stat $tmp/t.json callbacks_pending)\" = '3 3 0' ]" 5
check "...the receiver did close reused connections" test "$(wc -l <"$tmp/recv.jsonl.drops")" -ge 1
check "...none counted a retry or a failure" \
    test "$(stat "$tmp/t.json" callbacks_retried) $(stat "$tmp/t.json" callbacks_failed)" = "$t_retried 0"
# ...and a receiver that closes every request unanswered: the new
# connection is tried once per try, not again and again (simulator U:
# --callback-retries 1, so two tries, each at most a reused connection and
# a new one).
send "$U" "$tmp/junk" --data-urlencode To=+12025550109 --data-urlencode From=+12025550100 \
    --data-urlencode Body=never --data-urlencode "StatusCallback=http://127.0.0.1:$R/never/status" >/dev/null
check "a receiver closing every callback unanswered: given up after the tries" \
    wait_for "[ \"\$(stat $tmp/u.json callbacks_failed) \$(stat $tmp/u.json callbacks_pending)\" = '2 0' ]" 5
check "...each try on at most two connections" \
    test "$(grep -c /never/ "$tmp/recv.jsonl.drops")" -ge 2 -a "$(grep -c /never/ "$tmp/recv.jsonl.drops")" -le 4
code=$(send "$A" "$tmp/r12" --data-urlencode To=+12025550108 --data-urlencode From=+12025550100 \
    --data-urlencode Body=hi --data-urlencode "StatusCallback=http://127.0.0.1:$R/a b")
check "a StatusCallback with a space: 400 code 21609" test "$code $(field "$tmp/r12" code)" = "400 21609"
code=$(send "$A" "$tmp/r11" --data-urlencode To=+12025550108 --data-urlencode From=+12025550100 \
    --data-urlencode Body=hi --data-urlencode "StatusCallback=https://127.0.0.1:$R/webhooks/backup/status")
check "an https:// StatusCallback: 400 code 21609, saying httpsim calls back over http://" \
    sh -c "[ '$code $(field "$tmp/r11" code)' = '400 21609' ] && grep -q 'http:// only' '$tmp/r11'"

# 8. Every request the receiver got is signed: HMAC-SHA1 of the URL and the
# sorted pairs, under the auth token (openssl, not the simulator's code).
python3 - "$tmp/recv.jsonl" "$tmp/sig" "$R" <<'PY'
import json, sys
for i, line in enumerate(open(sys.argv[1])):
    r = json.loads(line)
    if r["path"] == "/ping":
        continue
    s = "http://127.0.0.1:" + sys.argv[3] + r["path"] + "".join(k + v for k, v in sorted(r["params"]))
    open(f"{sys.argv[2]}.{i}.data", "w").write(s)
    open(f"{sys.argv[2]}.{i}.want", "w").write(r["sig"] or "")
PY
bad=0 n=0
for d in "$tmp"/sig.*.data; do
    n=$((n + 1))
    [ "$(openssl dgst -sha1 -hmac testtoken -binary <"$d" | base64)" = "$(cat "${d%.data}.want")" ] ||
        bad=$((bad + 1))
done
check "all $n webhooks carry a valid X-Twilio-Signature" test "$n" -ge 12 -a "$bad" -eq 0
one=$(ls "$tmp"/sig.*.data | head -n 1)
printf 'x' >>"$one"
check "...and the check itself fails on a changed string" test \
    "$(openssl dgst -sha1 -hmac testtoken -binary <"$one" | base64)" != "$(cat "${one%.data}.want")"

# 9. Stats of A and SIGTERM.
check "stats: received, destinations, callbacks, receipts, inbound" wait_for \
    "[ \"\$(stat $tmp/a.json received) \$(stat $tmp/a.json unique_destinations) \$(stat $tmp/a.json callbacks_sent) \$(stat $tmp/a.json receipts_sent) \$(stat $tmp/a.json inbound_sent) \$(stat $tmp/a.json callbacks_failed)\" = '3 3 6 3 2 0' ]" 3
check "stats: rejected and unauthorized requests" \
    test "$(stat "$tmp/a.json" unauthorized) $(stat "$tmp/a.json" rejected)" = "2 7"
kill -TERM "$sima"
wait "$sima"
check "SIGTERM: exit 0" test $? -eq 0
check "...stats written at exit" test "$(stat "$tmp/a.json" callbacks_pending)" = 0

"$B/httpsim" --help >"$tmp/out"
check "--help: usage, exit 0" sh -c "[ $? -eq 0 ] && grep -q '^usage: httpsim .*--listen' '$tmp/out'"
"$B/httpsim" --fail-rate 2 2>/dev/null
check "a bad option exits 2" test $? -eq 2
"$B/httpsim" --listen "127.0.0.1:$T" --max-seconds 2 2>"$tmp/err"
check "a port taken exits 1, saying so" sh -c "[ $? -eq 1 ] && grep -q 'cannot listen' '$tmp/err'"

echo "$fails failed"
[ "$fails" -eq 0 ]
