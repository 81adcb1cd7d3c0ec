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

step "format"
cargo fmt --all -- --check
(cd operators && cargo fmt --all -- --check)

step "build the Wasm operators"
bash scripts/build-operators.sh

step "clippy (host workspace)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "clippy (operators, wasm32-wasip2)"
(cd operators && cargo clippy --target wasm32-wasip2 --all-targets --quiet -- -D warnings)

step "operators' native tests"
(cd operators && cargo test --quiet)

step "build the weir binary"
cargo build -p weir --features connectors --quiet

step "host, SDK, doc and end-to-end tests"
cargo test --workspace

step "done"
