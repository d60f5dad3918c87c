#!/usr/bin/env bash
# Set-up hook of scripts/test.sh: the LLM suite's Python environment (.venv-llm: ray[llm] 2.60,
# vLLM and a CUDA torch, about 9.4 GB; a few minutes the first time) with the test tools.
# llm-single-node-suite makes the same environment on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
free_kb=$(df -Pk . | awk 'NR==2 {print $4}')
if [ ! -x .venv-llm/bin/python ] && [ "$free_kb" -lt $((12 * 1024 * 1024)) ]; then
  echo "setup-llm: .venv-llm needs about 12 GB of free disk; $((free_kb / 1024 / 1024)) GB free" >&2
  exit 1
fi
exec scripts/python-env.sh .venv-llm suites/llm-single-node/requirements.txt suites/requirements-dev-tools.txt
