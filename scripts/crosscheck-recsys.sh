#!/usr/bin/env bash
# Outside cross-check of recsys-suite's throughput (issue 11): one local cluster per variant
# (the default profile's 10,000-row tables), held up by deploy's deploy_one example, and at each
# user count of USERS recsys-suite (closed loop, --target url) and wrk (one thread, as many
# connections as users, a Lua script drawing user_id from 1..1000 like the original's Locust
# user) measure it in turn, ROUNDS times (A B, then B A). Prints, per variant and user count, the
# median throughput of each client and their ratio; writes everything under OUT.
# Usage: scripts/crosscheck-recsys.sh [OUT] (env: USERS="30 100", DUR=15, ROUNDS=2)
# Needs: wrk (apt-get install wrk), the project's .venv (scripts/setup-python.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-results/crosscheck-recsys-$(date -u +%Y%m%d-%H%M)}"
users="${USERS:-30 100}"
dur="${DUR:-15}"
rounds="${ROUNDS:-2}"
command -v wrk >/dev/null || { echo "crosscheck-recsys: needs wrk (apt-get install wrk)" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:-/root}/.cache/servebench/target}"
cargo build -q -p deploy --example deploy_one
cargo build -q --release -p recsys-suite --no-default-features
mkdir -p "$out"
out=$(cd "$out" && pwd)
lua="$out/random_user.lua"
cat >"$lua" <<'EOF'
-- GET /?user_id=<random 1..1000>, as the original's Locust user does; wrk counts non-2xx.
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/?user_id=" .. math.random(1, 1000))
end
EOF
. scripts/hold-deployment.sh
for variant in unoptimized optimized; do
  hold_deployment "$out" "$variant" "$variant" cpu recsys --suite=recsys --arg=recsys.cardinality=10000
  echo "== $variant at $base"
  for r in $(seq "$rounds"); do
    for u in $users; do
      for client in servebench wrk; do
        # B A on even rounds.
        [ $((r % 2)) -eq 0 ] && client=$([ "$client" = wrk ] && echo servebench || echo wrk)
        if [ "$client" = servebench ]; then
          "$CARGO_TARGET_DIR/release/recsys-suite" --target url --variant "$variant" --url "$variant=$base" \
            --sweep "users=$u" --warmup 3s --duration "${dur}s" --cooldown 2s --fixed-length \
            --run "$variant-c$u-r$r" --results-dir "$out/suite" >/dev/null 2>"$out/suite-$variant-c$u-r$r.log"
        else
          wrk -t1 -c"$u" -d3s -s "$lua" "$base" >/dev/null  # warm-up, as the suite's
          wrk -t1 -c"$u" -d"${dur}s" --timeout 30s -s "$lua" "$base" >"$out/wrk-$variant-c$u-r$r.txt"
          sleep 2
        fi
        echo "   $variant c=$u round $r: $client done"
      done
    done
  done
  release_deployment
done
python3 - "$out" "$users" "$rounds" <<'EOF' | tee "$out/summary.txt"
import glob, json, re, statistics, sys
out, users, rounds = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
print(f"{'variant':12} {'users':>5} {'servebench rps':>15} {'wrk rps':>9} {'ratio':>6}  (medians of {rounds} rounds)")
worst = 0.0
for variant in ["unoptimized", "optimized"]:
    for u in users:
        sb, wk = [], []
        for r in range(1, rounds + 1):
            for f in glob.glob(f"{out}/suite/{variant}-c{u}-r{r}/sweeps/*/level_c{u}.json"):
                lv = json.load(open(f))
                sb.append(lv["throughput_rps"])
            text = open(f"{out}/wrk-{variant}-c{u}-r{r}.txt").read()
            rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
            bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
            if bad:
                print(f"  wrk {variant} c={u} r{r}: {bad.group(1)} non-2xx responses")
            wk.append(rps)
        a, b = statistics.median(sb), statistics.median(wk)
        worst = max(worst, abs(a / b - 1))
        print(f"{variant:12} {u:>5} {a:>15.1f} {b:>9.1f} {a / b:>6.3f}   servebench {[round(x, 1) for x in sb]}, wrk {[round(x, 1) for x in wk]}")
print(f"largest difference: {worst:.1%} (target: within 15%)")
EOF
