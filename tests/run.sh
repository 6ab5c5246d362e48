#!/bin/sh
# Runs the whole suite: unit test programs, integration scripts, and a short
# run of every fuzzer over its corpus.  Each runs under a timeout; exit code
# 0 pass, 77 skip, anything else fail.  Ends with one line:
#   N passed, N failed[, N skipped]
set -u
BUILD=${BUILD:-build}
SAN=${SAN:-}
FUZZ_SMOKE=${FUZZ_SMOKE:-3}
export BUILD SAN
# Sanitizer settings: fail hard, report leaks, let tests see a NULL from a
# deliberately impossible allocation (the OOM-handler test).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:allocator_may_return_null=1}

pass=0 fail=0 skip=0 failed=""
logdir=$(mktemp -d /tmp/flex-test.XXXXXX)
trap 'rm -rf "$logdir"' EXIT

run() {
    name=$1 limit=$2
    shift 2
    log="$logdir/$(echo "$name" | tr '/ ' '__').log"
    start=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    case $rc in
    0) pass=$((pass + 1)); printf 'PASS  %-40s %3ss\n' "$name" "$secs" ;;
    77) skip=$((skip + 1)); printf 'SKIP  %-40s %s\n' "$name" "$(tail -n 1 "$log")" ;;
    *) fail=$((fail + 1)); failed="$failed $name"
       printf 'FAIL  %-40s rc=%s after %ss\n' "$name" "$rc" "$secs"
       sed 's/^/      | /' "$log" | tail -n 40 ;;
    esac
}

echo "== unit tests ($BUILD)"
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run "unit/$(basename "$t")" 600 "$t"
done

echo "== integration tests"
for t in "$BUILD"/tests/integ_*; do
    [ -x "$t" ] || continue
    run "integ/$(basename "$t")" 600 "$t"
done
for t in tests/integ/*.sh; do
    [ -f "$t" ] || continue
    run "integ/$(basename "$t" .sh)" 600 sh "$t"
done

if [ -z "$SAN" ]; then
    echo "== fuzz smoke (${FUZZ_SMOKE}s each)"
    for f in build/fuzz/fuzz_*; do
        [ -x "$f" ] || continue
        n=${f#build/fuzz/fuzz_}
        work="$logdir/fuzz-$n"
        mkdir -p "$work"
        # New inputs go to a scratch directory: the committed corpus only
        # changes through an explicit -merge=1.
        # tests/fuzz/seeds/NAME (when present) holds named sample inputs,
        # e.g. one real PDU of every SMPP command, read along with the corpus.
        seeds=""
        [ -d "tests/fuzz/seeds/$n" ] && seeds="tests/fuzz/seeds/$n"
        # Per-target options: smpp_rx's inputs are sequences of PDUs, and
        # memory-cap evictions need a few hundred of them.
        opts=""
        [ "$n" = smpp_rx ] && opts="-max_len=8192"
        # -error_exitcode=1: libFuzzer's own default, 77, is this script's
        # "skip", and a crash found would have passed as one.
        run "fuzz/$n" 120 "$f" -max_total_time="$FUZZ_SMOKE" -timeout=10 -error_exitcode=1 $opts \
            -dict="tests/fuzz/$n.dict" "$work" "tests/fuzz/corpus/$n" $seeds
    done
fi

[ -n "$failed" ] && echo "failed:$failed"
if [ "$skip" -gt 0 ]; then
    echo "$pass passed, $fail failed, $skip skipped"
else
    echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
