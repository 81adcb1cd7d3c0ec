#!/usr/bin/env bash
# Benchmarks (not tests): builds release binaries and operators, generates the anchor corpus, and prints
# figures and ratios. See docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bash scripts/build-operators.sh
cargo bench -p weir --bench wordcount
