#!/usr/bin/env bash
# Client benchmark of loadgen's HTTP/1.1 core against wrk and Locust (issue 2).
#
# nginx (Debian's package) serves a fixed body on 127.0.0.1, pinned to core 0; each client runs
# pinned to core 1 with 64 connections for DURATION seconds. wrk, loadgen (its native HTTP/1.1
# engine) and loadgen --engine hyper alternate ROUNDS times;
# Locust (FastHttpUser, one process) runs once. CPU time per request comes from the OS (user+sys
# of the client process, /usr/bin/time). Peak memory of loadgen is measured at 256 and 10,000
# users. Writes a Markdown table to stdout and raw numbers to $OUT (default /tmp/bench-http).
#
# Needs: nginx, wrk, GNU time (apt-get install nginx-light wrk time), a release build of loadgen,
# and Locust in $LOCUST_VENV (python3 -m venv /tmp/locust-venv && /tmp/locust-venv/bin/pip install locust).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
PORT=${PORT:-18080}
OUT=${OUT:-/tmp/bench-http}
LOCUST_VENV=${LOCUST_VENV:-/tmp/locust-venv}
LOADGEN=${LOADGEN:-${CARGO_TARGET_DIR:-target}/release/loadgen}
[ -x "$LOADGEN" ] || { echo "build loadgen first: cargo build --release -p loadgen" >&2; exit 1; }
for t in nginx wrk taskset /usr/bin/time; do command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }; done
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# nginx: one worker on core 0, a fixed 64-byte body, no logging.
NGX="$OUT/nginx"
mkdir -p "$NGX"
cat > "$NGX/nginx.conf" <<NGINX
worker_processes 1;
worker_cpu_affinity 01;
worker_rlimit_nofile 19000;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 18000; multi_accept on; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path $NGX;
  proxy_temp_path $NGX; fastcgi_temp_path $NGX; uwsgi_temp_path $NGX; scgi_temp_path $NGX;
  server {
    listen 127.0.0.1:$PORT backlog=20000;
    location / { default_type text/plain; return 200 "servebench fixed body 0123456789 0123456789 0123456789 012345\n"; }
  }
}
NGINX
taskset -c 0 nginx -c "$NGX/nginx.conf" -p "$NGX"
trap 'nginx -c "$NGX/nginx.conf" -p "$NGX" -s stop 2>/dev/null || true' EXIT
sleep 0.5
URL="http://127.0.0.1:$PORT/"

cpu_of() { awk '{print $1+$2}' "$1"; }   # user + sys seconds from /usr/bin/time -f '%U %S %M'
rss_of() { awk '{print $3}' "$1"; }      # peak RSS, KiB

run_wrk() {  # -> "rps cpu_s requests"
  local f="$OUT/wrk_$1"
  /usr/bin/time -f '%U %S %M' -o "$f.time" taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" "$URL" > "$f.out"
  local req rps
  req=$(awk '/requests in/ {print $1}' "$f.out")
  rps=$(awk '/Requests\/sec/ {print $2}' "$f.out")
  echo "$rps $(cpu_of "$f.time") $req"
}

run_hyper() { run_loadgen "$1" hyper; }

run_loadgen() {  # ROUND [ENGINE] -> "rps cpu_s requests"
  local engine=${2:-native}
  local f="$OUT/loadgen-${engine}_$1"
  /usr/bin/time -f '%U %S %M' -o "$f.time" taskset -c 1 "$LOADGEN" "$URL" -c "$CONNS" -d "${DURATION}s" \
    --warmup 0s --threads 1 --engine "$engine" --quiet --json "$f.json" > "$f.out"
  python3 - "$f.json" "$(cpu_of "$f.time")" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))[0]
print(r["throughput_rps"], sys.argv[2], r["counts"]["issued"], file=sys.stdout)
PY
}

echo "round,client,rps,cpu_s,requests,cpu_us_per_req" > "$OUT/pairs.csv"
for i in $(seq 1 "$ROUNDS"); do
  for client in wrk loadgen hyper; do
    read -r rps cpu req < <("run_$client" "$i")
    per=$(python3 -c "print(f'{$cpu/$req*1e6:.3f}')")
    echo "$i,$client,$rps,$cpu,$req,$per" >> "$OUT/pairs.csv"
    echo "round $i $client: $rps req/s, $cpu s CPU, $per us CPU/request" >&2
  done
done

# Locust, one process, FastHttpUser, as many users.
LOCUST_RPS=""; LOCUST_PER=""
if [ -x "$LOCUST_VENV/bin/locust" ]; then
  cat > "$OUT/locustfile.py" <<'PY'
from locust import constant
from locust import FastHttpUser, task

class U(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self):
        self.client.get("/")
PY
  /usr/bin/time -f '%U %S %M' -o "$OUT/locust.time" taskset -c 1 "$LOCUST_VENV/bin/locust" -f "$OUT/locustfile.py" \
    --headless -u "$CONNS" -r "$CONNS" -t "${DURATION}s" --host "http://127.0.0.1:$PORT" --csv "$OUT/locust" --only-summary \
    > "$OUT/locust.out" 2>&1 || true
  read -r LOCUST_REQ LOCUST_RPS < <(python3 - "$OUT/locust_stats.csv" <<'PY'
import csv, sys
for row in csv.DictReader(open(sys.argv[1])):
    if row["Name"] == "Aggregated":
        print(row["Request Count"], row["Requests/s"])
PY
)
  LOCUST_CPU=$(cpu_of "$OUT/locust.time")
  LOCUST_PER=$(python3 -c "print(f'{$LOCUST_CPU/$LOCUST_REQ*1e6:.3f}')")
  echo "locust: $LOCUST_RPS req/s, $LOCUST_CPU s CPU, $LOCUST_PER us CPU/request" >&2
fi

# Peak memory of loadgen at 256 and 10,000 users (short runs).
for users in 256 10000; do
  /usr/bin/time -f '%U %S %M' -o "$OUT/mem_$users.time" taskset -c 1 "$LOADGEN" "$URL" -c "$users" -d 5s \
    --warmup 1s --threads 1 --quiet --json "$OUT/mem_$users.json" > /dev/null
  echo "loadgen at $users users: peak RSS $(rss_of "$OUT/mem_$users.time") KiB" >&2
done

python3 - "$OUT" "$LOCUST_RPS" "$LOCUST_PER" <<'PY'
import csv, json, statistics, sys
out, locust_rps, locust_per = sys.argv[1], sys.argv[2], sys.argv[3]
rows = list(csv.DictReader(open(f"{out}/pairs.csv")))
by = {}
for r in rows:
    by.setdefault(r["round"], {})[r["client"]] = r
rps_ratio = [float(p["loadgen"]["rps"]) / float(p["wrk"]["rps"]) for p in by.values()]
cpu_ratio = [float(p["loadgen"]["cpu_us_per_req"]) / float(p["wrk"]["cpu_us_per_req"]) for p in by.values()]
hyper_rps = [float(p["hyper"]["rps"]) / float(p["wrk"]["rps"]) for p in by.values()]
hyper_cpu = [float(p["hyper"]["cpu_us_per_req"]) / float(p["wrk"]["cpu_us_per_req"]) for p in by.values()]
print("| round | wrk req/s | loadgen req/s | loadgen --engine hyper req/s | wrk CPU µs/req | loadgen CPU µs/req | hyper engine CPU µs/req |")
print("|---|---|---|---|---|---|---|")
for k, p in sorted(by.items()):
    print(f"| {k} | {float(p['wrk']['rps']):,.0f} | {float(p['loadgen']['rps']):,.0f} | {float(p['hyper']['rps']):,.0f} | {p['wrk']['cpu_us_per_req']} | {p['loadgen']['cpu_us_per_req']} | {p['hyper']['cpu_us_per_req']} |")
print()
each = lambda xs: ", ".join(f"{x:.3f}" for x in xs)
print(f"- loadgen/wrk requests/s, median of rounds: **{statistics.median(rps_ratio):.3f}** (each: {each(rps_ratio)}); hyper engine: {statistics.median(hyper_rps):.3f} ({each(hyper_rps)})")
print(f"- loadgen/wrk CPU per request, median of rounds: **{statistics.median(cpu_ratio):.3f}** (each: {each(cpu_ratio)}); hyper engine: {statistics.median(hyper_cpu):.3f} ({each(hyper_cpu)})")
if locust_per:
    lg = statistics.median(float(p["loadgen"]["cpu_us_per_req"]) for p in by.values())
    print(f"- Locust FastHttpUser (1 process): {float(locust_rps):,.0f} req/s, {locust_per} µs CPU/request; loadgen/Locust CPU per request: **{lg/float(locust_per):.3f}**")
for users in (256, 10000):
    rss = open(f"{out}/mem_{users}.time").read().split()[2]
    r = json.load(open(f"{out}/mem_{users}.json"))[0]
    print(f"- loadgen peak RSS at {users:,} users: **{int(rss)/1024:.1f} MiB** ({r['throughput_rps']:,.0f} req/s, {r['counts']['errors']} errors)")
PY
