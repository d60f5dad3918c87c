#!/usr/bin/env bash
# Builds what scripts/device-run.sh needs on a machine that has Python but no package registry
# and no Rust toolchain (such as a lent 16-core GPU machine; docs/benchmarks.md has its figures):
#
#   .device/site.tar.xz          Ray Serve as pinned in suites/requirements.txt, installed for
#                                that machine's Python and trimmed (recipe: shared/guides/device.md)
#   .device/bin/features-suite   a stripped release build without the `report` feature (no
#                                polars); make the report where the results land
#
# .device/ is git-ignored; send it along with the working tree (`carry: [".device"]`): the
# whole transfer may be 64 MiB at most, which this script checks.
#
# Usage: scripts/device-bundle.sh [--python 3.12] [--keep-numpy]
#   --python X.Y    the target machine's Python (default 3.12)
#   --keep-numpy    keep numpy in the bundle (for a Python without it, e.g. a local test)
set -euo pipefail
cd "$(dirname "$0")/.."

py=3.12
keep_numpy=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --python) py="${2:?--python needs a version like 3.12}"; shift 2 ;;
        --keep-numpy) keep_numpy=1; shift ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "device-bundle: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$py" =~ ^3\.[0-9]+$ ]] || { echo "device-bundle: --python $py: want X.Y such as 3.12" >&2; exit 2; }

out=.device
mkdir -p "$out/bin"
rm -f "$out/site.tar.xz.part"
stamp="py=$py numpy=$keep_numpy $(sha256sum suites/requirements.txt | cut -c1-16)"

if [[ -f $out/site.tar.xz && "$(cat "$out/site.stamp" 2>/dev/null)" == "$stamp" ]]; then
    echo "device-bundle: $out/site.tar.xz is up to date ($stamp)"
else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    echo "device-bundle: installing suites/requirements.txt for CPython $py into $work/site"
    platforms=()
    for p in manylinux2014_x86_64 manylinux_2_17_x86_64 manylinux_2_28_x86_64 manylinux_2_5_x86_64 \
        manylinux1_x86_64 manylinux_2_24_x86_64 manylinux_2_27_x86_64 manylinux_2_31_x86_64 \
        manylinux_2_34_x86_64; do
        platforms+=(--platform "$p")
    done
    python3 -m pip install --quiet --disable-pip-version-check --no-compile --target "$work/site" \
        --python-version "$py" --implementation cp --only-binary=:all: "${platforms[@]}" \
        -r suites/requirements.txt
    site="$work/site"
    # What the target machine has, or Ray Serve does not use.
    if [[ $keep_numpy == 0 ]]; then
        rm -rf "$site"/numpy "$site"/numpy-* "$site"/numpy.libs
    fi
    rm -rf "$site/ray/jars" "$site/ray/rllib" "$site/bin"
    find "$site/ray/dashboard/client/build/static/js" -name '*.map' -delete 2>/dev/null || true
    find "$site" -name __pycache__ -type d -prune -exec rm -rf {} +
    for f in ray/_raylet.so ray/core/src/ray/gcs/gcs_server ray/core/src/ray/raylet/raylet; do
        [[ -f "$site/$f" ]] && strip --strip-unneeded "$site/$f"
    done
    echo "device-bundle: compressing $(du -sh "$site" | cut -f1) of site-packages"
    # -9e: about 50 MB instead of 57 at -6 for Python 3.12 (two minutes on two cores, once).
    tar -C "$work" -cf - site | xz -T2 -9e > "$out/site.tar.xz.part"
    mv "$out/site.tar.xz.part" "$out/site.tar.xz"
    echo "$stamp" > "$out/site.stamp"
fi

echo "device-bundle: building features-suite (release, without the report feature)"
cargo build --release --locked -p features-suite --no-default-features
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
cp "$target_dir/release/features-suite" "$out/bin/features-suite"
strip "$out/bin/features-suite"

# What travels: the tracked and untracked-not-ignored files plus .device.
tree=$(git ls-files -co --exclude-standard -z | python3 -c '
import os, sys
names = [n for n in sys.stdin.buffer.read().split(b"\0") if n]
print(sum(os.path.getsize(n) for n in names if os.path.isfile(n)))')
bundle=$(find "$out" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
total=$((tree + bundle))
limit=$((64 * 1024 * 1024))
printf 'device-bundle: site.tar.xz %s, features-suite %s, working tree %s: %s of 64 MiB\n' \
    "$(du -h "$out/site.tar.xz" | cut -f1)" "$(du -h "$out/bin/features-suite" | cut -f1)" \
    "$(numfmt --to=iec "$tree")" "$(numfmt --to=iec "$total")"
if ((total > limit)); then
    echo "device-bundle: over the 64 MiB a device run can carry" >&2
    # A bundle with numpy is for a local try of scripts/run-16core.sh, not for carrying.
    [[ $keep_numpy == 1 ]] || exit 1
fi
