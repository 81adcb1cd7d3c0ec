#!/usr/bin/env bash
# Benchmarks (not tests): builds release binaries and operators, generates the anchor corpus, sets up
# Spark (pyspark 4.3.0 in target/bench/.venv-spark; WEIR_SKIP_SPARK=1 to run without it: no ratio is printed), and
# prints figures and ratios. See docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bash scripts/build-operators.sh
cargo bench -p weir --bench wordcount
cargo bench -p weir --bench tokenizer
if [ -z "${WEIR_SKIP_SPARK:-}" ] && command -v java >/dev/null; then
  venv=target/bench/.venv-spark
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import pyspark, pandas, pyarrow, scipy' 2>/dev/null; then
    mkdir -p target/bench
    python3 -m venv "$venv"
    # pandas (below 3, which pyspark 4.3 does not yet support), pyarrow and scipy: the sentiment anchor's pandas UDF
    "$venv/bin/pip" install -q pyspark==4.3.0 pandas==2.3.3 pyarrow==26.0.1 scipy==1.17.1
  fi
  export WEIR_SPARK_PYTHON="$PWD/$venv/bin/python"
fi
cargo bench -p weir --bench running_wordcount
cargo bench -p weir --bench sentiment
cargo bench -p weir --bench event_window
cargo bench -p weir --bench latency
# The user-behaviour pipeline over Kafka (Tansu) into MariaDB: needs the services and a release weir.
source scripts/services.sh
cargo build --release -p weir --features connectors --quiet
WEIR_BIN="$PWD/target/release/weir" cargo bench -p weir-tests --bench pipeline
