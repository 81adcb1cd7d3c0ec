#!/usr/bin/env bash
# The demo: a streaming word count over generated text, tokenized by the Wasm `tokenize` operator,
# on the embedded default (in-process, no server). Prints 10 one-second batches of counts.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bash scripts/build-operators.sh
cargo build -p weir --features connectors --quiet
exec target/debug/weir run examples/generator_wordcount.toml --batches 10 "$@"
