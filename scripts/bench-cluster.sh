#!/usr/bin/env bash
# Scale-out benchmark (issue 27): the running word count on 1 process × 1 worker, 2 processes × 1 worker
# and 1 process × 2 workers, side by side in one run, with a release weir. Each run is checked: its last
# batch must hold every one of the vocabulary's words at exactly the count the generator implies.
#   bash scripts/bench-cluster.sh            (BATCHES, LINES, RUNS to change the size)
set -euo pipefail
cd "$(dirname "$0")/.."
BATCHES=${BATCHES:-20}
LINES=${LINES:-200000}
RUNS=${RUNS:-3}
VOCABULARY=1000
WORDS=10
cargo build --release -p weir --features connectors --quiet
weir="$PWD/target/release/weir"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/job.toml" <<EOF
[job]
name = "bench-cluster"
batch_interval = "1s"
clock = "manual"

[sources.lines]
kind = "generator"
rate = $LINES
words_per_line = $WORDS
vocabulary = $VOCABULARY
sequential = true
limit = $((LINES * BATCHES))

[streams.words]
op = "tokenize"
from = "lines"

[streams.pairs]
op = "map_to_pair"
from = "words"

[streams.counts]
op = "update_state_by_key"
from = "pairs"
updater = "sum"

[sinks.out]
kind = "jsonl"
from = "counts"
path = "out.jsonl"

[state]
ephemeral = true
EOF
expected=$((LINES * BATCHES * WORDS / VOCABULARY))

check() {
  python3 - "$dir/out.jsonl" "$BATCHES" "$VOCABULARY" "$expected" <<'PY'
import json, sys
path, batches, vocabulary, expected = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
lines = open(path).read().splitlines()
assert len(lines) == batches, f"{len(lines)} batches written, not {batches}"
last = json.loads(lines[-1])["records"]
counts = {r["key"]: r["value"] for r in last}
assert len(counts) == vocabulary, f"{len(counts)} words, not {vocabulary}"
wrong = [k for k, v in counts.items() if v != expected]
assert not wrong, f"{len(wrong)} words with a count other than {expected}, e.g. {wrong[0]}={counts[wrong[0]]}"
PY
}

# Seconds for one run of the job: "1x1", "2x1" (two processes of one worker) or "1x2".
run_once() {
  rm -f "$dir/out.jsonl"
  local start end
  start=$(date +%s.%N)
  case "$1" in
    1x1) (cd "$dir" && "$weir" run job.toml --workers 1 2>/dev/null) ;;
    1x2) (cd "$dir" && "$weir" run job.toml --workers 2 2>/dev/null) ;;
    2x1) (cd "$dir" && "$weir" cluster run job.toml --processes 2 --workers 1 2>/dev/null) ;;
  esac
  end=$(date +%s.%N)
  check
  python3 -c "print(f'{$end - $start:.3f}')"
}

words=$((LINES * BATCHES * WORDS))
echo "running word count: $BATCHES batches × $LINES lines × $WORDS words = $words words; best of $RUNS runs, each checked"
declare -A best
for r in $(seq "$RUNS"); do
  for how in 1x1 2x1 1x2; do
    s=$(run_once "$how")
    if [ -z "${best[$how]:-}" ] || python3 -c "import sys; sys.exit(0 if $s < ${best[$how]} else 1)"; then
      best[$how]=$s
    fi
  done
done
python3 - "$words" "${best[1x1]}" "${best[2x1]}" "${best[1x2]}" <<'PY'
import sys
words = int(sys.argv[1])
one, two_p, two_w = (float(x) for x in sys.argv[2:])
for name, s in [("1 process × 1 worker", one), ("2 processes × 1 worker", two_p), ("1 process × 2 workers", two_w)]:
    print(f"  {name:24} {s:7.3f} s  {words / s / 1e6:6.2f} M words/s")
print(f"2 processes against 1: {one / two_p:.2f}× (goal ≥ 1.7×)")
print(f"cross-process exchange: 2 processes take {100 * (two_p / two_w - 1):+.1f} % against 2 workers in one process (goal ≤ 15 %)")
PY
