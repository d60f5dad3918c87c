#!/usr/bin/env bash
# The simulated engine's calibration measured with loadgen (issue 12): the calibrated engine
# (engine.toml) served bare by llm_sim.server, the original's five rows in the order it ran them
# (c=16, 32, 64, 128, 256; 1,024 prompts each; 512 input tokens, exactly 128 output, request
# rate unlimited), measured by `loadgen openai`, durations divided by the time factor, against
# the original's figures. As the original ran its rows on one `vllm serve`, the first server is
# started cold (engine.toml [calibration] cold_start_ms on its first step); the rows at
# SLOW_FROM and above get a second, warm server at a larger time factor, so that two cores keep
# up with their streams (`late_ms` in each server's /sim/info says whether they did).
# Usage: scripts/calibrate-llm.sh [OUT_DIR]   (env: TIME_FACTOR=4, SLOW_TIME_FACTOR=8,
#        SLOW_FROM=128, PROMPTS=1024, whole numbers; ROWS="16 32 64 128 256" to measure some rows
#        again, keeping the others' files; the table lists every file, one line each; needs
#        .venv-llm: scripts/setup-python.sh)
# Figures and what they say: docs/benchmarks.md ("the simulated engine's calibration").
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-results/calibrate-llm-$(date -u +%Y%m%d-%H%M)}"
prompts="${PROMPTS:-1024}"
model="openai/gpt-oss-20b"
py="$PWD/.venv-llm/bin/python"
[ -x "$py" ] || { echo "calibrate-llm: no .venv-llm; run scripts/setup-python.sh" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:-/root}/.cache/servebench/target}"
cargo build --release -p loadgen
loadgen="$CARGO_TARGET_DIR/release/loadgen"
tf="${TIME_FACTOR:-4}" slow="${SLOW_TIME_FACTOR:-8}" slow_from="${SLOW_FROM:-128}"
for v in "$tf" "$slow" "$slow_from" "$prompts"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "calibrate-llm: $v is not a whole number > 0" >&2; exit 2; }
done
[ "$slow_from" -gt 16 ] || { echo "calibrate-llm: SLOW_FROM must be above 16 (c=16 runs on the cold server)" >&2; exit 2; }
[ "$prompts" -eq 1024 ] || echo "calibrate-llm: note: the original ran 1,024 prompts per row; with $prompts the cold start weighs more on c=16" >&2
mkdir -p "$out"
out="$(cd "$out" && pwd)"
rows="${ROWS:-16 32 64 128 256}"
for c in $rows; do
  case "$c" in 16|32|64|128|256) ;; *) echo "calibrate-llm: row $c is not one of 16 32 64 128 256" >&2; exit 2 ;; esac
  rm -f "$out/c${c}_tf"*.json "$out/c${c}_tf"*.log
done
app="$PWD/suites/llm-single-node/app"
cold=$(PYTHONPATH="$app" "$py" -c 'from llm_sim.calibrate import cold_start_ms; print(cold_start_ms())')

server=""
trap '[ -n "$server" ] && { kill $server 2>/dev/null; wait $server 2>/dev/null || true; }' EXIT
serve() { # time factor, cold start (ms), name
  port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  PYTHONPATH="$app" "$py" -m llm_sim.server --port "$port" --model "$model" --time-factor "$1" \
    --cold-start-ms "$2" >"$out/server-$3.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && return 0
    sleep 0.2
  done
  echo "calibrate-llm: the server did not start:" >&2
  cat "$out/server-$3.log" >&2
  exit 1
}
stop() { # name
  curl -sf "http://127.0.0.1:$port/sim/info" >"$out/sim_info-$1.json" || true
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=""
}
measure() { # concurrency, time factor
  echo "== c=$1 at time factor $2 ($(date -u +%H:%M:%S))"
  "$loadgen" openai "http://127.0.0.1:$port/v1/completions" --model "$model" --input-len 512 \
    --output-len 128 -c "$1" -n "$prompts" --warmup 0s --cooldown 0s --timeout 900s --quiet \
    --save-result "$out/c$1_tf$2.json" >"$out/c$1_tf$2.log" 2>&1 || true
}

fast="" slow_rows=""
for c in 16 32 64 128 256; do
  case " $rows " in *" $c "*) ;; *) continue ;; esac
  if [ "$c" -lt "$slow_from" ]; then fast="$fast $c"; else slow_rows="$slow_rows $c"; fi
done
if [ -n "$fast" ]; then
  # Cold only when it starts with the original's first row.
  case "$fast" in " 16"*) serve "$tf" "$cold" fast ;; *) serve "$tf" 0 fast ;; esac
  for c in $fast; do measure "$c" "$tf"; done
  stop fast
fi
if [ -n "$slow_rows" ]; then
  serve "$slow" 0 slow
  for c in $slow_rows; do measure "$c" "$slow"; done
  stop slow
fi

# Each row: loadgen's figures divided back by the time factor, against the original's.
PYTHONPATH="$app" "$py" - "$out" <<'EOF'
import dataclasses, json, pathlib, re, sys
from llm_sim.calibrate import METRICS, Result, errors, simulate_row, targets
from llm_sim import settings
out = pathlib.Path(sys.argv[1])
params = settings.engine_params()
rows, worst, largest_tf, row_errors = [], 0.0, {}, {}
print("| c | time factor | original | simulated | loadgen (served) | loadgen vs original |")
print("|---|---|---|---|---|---|")
for f in sorted(out.glob("c*_tf*.json"), key=lambda f: tuple(map(int, re.findall(r"\d+", f.name)))):
    c, tf = map(int, re.match(r"c(\d+)_tf(\d+)\.json", f.name).groups())
    r = json.loads(f.read_text())
    if r["failed"] or r["completed"] != r["num_prompts"]:
        # A failed request has no figures: the row is not a measurement (see its .log).
        print(f"| {c} | {tf} | | | {r['failed']} of {r['num_prompts']} requests failed (c{c}_tf{tf}.log) | |")
        worst = float("inf")
        continue
    got = Result(r["output_throughput"] * tf, r["mean_ttft_ms"] / tf, r["mean_tpot_ms"] / tf)
    sim, target = simulate_row(params, c), targets()[c]
    errs = errors(got, target)
    # A row measured at several time factors counts at its largest (the most headroom).
    largest_tf[c] = max(largest_tf.get(c, 0), tf)
    row_errors.setdefault(c, {})[tf] = max(abs(e) for e in errs.values())
    cell = lambda x: f"{x.output_throughput:,.0f} / {x.mean_ttft_ms:,.0f} / {x.mean_tpot_ms:.1f}"
    print(f"| {c} | {tf} | {cell(target)} | {cell(sim)} | {cell(got)} | {' '.join(f'{e:+.1%}' for e in errs.values())} |")
    rows.append({"concurrency": c, "time_factor": tf, "loadgen": dataclasses.asdict(got), "errors": errs})
if worst != float("inf"):
    worst = max((row_errors[c][tf] for c, tf in largest_tf.items()), default=0.0)
print(f"largest error, served and measured with loadgen (each row at its largest time factor): {worst:.1%}")
if worst == float("inf"):
    sys.exit("calibrate-llm: some requests failed; the table is incomplete")
(out / "calibration.json").write_text(
    json.dumps({"rows": rows, "worst_error": worst if worst != float("inf") else None}, indent=1)
)
EOF
