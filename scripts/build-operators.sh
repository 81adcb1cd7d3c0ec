#!/usr/bin/env bash
# Builds every operator in operators/ into a component under operators/target/wasm32-wasip2/release/.
set -euo pipefail
cd "$(dirname "$0")/../operators"
cargo build --release --target wasm32-wasip2 --quiet
ls target/wasm32-wasip2/release/*.wasm >&2
