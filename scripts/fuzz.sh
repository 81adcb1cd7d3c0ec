#!/usr/bin/env bash
# The long fuzzing campaign: the property tests of tests/tests/fuzz.rs (spec loader, packed batches,
# checkpoint parts and manifests, batch log, write-ahead log, script lines) with many more cases than
# the suite's 256. Usage: bash scripts/fuzz.sh [cases per property, default 20000]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
PROPTEST_CASES="${1:-20000}" cargo test -p weir-tests --release --test fuzz -- --test-threads 2
