#!/bin/sh
# Redis over TLS (rediss://) and over a unix socket, against a real
# redis-server started with --tls-port and a CA made here
# (bench/tls-certs.sh): flexd sends and receives through TLS only and
# survives Redis restarting; a wrong CA, a host name the certificate does not
# hold, a client certificate missing where Redis requires one, TLS to a plain
# port and clear text to the TLS port are refused with the reason; config
# mistakes about the TLS files are caught by --check-config; an ACL user's
# password over TLS is in no output.
# Exit 0 pass, 77 skip (no redis-server or openssl).
NAME=redis-tls
command -v openssl >/dev/null || { echo "openssl missing: sh deploy/install-deps.sh"; exit 77; }
certs=$(mktemp -d /tmp/flex-tlscerts.XXXXXX)
sh bench/tls-certs.sh "$certs" || exit 1
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
TP=$(free_port)  # the TLS port of the test's redis-server
TP2=$(free_port) # a second one that requires client certificates
SOCK=$certs/redis.sock
TLSPW=Tls-S3cret-pw7
REDIS_ARGS="--appendonly no --tls-port $TP --tls-cert-file $certs/redis.crt \
--tls-key-file $certs/redis.key --tls-ca-cert-file $certs/ca.crt --tls-auth-clients no \
--unixsocket $SOCK --unixsocketperm 700"
. tests/integ/lib/env.sh
trap 'cleanup; redis-cli -p "$RP2" shutdown nosave >/dev/null 2>&1; rm -rf "$certs"' EXIT
. tests/integ/lib/jobs.sh
TLS="-D redis.url=rediss://127.0.0.1:$TP/0 -D redis.tls_ca=$certs/ca.crt"
D="$D $TLS"
out=$tmp/out.txt

# --- flexd and flexctl over TLS only -----------------------------------------
start_flexd
check "flexd up over rediss://" wait_for 'curl -sf http://127.0.0.1:$HP/readyz >/dev/null' 10
message_jobs t 0 60 >"$tmp/a.jsonl"
ctl enqueue "$tmp/a.jsonl" >"$out" 2>&1
check "60 sent and delivered, every Redis call over TLS" wait_for '[ "$(stat delivered)" = 60 ]' 20
# Every client of the test's Redis but this redis-cli came in on the TLS port.
redis-cli -p "$RP" client list >"$tmp/clients.txt"
check "... flexd's connections are all on the TLS port" \
    sh -c "grep -q 'laddr=127.0.0.1:$TP ' '$tmp/clients.txt' &&
           [ \$(grep -vc 'laddr=127.0.0.1:$TP ' '$tmp/clients.txt') -eq 1 ]"
redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1
sleep 0.5
start_redis
check "flexd reconnects over TLS after Redis restarts" \
    wait_for 'curl -sf http://127.0.0.1:$HP/readyz >/dev/null' 20
message_jobs t 100 20 >"$tmp/b.jsonl"
ctl enqueue "$tmp/b.jsonl" >>"$out" 2>&1
check "... and the next 20 go" wait_for '[ "$(stat delivered)" = 20 ]' 30
kill -TERM "$FPID"
wait "$FPID"
check "flexd stops cleanly" test $? -eq 0

# --- refused, with the reason ----------------------------------------------------
try() { # expected-text, then -D options for flexctl
    want=$1
    shift
    "$B/flexctl" -c deploy/flexd.conf "$@" stats >"$tmp/try.out" 2>&1
    rc=$?
    cat "$tmp/try.out" >>"$out"
    [ $rc -eq 1 ] && grep -q "$want" "$tmp/try.out"
}
check "a wrong CA is refused: certificate" \
    try "TLS handshake with redis at rediss://127.0.0.1:$TP/0: certificate: " \
    -D "redis.url=rediss://127.0.0.1:$TP/0" -D "redis.tls_ca=$certs/other-ca.crt"
check "a host name the certificate does not hold is refused: hostname mismatch" \
    try "certificate: hostname mismatch" \
    -D "redis.url=rediss://localhost:$TP/0" -D "redis.tls_ca=$certs/ca.crt"
check "no CA given: the system store does not know the test CA" \
    try "certificate: " -D "redis.url=rediss://127.0.0.1:$TP/0"
check "clear text to the TLS port: refused, suggesting rediss://" \
    try "use rediss://" -D "redis.url=redis://127.0.0.1:$TP/0"
check "TLS to a plain port: refused, suggesting redis://" \
    try "use redis://" -D "redis.url=rediss://127.0.0.1:$RP/0" -D "redis.tls_ca=$certs/ca.crt"
"$B/flexd" -c deploy/flexd.conf -D "redis.url=rediss://localhost:$TP/0" \
    -D "redis.tls_ca=$certs/ca.crt" -D "http.listen=127.0.0.1:$HP" >"$tmp/bad.out" 2>&1
check "flexd with a mismatched host gives up with the reason" \
    sh -c "[ $? -ne 0 ] && grep -q 'hostname mismatch' '$tmp/bad.out'"

# --- a Redis that requires client certificates ---------------------------------------
RP2=$(free_port)
redis-server --port 0 --tls-port "$TP2" --bind 127.0.0.1 --daemonize yes \
    --logfile "$tmp/redis2.log" --save '' --appendonly no --tls-cert-file "$certs/redis.crt" \
    --tls-key-file "$certs/redis.key" --tls-ca-cert-file "$certs/ca.crt" \
    --tls-auth-clients yes --pidfile "$tmp/redis2.pid"
CERT="-D redis.tls_cert=$certs/client.crt -D redis.tls_key=$certs/client.key"
wait_for "\"$B/flexctl\" -c deploy/flexd.conf -D redis.url=rediss://127.0.0.1:$TP2/0 \
    -D redis.tls_ca=$certs/ca.crt $CERT stats >/dev/null 2>&1" 5
check "a client certificate where Redis requires one: accepted" \
    sh -c "\"$B/flexctl\" -c deploy/flexd.conf -D redis.url=rediss://127.0.0.1:$TP2/0 \
        -D redis.tls_ca=$certs/ca.crt $CERT stats >>'$out' 2>&1"
check "... and without it: refused, pointing at tls_cert (an alert or a reset: a race)" \
    try "tls_cert and tls_key" -D "redis.url=rediss://127.0.0.1:$TP2/0" \
    -D "redis.tls_ca=$certs/ca.crt"
kill "$(cat "$tmp/redis2.pid")" 2>/dev/null

# --- an ACL user over TLS, and the unix socket -----------------------------------------
redis-cli -p "$RP" ACL SETUSER flextls on ">$TLSPW" '~*' '&*' '+@all' >/dev/null
check "an ACL user over TLS (rediss://user:password@)" \
    sh -c "\"$B/flexctl\" -c deploy/flexd.conf -D engine.audit_log=$tmp/audit.log \
        -D redis.url=rediss://flextls:$TLSPW@127.0.0.1:$TP/0 -D redis.tls_ca=$certs/ca.crt \
        optout add +12025550188 >>'$out' 2>&1"
check "... its password is refused with the reason, never quoted" \
    try "WRONGPASS" -D "redis.url=rediss://flextls:Wrong-$TLSPW@127.0.0.1:$TP/0" \
    -D "redis.tls_ca=$certs/ca.crt"
check "unix:// reaches the same Redis (sees that opt-out)" \
    sh -c "\"$B/flexctl\" -c deploy/flexd.conf -D redis.url=unix://$SOCK \
        optout check +12025550188 | grep -q opted"

# --- config mistakes ----------------------------------------------------------------
cc() { # expected-text, then -D options for --check-config
    want=$1
    shift
    "$B/flexd" -c deploy/flexd.conf "$@" --check-config >"$tmp/cc.out" 2>&1
    rc=$?
    cat "$tmp/cc.out" >>"$out"
    [ $rc -eq 2 ] && grep -q "$want" "$tmp/cc.out"
}
check "--check-config: tls_ca with redis:// is an error" \
    cc "redis.tls_ca is set but redis.url is not rediss://" \
    -D "redis.url=redis://127.0.0.1:$RP/0" -D "redis.tls_ca=$certs/ca.crt"
check "--check-config: a certificate without its key is an error" \
    cc "redis.tls_cert and redis.tls_key go together" \
    -D "redis.url=rediss://127.0.0.1:$TP/0" -D "redis.tls_cert=$certs/client.crt"
check "--check-config: a CA file that cannot be read is an error" \
    cc "redis.tls_ca: cannot read $certs/nope.crt" \
    -D "redis.url=rediss://127.0.0.1:$TP/0" -D "redis.tls_ca=$certs/nope.crt"
chmod 644 "$certs/client.key"
"$B/flexd" -c deploy/flexd.conf -D "redis.url=rediss://127.0.0.1:$TP/0" $CERT \
    --check-config >"$tmp/cc.out" 2>&1
check "--check-config: a client key others can read is warned about" \
    grep -q "key file $certs/client.key can be read by other users" "$tmp/cc.out"
chmod 600 "$certs/client.key"

cat "$tmp/flexd.log" "$tmp/bad.out" >>"$out"
check "the ACL password is in no output" sh -c "! grep -q '$TLSPW' '$out'"
echo "$fails failed"
[ "$fails" -eq 0 ]
