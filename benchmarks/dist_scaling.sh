#!/usr/bin/env bash
# Data-parallel scaling of the large_rnn workload (batch 64 on every rank) on this machine:
# each repetition runs 1 rank, 2 ranks (mpirun -np 2), and the ideal this machine allows for two
# ranks: two independent 1-process runs at the same time, whose throughputs add up. Prints one
# JSON line per run, then one summary line with the medians and the efficiency
# (2-rank throughput / sum of the two concurrent 1-process throughputs).
#
#   benchmarks/dist_scaling.sh [BUILD_DIR] [REPEATS] [-- dist_bench flags]
set -euo pipefail
build=${1:-build-h}
repeats=${2:-5}
shift $(( $# > 2 ? 2 : $# ))
[ "${1:-}" = "--" ] && shift
bench=$build/benchmarks/tapegrad_dist_bench
mpirun="mpirun --allow-run-as-root --oversubscribe --bind-to none"
[ -x "$bench" ] || { echo "dist_scaling: $bench not built" >&2; exit 1; }

field() { sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p"; }
one=() two=() pair=() allreduce=()
for r in $(seq "$repeats"); do
  a=$($bench "$@"); echo "{\"run\": \"1 rank\", \"repeat\": $r, \"result\": $a}"
  one+=("$(echo "$a" | field samples_per_s)")
  b=$($mpirun -np 2 "$bench" "$@"); echo "{\"run\": \"2 ranks\", \"repeat\": $r, \"result\": $b}"
  two+=("$(echo "$b" | field samples_per_s)")
  allreduce+=("$(echo "$b" | field allreduce_ms)")
  $bench "$@" > /tmp/dist_scaling_a.$$ & pid=$!
  c=$($bench "$@")
  wait "$pid"
  d=$(cat /tmp/dist_scaling_a.$$)
  rm -f /tmp/dist_scaling_a.$$
  echo "{\"run\": \"2 independent 1-rank runs at once\", \"repeat\": $r, \"results\": [$c, $d]}"
  pair+=("$(python3 -c "print($(echo "$c" | field samples_per_s) + $(echo "$d" | field samples_per_s))")")
done
python3 - "${one[*]}" "${two[*]}" "${pair[*]}" "${allreduce[*]}" <<'PY'
import json, statistics, sys
one, two, pair, ar = ([float(v) for v in a.split()] for a in sys.argv[1:5])
m1, m2, mp = statistics.median(one), statistics.median(two), statistics.median(pair)
print(json.dumps({"summary": "large_rnn data-parallel scaling (medians)", "repeats": len(one),
                  "one_rank_samples_per_s": round(m1, 1), "two_ranks_samples_per_s": round(m2, 1),
                  "ideal_two_independent_samples_per_s": round(mp, 1),
                  "efficiency_vs_ideal": round(m2 / mp, 3), "speedup_vs_one_rank": round(m2 / m1, 3),
                  "allreduce_ms_two_ranks": round(statistics.median(ar), 3),
                  "per_repeat_efficiency": [round(t / p, 3) for t, p in zip(two, pair)]}))
PY
