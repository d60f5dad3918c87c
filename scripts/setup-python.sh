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
exec scripts/python-env.sh .venv suites/requirements.txt suites/requirements-dev.txt
