#!/usr/bin/env bash
# Reproducibility of the default features run (issue 14): the default run twice back to back
# (paired, interleaved), then twice with --sequential (RUNS= picks), into one folder; then the report of each.
# Usage: scripts/repro-2core.sh [OUT_DIR] [extra features-suite arguments...]
# Figures and what they say: docs/benchmarks.md ("Reproducibility of the default run").
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-results/repro-$(date -u +%Y%m%d-%H%M)}"
shift || true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:-/root}/.cache/servebench/target}"
# The suite without the report (no polars in the measuring binary's build), and the report (a
# debug build is fast enough for a few runs, and is there after scripts/test.sh).
cargo build --release -p features-suite --no-default-features
cargo build -p report
bin="$CARGO_TARGET_DIR/release"
mkdir -p "$out"
for run in ${RUNS:-paired-1 paired-2 sequential-1 sequential-2}; do
  extra=()
  case "$run" in sequential*) extra=(--sequential) ;; esac
  if [ -e "$out/$run/index.json" ]; then resume=(--resume); else resume=(); fi
  echo "== $run ($(date -u +%H:%M:%S))"
  "$bin/features-suite" --run "$run" --results-dir "$out" "${resume[@]}" "${extra[@]}" "$@"
  "$CARGO_TARGET_DIR/debug/report" "$out/$run" -o "$out/$run/report"
done
grep -h "allon" "$out"/*/report/summary.md | head -20
