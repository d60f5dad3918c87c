#!/usr/bin/env bash
# Cross-check of features-suite against a client no one here wrote (issue 5): the all-on/off gain
# for unary (10 KiB POST echo) at concurrency 8, as features-suite reports it and as wrk measures
# it against the same two deployments (each deployed afresh by crates/deploy's deploy_one).
# Prints both gains and their ratio; the target is agreement within 15%.
# SUITE_RUN=<run> reuses a finished features-suite run instead of running one.
#
# Needs: wrk (apt-get install wrk), the project's .venv (scripts/setup-python.sh), cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONC=${CONC:-8}
OUT=${OUT:-/tmp/crosscheck}
RUN=${RUN:-crosscheck-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
# Built one by one: building them together unifies features differently and rebuilds polars.
# SKIP_SUITE_BUILD=1 uses the features-suite release binary already built.
[ -n "${SKIP_SUITE_BUILD:-}" ] || cargo build -q --release -p features-suite
cargo build -q --release -p deploy --example deploy_one
T=${CARGO_TARGET_DIR:-target}/release

if [ -n "${SUITE_RUN:-}" ]; then
  RUN=$SUITE_RUN   # reuse a finished run that has allon unary at c=$CONC
else
  echo "== features-suite: allon, unary, c=$CONC" >&2
  "$T/features-suite" --comparison allon --workload unary --sweep "unary=$CONC" --duration "${DURATION}s" \
    --warmup 3s --cooldown 1s --run "$RUN" > "$OUT/suite.md"
fi

# 10 KiB body, like the suite's unary workload.
python3 -c "print('x' * 10240, end='')" > "$OUT/body.txt"
cat > "$OUT/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
local f = io.open("$OUT/body.txt", "rb"); wrk.body = f:read("*a"); f:close()
LUA

wrk_rps() {  # variant -> requests/s
  local v=$1
  "$T/examples/deploy_one" "$v" 1replica unary --hold > "$OUT/deploy_$v.json" 2> "$OUT/deploy_$v.log" &
  local pid=$!
  for _ in $(seq 1 240); do grep -qs "holding" "$OUT/deploy_$v.log" && break; sleep 1; done
  grep -q "holding" "$OUT/deploy_$v.log" || { kill -INT $pid; wait $pid || true; echo "deploy of $v failed: $OUT/deploy_$v.log" >&2; exit 1; }
  local base
  base=$(python3 -c "import json,sys; d=json.load(open('$OUT/deploy_$v.json')); print(d['target']['http_base'])" 2>/dev/null \
    || sed -n '/^{/,/^}/p' "$OUT/deploy_$v.json" | python3 -c "import json,sys; print(json.load(sys.stdin)['target']['http_base'])")
  wrk -t2 -c"$CONC" -d3s -s "$OUT/post.lua" "$base/echo" > /dev/null   # warm-up
  wrk -t2 -c"$CONC" -d"${DURATION}s" -s "$OUT/post.lua" "$base/echo" > "$OUT/wrk_$v.txt"
  kill -INT $pid; wait $pid || true
  awk '/Requests\/sec/ {print $2}' "$OUT/wrk_$v.txt"
}
echo "== wrk against baseline" >&2; off=$(wrk_rps baseline)
echo "== wrk against all_on" >&2; on=$(wrk_rps all_on)

python3 - "results/features/$RUN" "$off" "$on" "$CONC" <<'PY'
import csv, sys
run, off, on, conc = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
def rps(side):
    for r in csv.DictReader(open(f"{run}/allon_{side}_unary.csv")):
        if r["concurrency"] == conc:
            return float(r["throughput_rps"])
s_off, s_on = rps("off"), rps("on")
g_suite, g_wrk = s_on / s_off, on / off
print(f"| client | baseline req/s | all-on req/s | gain |\n|---|---|---|---|")
print(f"| features-suite (loadgen) | {s_off:,.1f} | {s_on:,.1f} | {g_suite:.2f}x |")
print(f"| wrk | {off:,.1f} | {on:,.1f} | {g_wrk:.2f}x |")
print(f"\nGain ratio suite/wrk: **{g_suite / g_wrk:.3f}** (target: within 0.85..1.15)")
PY
