#!/bin/sh
# Latency under a steady load (make bench-latency): one burst run measures
# what this machine drains end to end, then three open-loop runs
# (flexbench --rate) at 10%, 50% and 90% of it, all in one sitting.  Each
# rate run lasts about SECONDS seconds of arrivals.  Writes OUT/latency.md
# (one table: enqueue -> carrier accept and accept -> receipt, p50, p99,
# p99.9, max) with each run's report and plots in OUT/burst, OUT/r10...
#
#   sh bench/latency.sh [OUT] [BURST_PATIENTS] [SECONDS]
#
# Defaults: build/latency, 200000, 10.  BUILD selects the programs (build).
# Exit 1 when a run failed or lost, duplicated or sent to an opted-out
# number.
set -eu
OUT=${1:-build/latency}
N=${2:-200000}
SECS=${3:-10}
B=${BUILD:-build}
mkdir -p "$OUT"
field() { # field REPORT.JSON PATH...: a number from a report
    python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    j = j[k]
print(j if j is not None else "-")' "$@"
}
echo "== burst: $N jobs"
"$B/flexbench" --patients "$N" --burst --out "$OUT/burst" >"$OUT/burst.log" 2>&1 ||
    { cat "$OUT/burst.log"; exit 1; }
burst=$(field "$OUT/burst/report.json" throughput_mps)
echo "burst: $burst msg/s"
{
    echo "# Latency under a steady load"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores; \`sh bench/latency.sh $OUT $N $SECS\`."
    echo "Burst of $N jobs: $(printf '%.0f' "$burst") msg/s end to end. Open-loop runs"
    echo "(\`flexbench --rate\`, arrivals every millisecond through the enqueue path) at a"
    echo "share of it, each about $SECS s of arrivals. Milliseconds."
    echo
    echo "| load | msg/s asked | offered | feeder late, max | enqueue→accept p50 | p99 | p99.9 | max | accept→receipt p50 | p99 | p99.9 | max | lost/dup/opted-out |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} >"$OUT/latency.md"
for pct in 10 50 90; do
    rate=$(python3 -c "print(int($burst * $pct / 100))")
    n=$(python3 -c "print(max(2000, int($rate * $SECS)))")
    echo "== $pct%: $rate msg/s, $n jobs"
    d=$OUT/r$pct
    "$B/flexbench" --patients "$n" --rate "$rate" --out "$d" >"$d.log" 2>&1 ||
        { cat "$d.log"; exit 1; }
    j=$d/report.json
    printf '| %s%% | %s | %.0f | %.1f | %.1f | %.1f | %.1f | %.0f | %.1f | %.1f | %.1f | %.0f | %s/%s/%s |\n' \
        "$pct" "$rate" "$(field "$j" open_loop offered_mps)" "$(field "$j" open_loop late_ms_max)" \
        "$(field "$j" accept_ms p50)" "$(field "$j" accept_ms p99)" \
        "$(field "$j" accept_ms p999)" "$(field "$j" accept_ms max)" \
        "$(field "$j" receipt_ms p50)" "$(field "$j" receipt_ms p99)" \
        "$(field "$j" receipt_ms p999)" "$(field "$j" receipt_ms max)" \
        "$(field "$j" lost)" "$(field "$j" duplicated)" "$(field "$j" sent_to_optout)" \
        >>"$OUT/latency.md"
done
{
    echo
    echo "Accept→receipt includes smscsim's receipt delay (flexbench's --dlr-delay-ms)."
    echo "Per-message latency over time: r10/latency.png, r50/latency.png, r90/latency.png."
} >>"$OUT/latency.md"
cat "$OUT/latency.md"
