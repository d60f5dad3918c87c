#!/usr/bin/env bash
# The LLM suite's client against `vllm bench serve` (issue 12): both measure the same simulated
# engine (the standalone llm_sim.server, the suite's bare baseline, at time factor F) with the
# original's workload (512 input tokens, exactly 128 output, request rate unlimited, at most C in
# flight), at each concurrency in turn and in A B B A order of the two clients, so that a slow
# drift of the machine hits both alike. vLLM's random dataset needs a tokenizer and nothing may
# be downloaded: llm_sim.tokenizer writes one whose prompts the engine counts as 512 tokens.
# Durations are as measured (at time factor F; divide by F for the engine's own time).
# Usage: scripts/crosscheck-llm.sh [OUT_DIR]   (env: TIME_FACTOR=4, CONCURRENCY="16 64",
#        PROMPTS=512; needs .venv-llm: scripts/setup-python.sh)
# Figures and what they say: docs/benchmarks.md ("llm-single-node-suite against vllm bench serve").
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-results/crosscheck-llm-$(date -u +%Y%m%d-%H%M)}"
tf="${TIME_FACTOR:-4}"
prompts="${PROMPTS:-512}"
model="openai/gpt-oss-20b"
py="$PWD/.venv-llm/bin/python"
[ -x "$py" ] || { echo "crosscheck-llm: no .venv-llm; run scripts/setup-python.sh" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:-/root}/.cache/servebench/target}"
cargo build --release -p loadgen
loadgen="$CARGO_TARGET_DIR/release/loadgen"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
app="$PWD/suites/llm-single-node/app"
PYTHONPATH="$app" "$py" -m llm_sim.tokenizer "$out/tokenizer" >/dev/null

port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PYTHONPATH="$app" "$py" -m llm_sim.server --port "$port" --model "$model" --time-factor "$tf" \
  >"$out/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$port/health" >/dev/null || { echo "crosscheck-llm: the server did not start:" >&2; cat "$out/server.log" >&2; exit 1; }

vllm_bench() { # concurrency, file
  "$PWD/.venv-llm/bin/vllm" bench serve --backend openai \
    --base-url "http://127.0.0.1:$port" --endpoint /v1/completions --model "$model" \
    --tokenizer "$out/tokenizer" --dataset-name random --random-input-len 512 \
    --random-output-len 128 --ignore-eos --num-prompts "$prompts" --max-concurrency "$1" \
    --request-rate inf --percentile-metrics ttft,tpot,itl,e2el --disable-tqdm --save-result --result-dir "$out" --result-filename "$2" \
    >"$out/${2%.json}.log" 2>&1
}
loadgen_bench() { # concurrency, file
  "$loadgen" openai "http://127.0.0.1:$port/v1/completions" --model "$model" --input-len 512 \
    --output-len 128 -c "$1" -n "$prompts" --warmup 0s --cooldown 0s --quiet \
    --save-result "$out/$2" >"$out/${2%.json}.log" 2>&1
}
for c in ${CONCURRENCY:-16 64}; do
  for run in vllm-1 loadgen-1 loadgen-2 vllm-2; do
    echo "== c=$c $run ($(date -u +%H:%M:%S))"
    case "$run" in
      vllm*) vllm_bench "$c" "c${c}_$run.json" ;;
      *) loadgen_bench "$c" "c${c}_$run.json" ;;
    esac
  done
done
curl -sf "http://127.0.0.1:$port/sim/info" >"$out/sim_info.json" || true

# Each figure: the mean of each client's two runs, and loadgen's against vLLM's.
"$py" - "$out" <<'EOF'
import json, pathlib, re, sys
out = pathlib.Path(sys.argv[1])
runs = {}
for f in sorted(out.glob("c*_*.json")):
    c, client = re.match(r"c(\d+)_(\w+)-\d\.json", f.name).groups()
    runs.setdefault(int(c), {}).setdefault(client, []).append(json.loads(f.read_text()))
metrics = ["output_throughput", "mean_ttft_ms", "mean_tpot_ms", "mean_itl_ms", "mean_e2el_ms"]
rows = []
print("| c | metric | vllm bench serve | loadgen | loadgen / vllm |")
print("|---|---|---|---|---|")
for c, by in sorted(runs.items()):
    for m in metrics:
        v = [r[m] for r in by["vllm"]]
        l = [r[m] for r in by["loadgen"]]
        mv, ml = sum(v) / len(v), sum(l) / len(l)
        print(f"| {c} | {m} | {mv:.1f} ({', '.join(f'{x:.1f}' for x in v)}) | {ml:.1f} ({', '.join(f'{x:.1f}' for x in l)}) | {ml / mv - 1:+.1%} |")
        rows.append({"concurrency": c, "metric": m, "vllm": v, "loadgen": l})
(out / "comparison.json").write_text(json.dumps(rows, indent=1))
EOF
