#!/bin/sh
# flexd through the HTTP carrier (adapters/http.c) against httpsim and a
# real redis-server: every message accepted and every status callback
# matched; inbound texts by signed webhook into the reply path (a STOP opts
# out); forged, unsigned and replayed-to-another-URL callbacks refused
# without effect; throttling (429, Retry-After) and 500s with nothing lost;
# failover from a dead SMPP carrier to HTTP, and the HTTP carrier down at
# start (jobs go by SMPP).  Exit 0 pass, 77 skip.
NAME=http
HT=$((20000 + ($$ % 5000) * 2 + 10000)) # httpsim's port
. tests/integ/lib/env.sh
command -v openssl >/dev/null || { echo "openssl missing"; exit 77; }
D="$D -D carrier.backup.url=http://127.0.0.1:$HT \
-D carrier.backup.status_callback=http://127.0.0.1:$HP/webhooks/backup/status \
-D carrier.backup.reconnect_max=1s"
MOF=$tmp/mo.txt
printf '+12025550177\tSTOP\n' >"$MOF"
start_httpsim() { # extra httpsim flags
    "$B/httpsim" --listen "127.0.0.1:$HT" --callback-delay-ms 20 --log "$tmp/http.log" \
        --stats "$tmp/http.json" --max-seconds 300 "$@" &
    hs=$!
    pids="$pids $hs"
    wait_for 'curl -s -o /dev/null "http://127.0.0.1:$HT/"' 5
}
hstat() { v=$(sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$tmp/http.json" 2>/dev/null); echo "${v:-0}"; }
metric() { curl -s "http://127.0.0.1:$HP/metrics" | sed -n "s/^$1 //p"; }
. tests/integ/lib/jobs.sh
jobs() { message_jobs h "$1" "$2"; } # FIRST COUNT
# post PATH SIGNATURE FORM: a webhook as a carrier would send it; prints the status
post() {
    curl -s -o /dev/null -w '%{http_code}' -H "X-Twilio-Signature: $2" \
        --data "$3" "http://127.0.0.1:$HP$1"
}
# sign URL k v k v ...: the Twilio signature (params sorted by key)
sign() {
    url=$1
    shift
    python3 - "$url" "$@" <<'PY'
import base64, hashlib, hmac, sys
url, kv = sys.argv[1], sys.argv[2:]
pairs = sorted(zip(kv[0::2], kv[1::2]))
msg = url + "".join(k + v for k, v in pairs)
print(base64.b64encode(hmac.new(b"testtoken", msg.encode(), hashlib.sha1).digest()).decode())
PY
}

# --- HTTP only --------------------------------------------------------------
start_httpsim --mo-file "$MOF" --mo-url "http://127.0.0.1:$HP/webhooks/backup/inbound" \
    --unsubscribed +12025550299
# engine.max_parts = 1 in this flexd only (flexctl keeps 6): the bodies of
# the jobs fit one part, a template rendered longer does not
"$B/flexd" $D -D route.default=backup -D engine.max_parts=1 >/dev/null 2>>"$tmp/flexd.log" &
f1=$!
pids="$pids $f1"
check "flexd up" wait_for 'curl -sf http://127.0.0.1:$HP/healthz >/dev/null' 10
jobs 0 300 >"$tmp/a.jsonl"
ctl enqueue "$tmp/a.jsonl" >/dev/null
check "299 accepted by the HTTP carrier (one refused: 21610)" wait_for '[ "$(stat sent)" = 299 ]' 20
check "every status callback matched (delivered = 299: +12025550299 refused)" wait_for '[ "$(stat delivered)" = 299 ]' 20
check "httpsim received exactly 299" wait_for '[ "$(hstat received)" = 299 ]' 5
check "connections reused (at most the window's 64 for 300 messages)" \
    test "$(hstat connections)" -le 65
check "a job's record: delivered, with its sid" \
    sh -c "\"$B/flexctl\" $D status h-7 | grep -q '\"state\":\"delivered\",\"carrier\":\"backup\",\"msgid\":\"sm[0-9a-f]*\"'"
check "21610 (unsubscribed at the carrier): the job failed, the number opted out" \
    wait_for '[ "$(ctl optout check +12025550299)" = opted-out ] && [ "$(stat failed)" = 1 ]' 10
check "inbound STOP by signed webhook opts the number out" \
    wait_for '[ "$(ctl optout check +12025550177)" = opted-out ]' 10
r0=$(hstat received)
printf '{"type":"message","id":"h-long","location":"loc-1","patient":"p-long","phone":"+12025550178","template":"reminder_24h","vars":{"first_name":"%s","date":"Dec 1","time":"9:30 AM"}}\n' \
    "$(printf 'A%.0s' $(seq 1 120))" | ctl enqueue - >/dev/null
check "engine.max_parts holds on HTTP too: a longer text fails, never sent" \
    wait_for "\"$B/flexctl\" $D status h-long | grep -q '\"state\":\"failed\".*too many parts'" 10
check "... httpsim received nothing more" test "$(hstat received)" = "$r0"

# --- webhooks that must change nothing -------------------------------------
sid=$(sed -n '1p' "$tmp/http.log" | awk -F'\t' '{print $5}')
cb="http://127.0.0.1:$HP/webhooks/backup/status"
good=$(sign "$cb" MessageSid "$sid" MessageStatus undelivered)
refused0=$(metric flex_webhooks_refused_total)
check "unsigned callback: 403" test "$(post /webhooks/backup/status '' "MessageSid=$sid&MessageStatus=undelivered")" = 403
check "forged signature: 403" test "$(post /webhooks/backup/status 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' "MessageSid=$sid&MessageStatus=undelivered")" = 403
other=$(sign "http://127.0.0.1:$HP/webhooks/other/status" MessageSid "$sid" MessageStatus undelivered)
check "signed for another URL: 403" test "$(post /webhooks/backup/status "$other" "MessageSid=$sid&MessageStatus=undelivered")" = 403
check "unknown carrier: 403" test "$(post /webhooks/nosuch/status "$good" "MessageSid=$sid&MessageStatus=undelivered")" = 403
check "malformed form: 400" test "$(post /webhooks/backup/status "$good" "MessageSid=%zz")" = 400
check "refusals counted" test "$(metric flex_webhooks_refused_total)" = $((refused0 + 5))
check "... and logged once a minute at most (anyone can send them)" \
    test "$(grep -c 'webhook for carrier' "$tmp/flexd.log")" = 1
# raw_post HEADER...: a signed callback (an intermediate status: it ends
# nothing) with these framing headers (LEN: the body's length); prints the status
raw_post() {
    python3 - "$HP" "$(sign "$cb" MessageSid "$sid" MessageStatus sent)" \
        "MessageSid=$sid&MessageStatus=sent" "$@" <<'PY'
import socket, sys
port, sig, body, extra = sys.argv[1], sys.argv[2], sys.argv[3].encode(), sys.argv[4:]
head = ["POST /webhooks/backup/status HTTP/1.1", "Host: 127.0.0.1:" + port,
        "X-Twilio-Signature: " + sig, "Content-Type: application/x-www-form-urlencoded"]
s = socket.create_connection(("127.0.0.1", int(port)), 5)
s.sendall(("\r\n".join(head + [h.replace("LEN", str(len(body))) for h in extra]) + "\r\n\r\n").encode() + body)
print(s.recv(64).split(b" ")[1].decode())
PY
}
check "a signed callback, its body's length given once: 200" test "$(raw_post 'Content-Length: LEN')" = 200
check "... Content-Length twice (a proxy may read the other): 400" \
    test "$(raw_post 'Content-Length: LEN' 'Content-Length: LEN')" = 400
check "... Content-Length and Transfer-Encoding: 400" \
    test "$(raw_post 'Content-Length: LEN' 'Transfer-Encoding: identity')" = 400
check "nothing changed: still 299 delivered" \
    sh -c "[ \"\$(\"$B/flexctl\" $D stats | sed -n 's/.*\"delivered\":\([0-9]*\).*/\1/p')\" = 299 ]"
check "a valid duplicate final callback counts once" \
    test "$(post /webhooks/backup/status "$(sign "$cb" MessageSid "$sid" MessageStatus delivered)" "MessageSid=$sid&MessageStatus=delivered")" = 200
sleep 0.5
check "... still 299 delivered" test "$(stat delivered)" = 299
lsid=$(echo "$sid" | tr 'A-Z' 'a-z')
check "... its map field gone with the first: a copy to another flexd, or after a restart, matches nothing" \
    sh -c "for k in \$(redis-cli -p $RP --scan --pattern 'flex:msgid:backup:*'); do
               [ \"\$(redis-cli -p $RP HEXISTS \$k $lsid)\" = 0 ] || exit 1; done"
check "an intermediate status (sent) is taken and ends nothing" \
    test "$(post /webhooks/backup/status "$(sign "$cb" MessageSid SMffff MessageStatus sent)" "MessageSid=SMffff&MessageStatus=sent")" = 200
check "a callback URL with a query string: signed with it (as Twilio signs), 200" \
    test "$(post '/webhooks/backup/status?tag=a%2Fb' "$(sign "$cb?tag=a%2Fb" MessageSid SMffff MessageStatus sent)" "MessageSid=SMffff&MessageStatus=sent")" = 200
check "... signed without it: 403 (the query is signed too)" \
    test "$(post '/webhooks/backup/status?tag=a%2Fb' "$(sign "$cb" MessageSid SMffff MessageStatus sent)" "MessageSid=SMffff&MessageStatus=sent")" = 403
check "Twilio's partially_delivered is a status, not a malformed callback" \
    test "$(post /webhooks/backup/status "$(sign "$cb" MessageSid SMfffe MessageStatus partially_delivered)" "MessageSid=SMfffe&MessageStatus=partially_delivered")" = 200

# --- 1,100 slow clients of one address do not take /healthz away -------
python3 - "$HP" "$tmp/slow.ready" <<'PY' &
import resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
socks = []
for i in range(1100):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    try:
        s.connect(("127.0.0.1", int(sys.argv[1])))
        s.send(b"POST /webhooks/backup/status HTTP/1.1\r\nHost: x\r\n") # never finished
    except OSError:
        pass
    socks.append(s)
open(sys.argv[2], "w").close()
time.sleep(6)
PY
pids="$pids $!"
wait_for '[ -e "$tmp/slow.ready" ]' 20
check "1,100 slow connections from one address: /healthz still answers" \
    sh -c "curl -sf -m 2 http://127.0.0.1:$HP/healthz >/dev/null"
check "... and /metrics" sh -c "curl -sf -m 2 http://127.0.0.1:$HP/metrics | grep -q flex_jobs_read_total"

# --- throttling and 500s -----------------------------------------------------
kill "$hs"; wait "$hs" 2>/dev/null
start_httpsim --throttle-mps 200 --fail-rate 0.1
jobs 300 400 >"$tmp/b.jsonl"
ctl enqueue "$tmp/b.jsonl" >/dev/null
check "throttled and 500s: all 400 more accepted in the end" wait_for '[ "$(stat sent)" = 699 ]' 40
check "... and delivered" wait_for '[ "$(stat delivered)" = 699 ]' 20
check "... none failed (but the 21610 and the text too long)" test "$(stat failed)" = 2
check "httpsim throttled some (429)" test "$(hstat throttled)" -gt 0
check "... flexd counted them on /metrics" \
    test "$(metric 'flex_carrier_events_total{carrier="backup",event="throttled"}')" -gt 0
check "httpsim failed some (500)" test "$(hstat failed)" -gt 0

# --- a webhook is answered only once stored ----------------------------------
# A patient's text posted while Redis holds writes: the carrier gets no 200
# until the writer has stored it; a flexd that dies first has said nothing,
# and the carrier sends it again.  (Texts for the front desk: a STOP would
# add its confirmation to the counts the checks below expect.)
ib="http://127.0.0.1:$HP/webhooks/backup/inbound"
text_form() { # FROM SID BODY (one word): a signed inbound text; prints "SIGNATURE FORM"
    printf '%s Body=%s&From=%%2B%s&MessageSid=%s&To=%%2B12025550100\n' \
        "$(sign "$ib" Body "$3" From "+$1" MessageSid "$2" To +12025550100)" "$3" "$1" "$2"
}
# late_post FROM SID BODY OUT: posts it in the background; OUT gets "CODE MS"
late_post() {
    set -- "$4" $(text_form "$1" "$2" "$3")
    (
        t0=$(date +%s%N)
        code=$(curl -s -m 15 -o /dev/null -w '%{http_code}' -H "X-Twilio-Signature: $2" \
            --data "$3" "$ib")
        echo "$code $((($(date +%s%N) - t0) / 1000000))" >"$1.tmp"
        mv "$1.tmp" "$1"
    ) &
}
at_desk() { redis-cli -p "$RP" xrange flex:frontdesk:loc-1 - + | grep -c "^$1\$"; }
redis-cli -p "$RP" client pause 2000 write >/dev/null
late_post 12025550181 SMlate1 Running-late-1 "$tmp/late1"
check "while Redis holds writes, a patient's text waits for its answer" \
    wait_for '[ "$(metric flex_webhooks_waiting)" = 1 ]' 2
check "... not answered yet" test ! -e "$tmp/late1"
check "... answered 200 once stored (after the pause)" \
    wait_for '[ -e "$tmp/late1" ] && [ "$(cut -d" " -f1 "$tmp/late1")" = 200 ] && [ "$(cut -d" " -f2 "$tmp/late1")" -ge 1200 ]' 10
check "... at the front desk" test "$(at_desk Running-late-1)" = 1
check "... nothing left waiting" test "$(metric flex_webhooks_waiting)" = 0
redis-cli -p "$RP" client pause 3000 write >/dev/null
late_post 12025550182 SMlate2 Running-late-2 "$tmp/late2"
wait_for '[ "$(metric flex_webhooks_waiting)" = 1 ]' 2
kill -9 "$f1"; wait "$f1" 2>/dev/null
check "flexd killed before storing a text: the carrier got no 200" \
    wait_for '[ -e "$tmp/late2" ] && [ "$(cut -d" " -f1 "$tmp/late2")" != 200 ]' 10
"$B/flexd" $D -D route.default=backup >/dev/null 2>>"$tmp/flexd.log" &
f1=$!
pids="$pids $f1"
check "... the next flexd up" wait_for 'curl -sf http://127.0.0.1:$HP/readyz >/dev/null' 15
set -- $(text_form 12025550182 SMlate2 Running-late-2)
check "... takes the carrier's retry: 200" test "$(post /webhooks/backup/inbound "$1" "$2")" = 200
check "... and the text is at the front desk" wait_for '[ "$(at_desk Running-late-2)" -ge 1 ]' 5
kill "$f1"; wait "$f1" 2>/dev/null

# --- failover SMPP -> HTTP, and HTTP down at start -----------------------------
"$B/flexd" $D >/dev/null 2>>"$tmp/flexd.log" & # route: primary, backup
f2=$!
pids="$pids $f2"
check "flexd (primary, backup) ready" wait_for 'curl -sf http://127.0.0.1:$HP/readyz >/dev/null' 10
kill "$sim"; wait "$sim" 2>/dev/null
sleep 0.5
r0=$(hstat received)
jobs 700 100 >"$tmp/c.jsonl"
ctl enqueue "$tmp/c.jsonl" >/dev/null
check "SMPP carrier dead: the 100 go by HTTP" wait_for '[ "$(stat sent)" = 799 ]' 20
check "... httpsim got them" wait_for '[ "$(hstat received)" -ge $((r0 + 100)) ]' 5
kill "$hs"; wait "$hs" 2>/dev/null
"$B/smscsim" --listen "127.0.0.1:$SP" --dlr-delay-ms 10 --stats "$tmp/sim2.json" --max-seconds 300 &
sim=$!
pids="$pids $sim"
sleep 2
jobs 800 100 >"$tmp/d.jsonl"
ctl enqueue "$tmp/d.jsonl" >/dev/null
check "SMPP back, HTTP down: the next 100 go by SMPP" wait_for '[ "$(stat sent)" = 899 ]' 20
check "... smscsim got them" wait_for \
    '[ "$(sed -n "s/.*\"received\":\([0-9]*\).*/\1/p" "$tmp/sim2.json")" = 100 ]' 5
check "nothing failed along the way (but the 21610 and the text too long)" test "$(stat failed)" = 2
kill "$f2"; wait "$f2" 2>/dev/null

# --- the reverse: HTTP first in the route, down when flexd starts -------------
"$B/flexd" $D -D "route.default=backup,primary" >/dev/null 2>>"$tmp/flexd.log" &
f4=$!
pids="$pids $f4"
check "flexd (backup, primary) up with httpsim down" wait_for 'curl -sf http://127.0.0.1:$HP/readyz >/dev/null' 10
s1=$(stat sent)
jobs 1000 50 >"$tmp/f.jsonl"
ctl enqueue "$tmp/f.jsonl" >/dev/null
check "HTTP down at start: its 50 go by SMPP" wait_for '[ "$(stat sent)" = $((s1 + 50)) ]' 20
check "... smscsim got them" wait_for \
    '[ "$(sed -n "s/.*\"received\":\([0-9]*\).*/\1/p" "$tmp/sim2.json")" = 150 ]' 5
start_httpsim
sleep 6 # its circuit (5 s after 20 failures in a row) and backoff (1 s) pass
r1=$(hstat received)
jobs 1050 50 >"$tmp/g.jsonl"
ctl enqueue "$tmp/g.jsonl" >/dev/null
check "HTTP back: the next 50 go by HTTP again (first in the route)" \
    wait_for '[ "$(stat sent)" = $((s1 + 100)) ] && [ "$(hstat received)" -ge $((r1 + 40)) ]' 20
kill "$f4"; wait "$f4" 2>/dev/null

# --- an outage answered 503 to every message: they fail over in time ----------
kill "$hs"; wait "$hs" 2>/dev/null
start_httpsim --unavailable
"$B/flexd" $D -D "route.default=backup,primary" -D carrier.backup.throttle_timeout=2s \
    >/dev/null 2>>"$tmp/flexd.log" &
f5=$!
pids="$pids $f5"
check "flexd (backup, primary) up, httpsim answering 503 to every message" \
    wait_for 'curl -sf http://127.0.0.1:$HP/readyz >/dev/null' 10
s2=$(stat sent)
jobs 1100 20 >"$tmp/u.jsonl"
ctl enqueue "$tmp/u.jsonl" >/dev/null
# (the first refused pauses the carrier, so the rest go to SMPP at once; the
# first itself is held by the 503s until throttle_timeout, then fails over)
check "refused (503) past throttle_timeout: the 20 go by SMPP, the next of the route" \
    wait_for '[ "$(stat sent)" = $((s2 + 20)) ]' 20
check "... smscsim got them, httpsim refused them" \
    wait_for "[ \"\$(sed -n 's/.*\"received\":\([0-9]*\).*/\1/p' '$tmp/sim2.json')\" = 170 ] &&
              [ \"\$(hstat throttled)\" -ge 2 ]" 5
kill "$f5"; wait "$f5" 2>/dev/null
kill "$hs"; wait "$hs" 2>/dev/null
start_httpsim

# --- ambiguous = retry: a request unanswered is sent again, 3 times at most ---
# (each stub listens on a port the kernel picks and writes it down: a port
# chosen beforehand may be taken by an outgoing connection meanwhile)
echo 1 >"$tmp/hang"
python3 - "$tmp/amb.port" "$tmp/hang" "$tmp/amb.n" <<'PY' &
import json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
lock, n = threading.Lock(), [0]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            n[0] += 1
            k = n[0]
            open(sys.argv[3], "w").write(str(k))
        if k <= int(open(sys.argv[2]).read()):
            time.sleep(2) # past flexd's response_timeout: taken, maybe, never answered in time
        b = json.dumps({"sid": "SM%032x" % k}).encode()
        try:
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)
        except OSError:
            pass
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(srv.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
PY
pids="$pids $!"
wait_for "test -s '$tmp/amb.port'" 10
AP=$(cat "$tmp/amb.port")
"$B/flexd" $D -D route.default=backup -D "carrier.backup.url=http://127.0.0.1:$AP" \
    -D carrier.backup.ambiguous=retry -D carrier.backup.response_timeout=500ms \
    >/dev/null 2>>"$tmp/flexd.log" &
f6=$!
pids="$pids $f6"
printf '{"type":"message","id":"amb-1","location":"loc-1","patient":"p-a1","phone":"+12025550961","body":"See you at 9:30."}\n' |
    ctl enqueue - >/dev/null
check "ambiguous = retry, one carrier: the request unanswered in time is sent again and taken" \
    wait_for "\"$B/flexctl\" $D status amb-1 | grep -q '\"state\":\"accepted\"'" 15
check "... two requests in all" test "$(cat "$tmp/amb.n")" = 2
echo 100 >"$tmp/hang"
printf '{"type":"message","id":"amb-2","location":"loc-1","patient":"p-a2","phone":"+12025550962","body":"See you at 9:30."}\n' |
    ctl enqueue - >/dev/null
check "... never answered: failed after three requests, not sent until it expires" \
    wait_for "\"$B/flexctl\" $D status amb-2 | grep -q '\"state\":\"failed\"'" 20
check "... three requests for it" test "$(cat "$tmp/amb.n")" = 5
kill "$f6"; wait "$f6" 2>/dev/null

# --- profile json: another API by config --------------------------------------
python3 - "$tmp/json.port" "$tmp/json.log" <<'PY' &
import json, os, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
out, lock, n = open(sys.argv[2], "a"), threading.Lock(), [0]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with lock:
            n[0] += 1
            out.write(json.dumps({"path": self.path, "auth": self.headers.get("Authorization"),
                                  "type": self.headers.get("Content-Type"), "body": body}) + "\n")
            out.flush()
            if body.get("recipient") == "+12025550960":
                code, ans = 400, {"error": {"code": "E_BLOCKED", "message": "recipient blocked"}}
            else:
                code, ans = 201, {"data": {"id": "MSG-%05d" % n[0]}}
        b = json.dumps(ans).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(srv.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
PY
pids="$pids $!"
wait_for "test -s '$tmp/json.port'" 10
JP=$(cat "$tmp/json.port")
cp deploy/flexd.conf "$tmp/json.conf"
cat >>"$tmp/json.conf" <<EOF

[carrier jsonc]
type = http
profile = json
url = http://127.0.0.1:$JP/v1/messages
auth_header = Authorization: Bearer k-123
json_to = recipient
json_body = text
json_id = data.id
reconnect_max = 1s
EOF
D2=$(echo "$D" | sed "s|-c deploy/flexd.conf|-c $tmp/json.conf|")
"$B/flexd" $D2 -D route.default=jsonc >/dev/null 2>>"$tmp/flexd.log" &
f3=$!
pids="$pids $f3"
s0=$(stat sent)
jobs 950 50 >"$tmp/e.jsonl"
ctl enqueue "$tmp/e.jsonl" >/dev/null
check "json profile: 49 accepted" wait_for '[ "$(stat sent)" = $((s0 + 49)) ]' 20
check "... one refused for good, with the API's code and text" wait_for \
    "\"$B/flexctl\" $D status h-960 | grep -q 'E_BLOCKED: recipient blocked'" 5
check "... the request: JSON, the auth header, the configured field names" python3 -c "
import json, sys
l = [json.loads(x) for x in open('$tmp/json.log')]
ok = len(l) == 50 and all(x['auth'] == 'Bearer k-123' and x['type'] == 'application/json' and
    x['path'] == '/v1/messages' and set(x['body']) == {'recipient', 'from', 'text'} for x in l)
sys.exit(0 if ok else 1)"
check "... the id read at data.id (lower case)" \
    sh -c "\"$B/flexctl\" $D status h-951 | grep -q '\"carrier\":\"jsonc\",\"msgid\":\"msg-[0-9]*\"'"
echo "$fails failed"
[ "$fails" -eq 0 ]
