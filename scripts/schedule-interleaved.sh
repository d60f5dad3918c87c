#!/usr/bin/env bash
# The spec's fixed levels against adaptive ones on one deployment, interleaved (issue 14): runs of
# the two schedules measured minutes apart differ by the machine's drift (on the 2-core machine,
# up to 27% between two runs of one schedule), which hides whether the schedules themselves agree
# within 5%. Here each variant of the all on/off unary comparison is deployed once (deploy's
# deploy_one example holds it) and its peak level (LEVELS, as every run of
# scripts/adaptive-vs-fixed.sh found them) is measured by features-suite (--target url, spec
# profile) with the fixed schedule (5 s warm-up, 60 s window, 15 s cool-down: --fixed-length) and
# with the adaptive one (2-30 s warm-up, 10-60 s window that ends once throughput and p99 have
# converged, 2 s cool-down: --adaptive --no-scout, as the scouted run measures its candidate
# levels in full) in turn, in A B B A order over ROUNDS pairs, so that a drift of the machine hits
# both alike. Prints, per variant, each pair's adaptive/fixed ratio of throughput and of p99,
# their geometric mean and its 95% interval (Student's t over the pairs' log ratios).
# Usage: scripts/schedule-interleaved.sh [OUT] (env: LEVELS="baseline=8 all_on=16", ROUNDS=4)
# Needs: the project's .venv (scripts/setup-python.sh). Figures: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-results/schedule-interleaved-$(date -u +%Y%m%d-%H%M)}"
levels="${LEVELS:-baseline=8 all_on=16}"
rounds="${ROUNDS:-4}"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "schedule-interleaved: ROUNDS must be a whole number > 0" >&2; exit 2; }
for vl in $levels; do
  [[ "$vl" =~ ^[a-z_]+=[1-9][0-9]*$ ]] || { echo "schedule-interleaved: $vl is not VARIANT=USERS" >&2; exit 2; }
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:-/root}/.cache/servebench/target}"
cargo build -q -p deploy --example deploy_one
cargo build -q --release -p features-suite --no-default-features
mkdir -p "$out"
out=$(cd "$out" && pwd)
. scripts/hold-deployment.sh
for vl in $levels; do
  variant="${vl%%=*}" users="${vl#*=}"
  hold_deployment "$out" "$variant" "$variant" 1replica unary
  echo "== $variant c=$users at $base ($(date -u +%H:%M:%S))"
  for r in $(seq "$rounds"); do
    order="fixed adaptive"
    [ $((r % 2)) -eq 0 ] && order="adaptive fixed"
    for schedule in $order; do
      case "$schedule" in
        fixed) extra=(--fixed-length) ;;
        *) extra=(--adaptive --no-scout) ;;
      esac
      run="$variant-$schedule-r$r"
      t0=$(date +%s)
      "$CARGO_TARGET_DIR/release/features-suite" --profile spec --study allon --workload unary \
        --target url --variant "$variant" --url "$variant=$base" --sweep "unary=$users" \
        "${extra[@]}" --run "$run" --results-dir "$out/suite" >/dev/null 2>"$out/suite-$run.log" \
        || { echo "schedule-interleaved: $run failed:" >&2; tail -5 "$out/suite-$run.log" >&2; exit 1; }
      echo "   round $r $schedule: $(( $(date +%s) - t0 )) s"
    done
  done
  release_deployment
done
python3 - "$out" "$levels" "$rounds" <<'EOF' | tee "$out/summary.txt"
import glob, json, math, statistics, sys
out, levels, rounds = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]
def level(run, users):
    files = glob.glob(f"{out}/suite/{run}/sweeps/*/level_c{users}.json")
    if len(files) != 1:
        sys.exit(f"{run}: expected one level_c{users}.json, found {files}")
    return json.load(open(files[0]))
def gm(logs):
    m = statistics.mean(logs)
    if len(logs) < 2:
        return f"{math.exp(m):.3f}"
    h = T975[min(len(logs) - 2, 9)] * statistics.stdev(logs) / math.sqrt(len(logs))
    return f"{math.exp(m):.3f} ({math.exp(m - h):.3f}-{math.exp(m + h):.3f})"
print(f"adaptive / fixed, per A B B A pair, {rounds} pairs per variant")
for vl in levels:
    variant, users = vl.split("=")
    tput, p99 = [], []
    for r in range(1, rounds + 1):
        f, a = level(f"{variant}-fixed-r{r}", users), level(f"{variant}-adaptive-r{r}", users)
        fw, aw = f["phases"]["window_s"], a["phases"]["window_s"]
        print(f"{variant:9} c={users:<4} r{r}: fixed {f['throughput_rps']:7.1f} rps p99 {f['latency_ms']['p99']:6.1f} ms ({fw:.0f} s) | "
              f"adaptive {a['throughput_rps']:7.1f} rps p99 {a['latency_ms']['p99']:6.1f} ms ({aw:.0f} s, {a['phases'].get('window_end')}) | "
              f"ratio {a['throughput_rps'] / f['throughput_rps']:.3f}")
        tput.append(math.log(a["throughput_rps"] / f["throughput_rps"]))
        p99.append(math.log(a["latency_ms"]["p99"] / f["latency_ms"]["p99"]))
    print(f"{variant:9} c={users:<4} throughput ratio {gm(tput)}; p99 ratio {gm(p99)}")
EOF
