#!/bin/sh
# Secrets and Redis access: a password-protected redis-server and a Redis 6
# ACL user (AUTH user password), Redis lost five times while flexd runs
# (its reconnects, one refused for an unknown user), flexctl with a wrong
# password, --check-config with a bad URL holding a password: the job flow
# survives and no secret appears in any log line or output.  Also control
# commands matched exactly (a truncated "reload" is ignored).
# Exit 0 pass, 77 skip (no redis-server).
NAME=secrets
DEFPW=S3cret-default-pw
USERPW=Us3r-pw-abc7
REDIS_ARGS="--requirepass $DEFPW --appendonly no"
export REDISCLI_AUTH=$DEFPW # the helpers' redis-cli calls
. tests/integ/lib/env.sh
adduser() { redis-cli -p "$RP" ACL SETUSER flexuser on ">$USERPW" '~*' '&*' '+@all' >/dev/null 2>&1; }
adduser
D="$D -D redis.url=redis://flexuser:$USERPW@127.0.0.1:$RP/0"
. tests/integ/lib/jobs.sh
jobs() { message_jobs s "$1" "$2"; } # FIRST COUNT
start_flexd
check "flexd up with an ACL user (AUTH user password)" \
    wait_for 'curl -sf http://127.0.0.1:$HP/readyz >/dev/null' 10
jobs 0 100 >"$tmp/a.jsonl"
ctl enqueue "$tmp/a.jsonl" >"$tmp/ctl.out" 2>&1
check "100 sent and delivered" wait_for '[ "$(stat delivered)" = 100 ]' 20
for i in 1 2 3 4 5; do # Redis lost five times; the user comes back a moment later
    redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1
    sleep 0.7
    start_redis
    adduser
done
check "flexd ready again after Redis came back five times" \
    wait_for 'curl -sf http://127.0.0.1:$HP/readyz >/dev/null' 20
jobs 100 50 >"$tmp/b.jsonl"
ctl enqueue "$tmp/b.jsonl" >>"$tmp/ctl.out" 2>&1
check "the next 50 go (Redis was emptied: counted from 0)" wait_for '[ "$(stat delivered)" = 50 ]' 30
# The user goes away and its connections are cut: reconnects are refused
# until it is back, and the log says why.
redis-cli -p "$RP" ACL DELUSER flexuser >/dev/null
check "a refused reconnect says why, without the password" \
    wait_for "grep -q 'AUTH as flexuser failed: WRONGPASS' '$tmp/flexd.log'" 15
adduser
check "... and flexd is ready again once the user is back" \
    wait_for 'curl -sf http://127.0.0.1:$HP/readyz >/dev/null' 20
"$B/flexctl" $D -D "redis.url=redis://flexuser:WrongPw-9x@127.0.0.1:$RP/0" stats >>"$tmp/ctl.out" 2>&1
check "flexctl with a wrong password exits 1" test $? -eq 1
check "... saying WRONGPASS" grep -q WRONGPASS "$tmp/ctl.out"
"$B/flexd" -c deploy/flexd.conf -D "redis.url=redis://:Bad-S3cret-1@127.0.0.1:99999/0" \
    --check-config >>"$tmp/ctl.out" 2>&1
check "--check-config refuses a bad URL" test $? -eq 2
check "... quoting it without its password" grep -q "redis://:\*\*\*\*@127.0.0.1:99999/0" "$tmp/ctl.out"
"$B/flexd" -c deploy/flexd.conf -D "redis.url=redis:/flex:Typo-S3cret-2@10.1.2.3:6379/0" \
    -D "carrier.backup.url=https://ACx:Url-S3cret-3@api.example.com" \
    -D "carrier.backup.status_callback=https://u:Cb-S3cret-4@hooks.example.com:0/status" \
    --check-config >"$tmp/urls.out" 2>&1
check "a mistyped redis URL and HTTP URLs with user:password: refused" test $? -eq 2
check "... none of their passwords quoted" \
    sh -c "grep -q 'backup\] url = .https://ACx:\*\*\*\*@' '$tmp/urls.out' &&
           ! grep -q 'S3cret-[234]' '$tmp/urls.out'"
"$B/flexctl" -c deploy/flexd.conf -D "redis.url=redis://:Unreach-S3cret@127.0.0.1:1/0" stats \
    >>"$tmp/ctl.out" 2>&1
check "flexctl to an unreachable Redis names it without the password" \
    grep -q "redis://:\*\*\*\*@127.0.0.1:1/0" "$tmp/ctl.out"
# Redis in clear on a host that is not this machine's loopback (a name that
# is not "localhost"): warned about (the test's traffic stays local: ::1)
"$B/flexctl" $D -D "redis.url=redis://ip6-localhost:1/0" stats >"$tmp/clear.out" 2>&1
check "redis without TLS to a non-loopback host name is warned about" \
    grep -q "without TLS: its password and every patient's number" "$tmp/clear.out"
"$B/flexctl" $D -D "redis.url=redis://127.0.0.1:1/0" stats >"$tmp/clear.out" 2>&1
check "... not for 127.0.0.1" sh -c "! grep -q 'without TLS' '$tmp/clear.out'"

# Secrets from a file or the environment
FLEX_TEST_URL="redis://flexuser:$USERPW@127.0.0.1:$RP/0" "$B/flexctl" $D -D redis.url=env:FLEX_TEST_URL \
    stats >>"$tmp/ctl.out" 2>&1
check "redis.url from the environment (env:NAME)" test $? -eq 0
printf 'flexpass\n' >"$tmp/smpp.pw"
chmod 644 "$tmp/smpp.pw"
"$B/flexd" $D -D "carrier.primary.password=@$tmp/smpp.pw" --check-config >"$tmp/pw.out" 2>&1
check "a carrier password from a file (@path)" test $? -eq 0
check "... a file others can read is warned about" grep -q "can be read by other users" "$tmp/pw.out"
chmod 600 "$tmp/smpp.pw"
"$B/flexd" $D -D "carrier.primary.password=@$tmp/smpp.pw" --check-config >"$tmp/pw.out" 2>&1
check "... and not once it is 600" sh -c "! grep -q 'can be read by other users' '$tmp/pw.out'"
"$B/flexd" $D -D "carrier.backup.auth_token=env:FLEX_NO_SUCH_VAR" --check-config >"$tmp/pw.out" 2>&1
check "an auth token from an unset variable is an error naming it" \
    grep -q "environment variable FLEX_NO_SUCH_VAR is not set" "$tmp/pw.out"
cat "$tmp/pw.out" >>"$tmp/ctl.out"

# flex:control: exact commands only
redis-cli -p "$RP" XADD flex:control '*' cmd re >/dev/null
redis-cli -p "$RP" XADD flex:control '*' cmd '' >/dev/null
check "a truncated or empty control command is logged and ignored" \
    wait_for "[ \"\$(grep -c 'unknown control command' '$tmp/flexd.log')\" -ge 2 ]" 5
check "... and does not reload" sh -c "! grep -q 'configuration reloaded' '$tmp/flexd.log'"
curl -s "http://127.0.0.1:$HP/metrics" >"$tmp/metrics.txt"
for s in "$DEFPW" "$USERPW" WrongPw-9x Bad-S3cret-1 Unreach-S3cret; do
    check "the secret $s... is in no log line, output or metric" \
        sh -c "! grep -rqF '$s' '$tmp/flexd.log' '$tmp/ctl.out' '$tmp/metrics.txt' '$tmp/audit.log'"
done
echo "$fails failed"
[ "$fails" -eq 0 ]
