#!/usr/bin/env bash
# The project's test command (README): sets up what the tests need on a fresh machine, then runs
# formatting, lints and every crate's tests. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
  echo "scripts/test.sh: cargo is not installed; install Rust 1.95 (https://rustup.rs) first" >&2
  exit 1
fi

# Optional set-up hooks of crates that need more than Rust (the Python environment for the
# Ray Serve tests, for example). Each is idempotent.
for setup in scripts/setup-*.sh; do
  [ -e "$setup" ] || continue
  echo "== $setup"
  bash "$setup"
done

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The build scripts/device-bundle.sh carries: features-suite without the report (no polars).
cargo clippy -p features-suite --no-default-features --all-targets --locked -- -D warnings
echo "== python: generated stubs, format, lint, tests"
scripts/gen-python-proto.sh --check
.venv/bin/ruff format --check suites/ crates/deploy/tests/
.venv/bin/ruff check suites/ crates/deploy/tests/
.venv/bin/python -m pytest -q suites/features/tests suites/recsys/tests
.venv-llm/bin/python -m pytest -q suites/llm-single-node/tests

echo "== cargo test (the end-to-end tests start real Ray clusters: they are the ignored ones)"
SERVEBENCH_E2E=1 cargo test --workspace --locked -- --include-ignored
