#!/usr/bin/env bash
# The whole test suite: formatting, clippy (host and Wasm operators, warnings are errors), the operators'
# native tests, and every host, SDK, doc and end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
source scripts/services.sh
export RUST_BACKTRACE=${RUST_BACKTRACE:-1}

# Each step says how long the suite has run, so a slow step shows in CI's log.
step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }

step "Python packages for the gRPC probe (a client that is not Weir's own)"
if ! python3 -c 'import grpc, grpc_health, grpc_reflection' 2>/dev/null; then
  python3 -m pip install -q --root-user-action=ignore grpcio==1.85.4 grpcio-health-checking==1.85.1 grpcio-reflection==1.85.1
fi

step "Python packages for the model tests (scikit-learn, the reference the models are checked against)"
if ! python3 -c 'import sklearn' 2>/dev/null; then
  python3 -m pip install -q --root-user-action=ignore scikit-learn==1.6.1
fi

step "Python packages for the metrics tests (prometheus_client, a real OpenMetrics parser)"
if ! python3 -c 'import prometheus_client' 2>/dev/null; then
  python3 -m pip install -q --root-user-action=ignore prometheus_client==0.21.1
fi

step "the browser for the UI tests (Debian's chromium; playwright-core pinned in tests/browser)"
if ! command -v chromium >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
fi
(cd tests/browser && npm ci --no-audit --no-fund --silent)

step "format"
cargo fmt --all -- --check
(cd operators && cargo fmt --all -- --check)

step "build the Wasm operators"
bash scripts/build-operators.sh

step "clippy (operators, wasm32-wasip2)"
(cd operators && cargo clippy --target wasm32-wasip2 --all-targets --quiet -- -D warnings)

step "operators' native tests"
(cd operators && cargo test --quiet)

step "build every host target, linted by clippy as it compiles (warnings are errors)"
# What `cargo clippy --workspace --all-targets -- -D warnings` checks, in the build the tests use:
# clippy-driver compiles the workspace's own crates, so the dependencies are built once, not also
# checked in a build of clippy's own (12 minutes on a fresh machine). `cargo clippy` does the same.
RUSTC_WORKSPACE_WRAPPER="$(dirname "$(rustup which cargo)")/clippy-driver"
export RUSTC_WORKSPACE_WRAPPER
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo test --workspace --all-targets --no-run --quiet

step "the weir binary the end-to-end tests run"
# The build above made it, with the features the workspace turns on (connectors, from the tests crate):
# this only links it to target/debug/weir. `cargo build -p weir` would resolve other features for the SDK
# and compile the host again (a minute or more).
cargo build --workspace --bins --quiet

step "host, SDK, doc and end-to-end tests"
cargo test --workspace

step "done"
