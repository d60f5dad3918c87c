#!/usr/bin/env bash
# Fault probe (issue 16, docs/reliability.md): a short paired features run in which the
# baseline's raylet is killed (kill -9) once its first level is on disk. The suite must notice
# between levels, stop measuring that deployment, record why in index.json, measure the other
# variant to the end, tear everything down and exit 4. Prints what it found; exits 1 if not so.
# Usage: scripts/fault-raylet.sh [FEATURES_SUITE_BINARY]
set -uo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-${HOME:-/root}/.cache/servebench/target}"
bin="${1:-$target/debug/features-suite}"
out=$(mktemp -d)
"$bin" --profile smoke --sweep unary=1,4,8 --duration 4s --run fault --results-dir "$out" \
  >"$out/stdout" 2>"$out/stderr" &
pid=$!
first="$out/fault/sweeps/allon-baseline-1replica-unary/level_c1.json"
for _ in $(seq 600); do
  [ -e "$first" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
raylet=$(pgrep -f "raylet.*sb-$pid-0" | head -1)
if [ -z "$raylet" ]; then
  echo "fault-raylet: no raylet of the baseline's cluster found (sb-$pid-0)"; cat "$out/stderr"; exit 1
fi
echo "fault-raylet: killing the baseline's raylet (pid $raylet) after its first level"
kill -9 "$raylet"
wait "$pid"
code=$?
echo "fault-raylet: features-suite exited $code"
tail -5 "$out/stderr"
python3 - "$out/fault/index.json" "$code" <<'EOF'
import json, sys
index = json.load(open(sys.argv[1]))
ok = sys.argv[2] == "4"
for s in index["sweeps"]:
    print(f"  {s['variant']}: {s['status']} ({s.get('reason')})")
by = {s["variant"]: s for s in index["sweeps"]}
ok &= by["baseline"]["status"] in ("partial", "failed") and "stopped serving" in (by["baseline"].get("reason") or "")
ok &= by["all_on"]["status"] == "complete"
sys.exit(0 if ok else 1)
EOF
status=$?
left=$(pgrep -f "sb-$pid-" | wc -l)
echo "fault-raylet: processes of the run left: $left"
[ "$left" -eq 0 ] && [ "$status" -eq 0 ] && echo "fault-raylet: as expected" && exit 0
echo "fault-raylet: NOT as expected (results in $out)"; exit 1
