#!/usr/bin/env bash
# Makes the virtual environment VENV with REQUIREMENTS (what the Ray clusters run) and any EXTRA
# requirement files (test tools) installed; kept when it is up to date. It leaves the stamp that
# the `deploy` crate checks (VENV/.servebench-requirements: the requirements file's content), so
# a suite run does not reinstall what this installed.
# Usage: scripts/python-env.sh VENV REQUIREMENTS [EXTRA...]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$1; requirements=$2; shift 2
stamp=$venv/.servebench-setup
want=$(cat "$requirements" "$@" | sha256sum | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "python-env: $venv is up to date"
  exit 0
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
extra=()
for f in "$@"; do extra+=(-r "$f"); done
"$venv/bin/pip" install --disable-pip-version-check -q -r "$requirements" "${extra[@]}"
cp "$requirements" "$venv/.servebench-requirements"
echo "$want" > "$stamp"
echo "python-env: $venv ready ($("$venv/bin/python" -c 'import ray; print("ray", ray.__version__)'))"
