#!/usr/bin/env bash
# The whole test suite: formatting, clippy (host and Wasm operators, warnings are errors), the operators'
# native tests, and every host, SDK, doc and end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
source scripts/services.sh
export RUST_BACKTRACE=${RUST_BACKTRACE:-1}

step() { printf '\n==> %s\n' "$*" >&2; }

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
cargo build -p weir --quiet

step "host, SDK, doc and end-to-end tests"
cargo test --workspace
