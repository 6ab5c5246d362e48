#!/bin/sh
# flexctl audit verify, end to end: a sample log over two days (written by
# the unit test program: test_audit --write PATH), verified intact, then
# tampered with; exit codes 0 intact, 4 broken, 1 unreadable, 2 usage/config.
# Needs no Redis: audit verify reads only the config and the files.
set -u
B=${BUILD:-build}
[ -x "$B/tests/test_audit" ] || { echo "$B/tests/test_audit not built"; exit 77; }
tmp=$(mktemp -d /tmp/flex-audit.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
. tests/integ/lib/check.sh
log=$tmp/audit.log
old=$tmp/audit.log.2026-11-30
K="-D engine.audit_key=audit-test-key"
av() { "$B/flexctl" -c deploy/flexd.conf $K "$@" >"$tmp/out" 2>"$tmp/err"; }

"$B/tests/test_audit" --write "$log"
check "sample log written over two days" test -s "$old" -a -s "$log"

av audit verify "$old" "$log"
check "intact files exit 0" test $? -eq 0
check "...with the summary on stdout" grep -q "^intact: 32 lines in 2 files, .*the chain starts here" "$tmp/out"
av -D engine.audit_log="$log" audit verify
check "default list (audit_log and its rotated files) exits 0" test $? -eq 0
check "...and covers both files" grep -q "^intact: 32 lines in 2 files" "$tmp/out"
printf 'audit-test-key\n' >"$tmp/key"
"$B/flexctl" -c deploy/flexd.conf -D engine.audit_key=@"$tmp/key" audit verify "$old" "$log" >"$tmp/out"
check "key read from @file" test $? -eq 0

cp "$old" "$tmp/orig"
sed -i '5s/"m-3"/"m-4"/' "$old"
av audit verify "$old" "$log"
check "one byte edited exits 4" test $? -eq 4
check "...naming the line on stdout" grep -q "^$old:5: hmac mismatch" "$tmp/out"
cp "$tmp/orig" "$old"
sed -i '7d' "$old"
av audit verify "$old" "$log"
check "a line deleted exits 4" test $? -eq 4
check "...sequence gap at line 7" grep -q "^$old:7: sequence gap" "$tmp/out"
cp "$tmp/orig" "$old"

"$B/flexctl" -c deploy/flexd.conf -D engine.audit_key=wrong audit verify "$old" "$log" >"$tmp/out"
check "wrong key exits 4" test $? -eq 4
check "...at the first line" grep -q "^$old:1: hmac mismatch (wrong key" "$tmp/out"

av audit verify "$log" "$old"
check "files out of order exit 4" test $? -eq 4
mv "$old" "$tmp/elsewhere"
av audit verify "$tmp/elsewhere" "$log"
check "a renamed file is reported missing" grep -q "^$log:1: missing file audit.log.2026-11-30 before audit.log" "$tmp/out"
av -D engine.audit_log="$log" audit verify
check "the current file alone is intact" test $? -eq 0
check "...but says its chain starts elsewhere" grep -q "continues from audit.log.2026-11-30 (not checked)" "$tmp/out"

av audit verify "$tmp/nonexistent"
check "unreadable file exits 1" test $? -eq 1
check "...saying why on stderr" grep -q "nonexistent: No such file" "$tmp/err"
av audit
check "audit without verify exits 2" test $? -eq 2
av -D engine.audit_log= audit verify
check "no audit_log and no FILE exits 2" test $? -eq 2
"$B/flexctl" -c deploy/flexd.conf -D engine.audit_key= audit verify "$log" 2>/dev/null
check "no audit_key exits 2" test $? -eq 2
"$B/flexctl" -c "$tmp/nonexistent.conf" audit verify "$log" 2>/dev/null
check "unreadable config exits 2" test $? -eq 2
"$B/flexctl" --help | grep -q "audit verify \[FILE...\]"
check "usage names audit verify" test $? -eq 0

echo "$fails failed"
[ "$fails" -eq 0 ]
