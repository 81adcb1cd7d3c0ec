#!/usr/bin/env bash
# Scale-out benchmark (issue 27): the running word count on 1 process × 1 worker, 2 processes × 1 worker
# and 1 process × 2 workers, side by side in one run, with a release weir, over two inputs:
# - a generator on the manual clock, which process 0 alone reads (the other's lines cross to it);
# - the same words in files of a directory on the realtime clock, which every process reads a share of
#   (each file on the process its name's hash picks), so lines never cross.
# Each run is checked: its last batch must hold every one of the vocabulary's words at exactly the count
# the input implies.
#   bash scripts/bench-cluster.sh            (BATCHES, LINES, FILES, RUNS to change the size)
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

# The files: FILES files holding the generator's lines in its order, and the job reading them on the
# realtime clock (batches of 100 ms). All are there at the start: each batch takes what was read while the
# one before ran, as a job catching up on a backlog does.
FILES=${FILES:-400}
mkdir -p "$dir/files/in"
python3 - "$dir/files/in" "$FILES" "$((LINES * BATCHES / FILES))" "$WORDS" "$VOCABULARY" <<'PY'
import sys
out, files, lines, words, vocabulary = sys.argv[1], *map(int, sys.argv[2:])
n = 0
for f in range(files):
    with open(f"{out}/part-{f:04}.txt", "w") as fh:
        for _ in range(lines):
            fh.write(" ".join(f"w{(n + j) % vocabulary}" for j in range(words)) + "\n")
            n += words
PY
sed -e 's/clock = "manual"/clock = "realtime"/' -e 's/batch_interval = "1s"/batch_interval = "100ms"/' \
  -e '/^kind = "generator"/,/^limit = /c\kind = "directory"\npath = "in"\ninclude_existing = true' \
  "$dir/job.toml" > "$dir/files/job.toml"

# Seconds until a realtime run over the files has written the last word's count: the job is started,
# its output watched every 10 ms, and it is stopped once the counts are complete.
run_files_once() {
  rm -f "$dir/files/out.jsonl"
  local args
  case "$1" in
    1x1) args="run job.toml --workers 1" ;;
    1x2) args="run job.toml --workers 2" ;;
    2x1) args="cluster run job.toml --processes 2 --workers 1" ;;
  esac
  python3 - "$dir/files" "$weir $args" "$VOCABULARY" "$expected" <<'PY'
import json, os, signal, subprocess, sys, time
home, command, vocabulary, expected = sys.argv[1], sys.argv[2].split(), int(sys.argv[3]), int(sys.argv[4])
out = os.path.join(home, "out.jsonl")
start = time.monotonic()
job = subprocess.Popen(command, cwd=home, stderr=subprocess.DEVNULL, start_new_session=True)
done, seen = None, 0
while done is None and time.monotonic() - start < 300:
    time.sleep(0.01)
    try:
        with open(out, "rb") as f:
            f.seek(seen)
            tail = f.read()
    except FileNotFoundError:
        continue
    whole = tail[: tail.rfind(b"\n") + 1]
    seen += len(whole)
    for line in whole.splitlines():
        counts = {r["key"]: r["value"] for r in json.loads(line)["records"]}
        if len(counts) == vocabulary and all(v == expected for v in counts.values()):
            done = time.monotonic() - start
        assert all(v <= expected for v in counts.values()), "a word counted more often than written"
job.send_signal(signal.SIGINT)
job.wait(60)
assert done is not None, "the counts never completed"
print(f"{done:.3f}")
PY
}

words=$((LINES * BATCHES * WORDS))
echo "running word count: $BATCHES batches × $LINES lines × $WORDS words = $words words; best of $RUNS runs, each checked"
declare -A best
for r in $(seq "$RUNS"); do
  for how in 1x1 2x1 1x2; do
    for input in generator files; do
      if [ "$input" = files ]; then s=$(run_files_once "$how"); else s=$(run_once "$how"); fi
      key="$input-$how"
      if [ -z "${best[$key]:-}" ] || python3 -c "import sys; sys.exit(0 if $s < ${best[$key]} else 1)"; then
        best[$key]=$s
      fi
    done
  done
done
for input in generator files; do
echo "input: $input"
python3 - "$words" "${best[$input-1x1]}" "${best[$input-2x1]}" "${best[$input-1x2]}" <<'PY'
import sys
words = int(sys.argv[1])
one, two_p, two_w = (float(x) for x in sys.argv[2:])
for name, s in [("1 process × 1 worker", one), ("2 processes × 1 worker", two_p), ("1 process × 2 workers", two_w)]:
    print(f"  {name:24} {s:7.3f} s  {words / s / 1e6:6.2f} M words/s")
print(f"2 processes against 1: {one / two_p:.2f}× (goal ≥ 1.7×)")
print(f"cross-process exchange: 2 processes take {100 * (two_p / two_w - 1):+.1f} % against 2 workers in one process (goal ≤ 15 %)")
PY
done
