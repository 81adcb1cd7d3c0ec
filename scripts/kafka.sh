#!/usr/bin/env bash
# A local Kafka-protocol broker for the examples: Tansu (from PyPI, installed by scripts/services.sh) on
# 127.0.0.1:${KAFKA_PORT:-9092}, memory storage (topics last as long as the broker), with the topics
# named as arguments created (default: `clicks`, 3 partitions). Runs in the background; its log is
# target/tansu.log. Stop it with `pkill -f 'tansu.*broker'`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
port=${KAFKA_PORT:-9092}
url="tcp://127.0.0.1:$port"
if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  mkdir -p target
  nohup "$WEIR_TANSU" broker --listener-url "$url" --advertised-listener-url "$url" \
    --storage-engine memory://tansu/ > target/tansu.log 2>&1 &
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
fi
for topic in "${@:-clicks}"; do
  "$WEIR_TANSU" topic create "$topic" --partitions 3 --broker "$url" >/dev/null 2>&1 || true
done
echo "kafka: Tansu on 127.0.0.1:$port, topics: ${*:-clicks}"
