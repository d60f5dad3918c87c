# Sourced (not run) by the scripts that measure a deployment held up by deploy's deploy_one
# example (scripts/crosscheck-recsys.sh, scripts/schedule-interleaved.sh):
#   hold_deployment OUT NAME ARG...  starts `deploy_one ARG... --hold` (its manifest in
#                                    OUT/NAME-deployment.json, its log in OUT/NAME-deploy.log),
#                                    waits until it holds, and sets $holder (its pid) and $base
#                                    (the deployment's HTTP base URL)
#   release_deployment               tears the held deployment down (also on exit)
# Needs CARGO_TARGET_DIR and the example built: cargo build -q -p deploy --example deploy_one
holder=""
release_deployment() {
  { [ -n "$holder" ] && kill -INT "$holder" 2>/dev/null && wait "$holder" 2>/dev/null; } || true
  holder=""
}
trap release_deployment EXIT
hold_deployment() {
  local out="$1" name="$2"
  shift 2
  "$CARGO_TARGET_DIR/debug/examples/deploy_one" "$@" --hold >"$out/$name-deployment.json" 2>"$out/$name-deploy.log" &
  holder=$!
  for _ in $(seq 300); do
    grep -q "holding" "$out/$name-deploy.log" && break
    kill -0 "$holder" 2>/dev/null || { cat "$out/$name-deploy.log" >&2; exit 1; }
    sleep 1
  done
  grep -q "holding" "$out/$name-deploy.log" || { echo "$0: $name did not come up in 300 s" >&2; exit 1; }
  # deploy_one prints the deployment's manifest (JSON), then a line with Ray's temp dir.
  base=$(python3 -c "import json,sys; print(json.JSONDecoder().raw_decode(open(sys.argv[1]).read())[0]['target']['http_base'])" "$out/$name-deployment.json")
}
