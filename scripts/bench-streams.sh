#!/usr/bin/env bash
# Client benchmarks of loadgen's streaming and gRPC paths (issue 3).
#
# 1. SSE: events per second one client core receives, parses and records from a fast local SSE
#    server (crates/loadgen/examples/bench_server.rs, its own core): streams of EVENTS one-byte
#    events. Target: >= 1,000,000 events/s.
# 2. gRPC unary (10 KiB echo, 64 users, one HTTP/2 connection each) against a local tonic server:
#    loadgen on one core, side by side with a Python grpcio asyncio client in one process on the
#    same core, alternated ROUNDS times; the ratio of requests/s is reported.
#
# Needs: release builds (cargo build --release -p loadgen --bin loadgen --example bench_server),
# the project's .venv (scripts/setup-python.sh) for grpcio, taskset. Writes Markdown to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${CARGO_TARGET_DIR:-target}/release
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
EVENTS=${EVENTS:-1000}
PY=${PY:-.venv/bin/python}
OUT=${OUT:-/tmp/bench-streams}
mkdir -p "$OUT"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

taskset -c 0 "$T/examples/bench_server" sse 18090 "$EVENTS" & pids+=($!)
taskset -c 0 "$T/examples/bench_server" grpc 18091 & pids+=($!)
sleep 0.5

echo "round,sse_events_per_s,sse_cpu_s" > "$OUT/sse.csv"
for i in $(seq 1 "$ROUNDS"); do
  /usr/bin/time -f '%U %S' -o "$OUT/sse_$i.time" taskset -c 1 "$T/loadgen" sse http://127.0.0.1:18090/ \
    --events "$EVENTS" -c 4 -d "${DURATION}s" --warmup 1s --threads 1 --quiet --json "$OUT/sse_$i.json" > /dev/null
  eps=$(python3 -c "import json; print(json.load(open('$OUT/sse_$i.json'))[0]['events_per_s'])")
  echo "$i,$eps,$(awk '{print $1+$2}' "$OUT/sse_$i.time")" >> "$OUT/sse.csv"
  echo "sse round $i: $eps events/s" >&2
done

cat > "$OUT/grpc_client.py" <<'PY'
"""One-process asyncio grpcio client: USERS concurrent unary Echo loops of 10 KiB for DURATION s."""
import asyncio, os, sys, time
sys.path.insert(0, "suites/features/app")
import grpc, servebench_pb2, servebench_pb2_grpc

async def main(users, duration):
    payload = b"x" * 10240
    done = 0
    stop = time.perf_counter() + duration
    channels = [grpc.aio.insecure_channel("127.0.0.1:18091") for _ in range(users)]
    async def user(ch):
        nonlocal done
        stub = servebench_pb2_grpc.ServeBenchStub(ch)
        while time.perf_counter() < stop:
            r = await stub.Echo(servebench_pb2.EchoRequest(payload=payload))
            assert r.payload == payload
            done += 1
    t0 = time.perf_counter()
    await asyncio.gather(*(user(c) for c in channels))
    print(done / (time.perf_counter() - t0))

asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
PY
echo "round,client,rps,cpu_s" > "$OUT/grpc.csv"
for i in $(seq 1 "$ROUNDS"); do
  /usr/bin/time -f '%U %S' -o "$OUT/lg_$i.time" taskset -c 1 "$T/loadgen" grpc http://127.0.0.1:18091 \
    -c 64 -d "${DURATION}s" --warmup 1s --threads 1 --quiet --json "$OUT/grpc_$i.json" > /dev/null
  rps=$(python3 -c "import json; print(json.load(open('$OUT/grpc_$i.json'))[0]['throughput_rps'])")
  echo "$i,loadgen,$rps,$(awk '{print $1+$2}' "$OUT/lg_$i.time")" >> "$OUT/grpc.csv"
  prps=$(/usr/bin/time -f '%U %S' -o "$OUT/py_$i.time" taskset -c 1 "$PY" "$OUT/grpc_client.py" 64 "$DURATION")
  echo "$i,grpcio,$prps,$(awk '{print $1+$2}' "$OUT/py_$i.time")" >> "$OUT/grpc.csv"
  echo "grpc round $i: loadgen $rps req/s, grpcio $prps req/s" >&2
done

python3 - "$OUT" <<'PY'
import csv, statistics, sys
out = sys.argv[1]
sse = [float(r["sse_events_per_s"]) for r in csv.DictReader(open(f"{out}/sse.csv"))]
print(f"- SSE events/s received, parsed and recorded by one client core: median **{statistics.median(sse):,.0f}** (each: {', '.join(f'{x:,.0f}' for x in sse)})")
rows = list(csv.DictReader(open(f"{out}/grpc.csv")))
by = {}
for r in rows:
    by.setdefault(r["round"], {})[r["client"]] = float(r["rps"])
ratios = [p["loadgen"] / p["grpcio"] for p in by.values()]
lg = statistics.median(p["loadgen"] for p in by.values())
py = statistics.median(p["grpcio"] for p in by.values())
print(f"- gRPC unary 10 KiB echo, 64 users, one core: loadgen median **{lg:,.0f} req/s**, Python grpcio asyncio (1 process) median **{py:,.0f} req/s**; loadgen/grpcio ratio median of pairs **{statistics.median(ratios):.2f}** (each: {', '.join(f'{x:.2f}' for x in ratios)})")
PY
