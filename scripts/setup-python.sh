#!/usr/bin/env bash
# Set-up hook of scripts/test.sh: the project's Python environment (.venv) with Ray Serve and the
# Python test tools, pinned in suites/requirements*.txt. Idempotent: an up-to-date .venv is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! { command -v setsid && command -v pkill && python3 -c 'import venv, ensurepip'; } >/dev/null 2>&1; then
  if command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq util-linux procps python3 python3-venv
  else
    echo "setup-python: need setsid, pkill and python3 with venv; install them first" >&2
    exit 1
  fi
fi
stamp=.venv/.servebench-requirements
want=$(cat suites/requirements.txt suites/requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "setup-python: .venv is up to date"
  exit 0
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --disable-pip-version-check -q -r suites/requirements.txt -r suites/requirements-dev.txt
echo "$want" > "$stamp"
echo "setup-python: .venv ready ($(.venv/bin/python -c 'import ray; print("ray", ray.__version__)'))"
