#!/usr/bin/env bash
# Adaptive levels against the spec's fixed ones (issue 14): the all on/off unary comparison with
# the spec profile, one variant at a time as the spec runs it, once with its fixed schedule
# (5 s warm-up, 60 s window, 15 s cool-down, every level) and with `--adaptive` (levels that end
# once throughput and p99 have converged, a 2 s cool-down, sweeps that stop past saturation);
# by default adaptive, fixed, adaptive, so that the two adaptive runs bracket the fixed one.
# Since the spec profile scouts its adaptive levels first, a run named noscout* adds --no-scout
# (adaptive levels everywhere, as before scouting): RUNS="scouted-1 fixed scouted-2 noscout".
# Prints each run's wall time and the peaks. Usage: scripts/adaptive-vs-fixed.sh [OUT_DIR]
# Figures and what they say: docs/benchmarks.md ("Adaptive levels against the spec's fixed ones").
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-results/adaptive-vs-fixed-$(date -u +%Y%m%d-%H%M)}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:-/root}/.cache/servebench/target}"
cargo build --release -p features-suite --no-default-features
cargo build -p report
bin="$CARGO_TARGET_DIR/release"
mkdir -p "$out"
common=(--profile spec --study allon --workload unary --sequential)
for run in ${RUNS:-adaptive-1 fixed adaptive-2}; do
  case "$run" in
    fixed*) extra=(--full-sweep) ;;
    noscout*) extra=(--adaptive --no-scout) ;;
    *) extra=(--adaptive) ;;
  esac
  [ -e "$out/$run/index.json" ] && { echo "== $run: already there"; continue; }
  echo "== $run ($(date -u +%H:%M:%S))"
  t0=$(date +%s)
  "$bin/features-suite" --run "$run" --results-dir "$out" "${common[@]}" "${extra[@]}"
  echo "$run $(( $(date +%s) - t0 ))" >> "$out/wall_s.txt"
  "$CARGO_TARGET_DIR/debug/report" "$out/$run" -o "$out/$run/report"
done
cat "$out/wall_s.txt"
grep -h "allon" "$out"/*/report/summary.md | sed -n 1,20p  # (sed reads it all: no SIGPIPE under pipefail)
