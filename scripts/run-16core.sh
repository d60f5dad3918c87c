#!/usr/bin/env bash
# The all on/off comparison with 1 and with 8 replicas per deployment (unary and streaming) on a
# machine with many cores (made for 16): Ray pinned to all cores but the last CLIENT_CPUS, the
# client to those (features-suite --ray-cpus/--client-cpus), so that the two do not compete. Results land in RESULTS/RUN; with OUT set
# (a device run) the run folder is also packed into $OUT/RUN.tar.gz, since only a few files come
# back from there.
#
# Two ways to run it:
#   - with a Rust toolchain: from the repository root, `scripts/run-16core.sh` (builds
#     features-suite, creates .venv on first use, writes the report and plots at the end);
#   - without one (a lent GPU machine): here `scripts/device-bundle.sh`, then there, with .device
#     carried along, `scripts/run-16core.sh`: it unpacks Ray from .device/site.tar.xz, runs it
#     on the machine's python3 (SERVEBENCH_PYTHON) and writes the results; make the report here
#     with `cargo run --release -p report -- RUN_DIR -o RUN_DIR/report` (the command is printed).
#
# Settings (environment): COMPARISONS (allon,allon8), WORKLOADS (unary,streaming),
# UNARY (1,4,16,64,256), STREAMING (1,4,16,64,128), WARMUP (1s), DURATION (4s), COOLDOWN (1s),
# CLIENT_CPUS (features-suite's default: the last quarter of the CPUs this process may use),
# BUNDLE (auto: use .device when there is no cargo; 1: always; 0: never), RUN (16core-<time>),
# RESULTS (results/features), LIMIT_S (none: the run gets SIGINT after this many seconds, keeps
# what finished and can be resumed with RUN=<name> RESUME=1; under a 600 s limit use 480, which
# leaves time for the teardown and the packing). About 6 minutes with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

comparisons=${COMPARISONS:-allon,allon8}
workloads=${WORKLOADS:-unary,streaming}
unary=${UNARY:-1,4,16,64,256}
streaming=${STREAMING:-1,4,16,64,128}
client_cpus=${CLIENT_CPUS:-}
run=${RUN:-16core-$(date -u +%Y-%m-%d-%H-%M-%S)}
results=${RESULTS:-results/features}

say() { echo "run-16core: $*" >&2; }

# The features-suite to run: the bundle's (no toolchain needed) or a fresh build.
bundle=${BUNDLE:-auto}
if [[ $bundle == auto ]]; then
    if command -v cargo >/dev/null; then bundle=0; else bundle=1; fi
fi
if [[ $bundle == 1 ]]; then
    if [[ ! -x .device/bin/features-suite || ! -f .device/site.tar.xz ]]; then
        say "no cargo here and no bundle in .device: run scripts/device-bundle.sh where Rust is, and carry .device"
        exit 2
    fi
    suite=.device/bin/features-suite
    if ! python3 -c 'import ray' 2>/dev/null; then
        site_root=${SITE_ROOT:-/tmp/servebench-site}
        # Unpacked once per bundle: the stamp says which one (and that unpacking finished).
        stamp=$(cat .device/site.stamp 2>/dev/null || echo none)-$(stat -c %s .device/site.tar.xz)
        if [[ "$(cat "$site_root/.stamp" 2>/dev/null)" != "$stamp" ]]; then
            say "unpacking Ray into $site_root"
            rm -rf "$site_root"
            mkdir -p "$site_root"
            tar -xJf .device/site.tar.xz -C "$site_root"
            echo "$stamp" > "$site_root/.stamp"
        fi
        export PYTHONPATH=$site_root/site${PYTHONPATH:+:$PYTHONPATH}
    fi
    SERVEBENCH_PYTHON=$(command -v python3)
    export SERVEBENCH_PYTHON
    python3 -c 'import ray, numpy, sys; print("run-16core: Ray", ray.__version__, "on Python", sys.version.split()[0], file=sys.stderr)'
else
    say "building features-suite (release)"
    cargo build --release --locked -p features-suite
    target_dir=$(cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    suite=$target_dir/release/features-suite
fi

# Ray and the client on CPUs of their own: features-suite splits the CPUs this process may use
# (the last quarter for the client); CLIENT_CPUS=N gives the client the last N of them instead.
pin=()
if ! taskset -c 0 true 2>/dev/null; then
    say "taskset cannot pin here: Ray and the client share the CPUs"
    pin=(--no-pin)
elif [[ -n $client_cpus ]]; then
    read -r ray_list client_list < <(python3 -c '
import os, sys
cpus = sorted(os.sched_getaffinity(0)); n = int(sys.argv[1])
if not 0 < n < len(cpus): sys.exit(f"CLIENT_CPUS={n}: this process may use {len(cpus)} CPUs")
print(",".join(map(str, cpus[:-n])), ",".join(map(str, cpus[-n:])))' "$client_cpus")
    pin=(--ray-cpus "$ray_list" --client-cpus "$client_list")
fi

args=(--comparison "$comparisons" --workload "$workloads"
    --sweep "unary=$unary" --sweep "streaming=$streaming"
    --warmup "${WARMUP:-1s}" --duration "${DURATION:-4s}" --cooldown "${COOLDOWN:-1s}"
    --results-dir "$results" --run "$run" "${pin[@]}")
[[ ${RESUME:-0} == 1 ]] && args+=(--resume)
mkdir -p "$results"
limit=()
# --foreground: the signal goes to features-suite alone, once (it tears its clusters down itself).
[[ -n ${LIMIT_S:-} ]] && limit=(timeout --foreground --signal=INT --kill-after=60 "$LIMIT_S")

say "$suite ${args[*]}"
set +e
# tee -i: a Ctrl-C reaches features-suite, which still has things to say before it exits.
"${limit[@]}" "$suite" "${args[@]}" 2>&1 | tee -i "$results/$run.log"
status=${PIPESTATUS[0]}
set -e
if [[ -n ${OUT:-} ]]; then
    cp "$results/$run.log" "$OUT/$run.log"
fi
if [[ -d $results/$run ]]; then
    mv "$results/$run.log" "$results/$run/run.log"
    if [[ -n ${OUT:-} ]]; then
        tar -czf "$OUT/$run.tar.gz" -C "$results" "$run"
        say "packed $results/$run into $OUT/$run.tar.gz"
    fi
fi
exit "$status"
