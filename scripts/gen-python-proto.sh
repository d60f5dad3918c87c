#!/usr/bin/env bash
# Regenerates the Python gRPC stubs of proto/servebench.proto into suites/features/app/
# (servebench_pb2.py, servebench_pb2.pyi, servebench_pb2_grpc.py), which are checked in.
# Needs grpcio-tools (suites/requirements-dev.txt) in the project's virtual environment,
# or in the Python named by $PYTHON.
#   scripts/gen-python-proto.sh          regenerate
#   scripts/gen-python-proto.sh --check  fail if the checked-in stubs differ
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
out="$root/suites/features/app"
if [[ "${1:-}" == "--check" ]]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    out_check="$tmp"
else
    out_check="$out"
fi
"$python" -m grpc_tools.protoc -I "$root/proto" \
    --python_out="$out_check" --pyi_out="$out_check" --grpc_python_out="$out_check" \
    "$root/proto/servebench.proto"
if [[ "${1:-}" == "--check" ]]; then
    for f in servebench_pb2.py servebench_pb2.pyi servebench_pb2_grpc.py; do
        if ! diff -q "$out/$f" "$out_check/$f" >/dev/null; then
            echo "suites/features/app/$f is stale: run scripts/gen-python-proto.sh" >&2
            exit 1
        fi
    done
    echo "python proto stubs are up to date"
fi
