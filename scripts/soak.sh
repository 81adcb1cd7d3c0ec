#!/usr/bin/env bash
# Crash soak: the crash-recovery tests with many more SIGKILLs, seeded and reproducible: one process
# (default 300 kills), then a 2-process cluster restarted by `weir cluster run --restarts` (default 100),
# then that cluster reading Kafka's partitions on both processes (default 50).
#   scripts/soak.sh [KILLS] [SEED] [CLUSTER_KILLS] [CLUSTER_KAFKA_KILLS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
source scripts/services.sh
bash scripts/build-operators.sh
cargo build -p weir --features connectors
WEIR_CRASH_KILLS="${1:-300}" WEIR_CRASH_SEED="${2:-20261121}" \
  cargo test -p weir-tests --test recovery -- a_job_killed_at_random_moments --nocapture
WEIR_CLUSTER_KILLS="${3:-100}" WEIR_CRASH_SEED="${2:-20261121}" \
  cargo test -p weir-tests --test cluster_recovery -- a_cluster_killed_at_random_moments --nocapture
WEIR_CLUSTER_KAFKA_KILLS="${4:-50}" WEIR_KAFKA_MESSAGES=30000 WEIR_CRASH_SEED="${2:-20261121}" \
  cargo test -p weir-tests --test cluster_kafka -- a_cluster_killed_while --nocapture
