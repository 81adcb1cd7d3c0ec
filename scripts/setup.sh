#!/usr/bin/env bash
# Installs what a fresh machine lacks for building Weir: the wasm32-wasip2 Rust target.
# Sourced by scripts/demo.sh, scripts/test.sh and scripts/bench.sh.
set -euo pipefail
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "setup: adding the wasm32-wasip2 target" >&2
  rustup target add wasm32-wasip2
fi
