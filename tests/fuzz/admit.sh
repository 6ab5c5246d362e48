#!/bin/sh
# Admits seeds into a fuzzer's committed corpus: libFuzzer -merge=1 keeps
# only inputs that add coverage, then each file is named by its SHA-256.
#   sh tests/fuzz/admit.sh CODEC SEED_DIR...
set -eu
codec=$1
shift
fuzzer=build/fuzz/fuzz_$codec
corpus=tests/fuzz/corpus/$codec
[ -x "$fuzzer" ] || { echo "build it first: make fuzz-build"; exit 1; }
mkdir -p "$corpus"
tmp=$(mktemp -d /tmp/flex-admit.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$fuzzer" -merge=1 "$tmp" "$corpus" "$@" 2>/dev/null
rm -f "$corpus"/*
for f in "$tmp"/*; do
    [ -f "$f" ] || continue
    cp "$f" "$corpus/$(sha256sum "$f" | cut -c1-64)"
done
echo "$codec: $(ls "$corpus" | wc -l) inputs in $corpus"
