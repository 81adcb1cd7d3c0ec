#!/usr/bin/env bash
# Crash soak: the crash-recovery test with many more SIGKILLs (default 300), seeded and reproducible.
#   scripts/soak.sh [KILLS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
source scripts/services.sh
bash scripts/build-operators.sh
cargo build -p weir --features connectors
WEIR_CRASH_KILLS="${1:-300}" WEIR_CRASH_SEED="${2:-20261121}" \
  cargo test -p weir-tests --test recovery -- a_job_killed_at_random_moments --nocapture
