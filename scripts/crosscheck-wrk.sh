#!/usr/bin/env bash
# Cross-check of features-suite against a client no one here wrote (issue 5): the all-on/off gain
# for unary (10 KiB POST echo) at concurrency CONC, as features-suite reports it and as wrk
# measures it against the same two deployments.
#
# Each variant is deployed once (crates/deploy's deploy_one, held); against it, ROUNDS times in
# turn: wrk, features-suite (--target url, so it measures that very deployment), and the loadgen
# CLI with each HTTP engine (native, hyper). A round's gain is its all-on figure over its
# baseline figure; the script prints every figure, the median gain per client, and the ratio
# features-suite/wrk (target: within 15%). Everything lands in OUT.
# PIN=1 puts each deployment on the first half of the cores and the clients on the other half
# (taskset), so that no client takes CPU from the server: on a 2-core machine the clients' own
# scheduling otherwise moves the server's throughput by more than the clients differ.
#
# Needs: wrk (apt-get install wrk), the project's .venv (scripts/setup-python.sh), cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONC=${CONC:-8}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-/tmp/crosscheck}
rm -rf "$OUT"
mkdir -p "$OUT"
# Built one by one: building them together unifies features differently and rebuilds polars.
# SKIP_BUILD=1 uses the release binaries already built.
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build -q --release -p features-suite
  cargo build -q --release -p loadgen
  cargo build -q --release -p deploy --example deploy_one
fi
T=${CARGO_TARGET_DIR:-target}/release
server=() client=()
if [ -n "${PIN:-}" ]; then
  half=$(( $(nproc) / 2 ))
  server=(taskset -c "0-$((half - 1))")
  client=(taskset -c "$half-$(( $(nproc) - 1 ))")
  echo "pinned: server on ${server[2]}, clients on ${client[2]}" >&2
fi

# 10 KiB body, like the suite's unary workload.
python3 -c "print('x' * 10240, end='')" > "$OUT/body.txt"
cat > "$OUT/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
local f = io.open("$OUT/body.txt", "rb"); wrk.body = f:read("*a"); f:close()
LUA

echo "variant,round,client,rps" > "$OUT/figures.csv"
measure() {  # variant base round
  local v=$1 base=$2 r=$3 rps
  rps=$("${client[@]}" wrk -t2 -c"$CONC" -d"${DURATION}s" -s "$OUT/post.lua" "$base/echo" | awk '/Requests\/sec/ {print $2}')
  echo "$v,$r,wrk,$rps" >> "$OUT/figures.csv"

  # One run folder per round: the baseline creates it, all_on continues it.
  local resume=() sv=$v
  if [ "$v" = all_on ]; then resume=(--resume); fi
  "${client[@]}" "$T/features-suite" --target url --url "$base" --variant "$v" --comparison allon --workload unary \
    --sweep "unary=$CONC" --duration "${DURATION}s" --warmup 2s --cooldown 0s \
    --results-dir "$OUT/suite" --run "round$r" "${resume[@]}" > "$OUT/suite_${sv}_$r.md" 2> "$OUT/suite_${sv}_$r.log"
  rps=$(python3 -c "import csv,sys; print(next(float(x['throughput_rps']) for x in csv.DictReader(open(sys.argv[1])) if x['concurrency']==sys.argv[2]))" \
    "$OUT/suite/round$r/sweeps/$v-1replica-unary.csv" "$CONC")
  echo "$v,$r,features-suite,$rps" >> "$OUT/figures.csv"

  for engine in native hyper; do
    "${client[@]}" "$T/loadgen" "$base/echo" -c "$CONC" -d "${DURATION}s" --warmup 2s --method POST --body-size 10240 --echo \
      --engine "$engine" --quiet --json "$OUT/loadgen_${v}_${engine}_$r.json" > /dev/null
    rps=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[0]['throughput_rps'])" "$OUT/loadgen_${v}_${engine}_$r.json")
    echo "$v,$r,loadgen-$engine,$rps" >> "$OUT/figures.csv"
  done
  echo "  $v round $r: $(grep "^$v,$r," "$OUT/figures.csv" | cut -d, -f3,4 | tr '\n' ' ')" >&2
}

for v in baseline all_on; do
  echo "== deploying $v" >&2
  "${server[@]}" "$T/examples/deploy_one" "$v" 1replica unary --hold > "$OUT/deploy_$v.json" 2> "$OUT/deploy_$v.log" &
  pid=$!
  for _ in $(seq 1 240); do grep -qs "holding" "$OUT/deploy_$v.log" && break; sleep 1; done
  grep -q "holding" "$OUT/deploy_$v.log" || { kill -INT $pid; wait $pid || true; echo "deploy of $v failed: $OUT/deploy_$v.log" >&2; exit 1; }
  base=$(sed -n '/^{/,/^}/p' "$OUT/deploy_$v.json" | python3 -c "import json,sys; print(json.load(sys.stdin)['target']['http_base'])")
  wrk -t2 -c"$CONC" -d3s -s "$OUT/post.lua" "$base/echo" > /dev/null   # warm-up
  for r in $(seq 1 "$ROUNDS"); do measure "$v" "$base" "$r"; done
  kill -INT $pid; wait $pid || true
done

python3 - "$OUT/figures.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
fig = {(r["variant"], int(r["round"]), r["client"]): float(r["rps"]) for r in rows}
clients = ["features-suite", "wrk", "loadgen-native", "loadgen-hyper"]
rounds = sorted({k[1] for k in fig})
print("| client | baseline req/s (each round) | all-on req/s (each round) | gain, median of rounds |")
print("|---|---|---|---|")
gains = {}
for c in clients:
    off = [fig[("baseline", r, c)] for r in rounds]
    on = [fig[("all_on", r, c)] for r in rounds]
    gains[c] = statistics.median(b / a for a, b in zip(off, on))
    print(f"| {c} | {', '.join(f'{x:,.1f}' for x in off)} | {', '.join(f'{x:,.1f}' for x in on)} | {gains[c]:.2f}x |")
ratio = gains["features-suite"] / gains["wrk"]
verdict = "met" if 0.85 <= ratio <= 1.15 else "MISSED"
print(f"\nGain ratio features-suite/wrk: **{ratio:.3f}** (target: within 0.85..1.15): **{verdict}**")
PY
