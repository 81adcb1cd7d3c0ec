//! Benchmark (not a test): the running word count — Wasm tokenizer, counts kept as keyed state in sled —
//! side by side with the Spark anchors on the same corpus, on the anchor corpus and on one shaped like
//! natural text (`scripts/gen-natural.py`), then the memory of 10 M keys of state, short and long.
//!
//!     cargo bench -p weir --bench running_wordcount      (or scripts/bench.sh, which sets up Spark)
//!     WEIR_BENCH=map_with_state cargo bench -p weir --bench running_wordcount    (that job alone)
//!     WEIR_BENCH=state_memory cargo bench -p weir --bench running_wordcount      (the memory runs alone)
//!     WEIR_BENCH_CORPUS=natural cargo bench -p weir --bench running_wordcount   (one corpus: anchor, natural)
//!
//! Weir runs `update_state_by_key` (every key output every batch, as the DStream anchor) and
//! `map_with_state` (updated keys only, as Structured Streaming's update mode), 2 workers, 10 batches of
//! 2 files, whole job timed (plan, plugin load, state open, run). The Spark anchor scripts run with the
//! Python in `WEIR_SPARK_PYTHON` (scripts/bench.sh makes a venv with pyspark 4.3.0); without it no ratio
//! is printed. Every timed run's running counts, read back from its state database, must equal the
//! corpus's counts made without the engine, and no batch may fail (`common/check.rs`).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::check::{Counts, assert_clean, corpus_counts, state_counts};
use common::{Corpus, FLOOR, LINES, floor, repo, tokenizer};
use weir::job::{RunOptions, run};

const RUNS: usize = 3;

fn spec(data: &Path, state: &Path, op: &str, sink: Output) -> String {
    format!(
        r#"
[job]
name = "bench-running-{op}"
batch_interval = "1s"
clock = "manual"
workers = 2

[state]
dir = "{state}"

[sources.lines]
kind = "directory"
path = "{data}"
include_existing = true
files_per_batch = 2

[streams.words]
op = "wasm"
from = "lines"
plugin = "{plugin}"

[streams.pairs]
op = "map_to_pair"
from = "words"

[streams.counts]
op = "{op}"
from = "pairs"
{function} = "sum"

[sinks.out]
from = "counts"
{sink}
"#,
        data = data.display(),
        state = state.display(),
        plugin = tokenizer().display(),
        function = if op == "update_state_by_key" { "updater" } else { "function" },
        sink = match sink {
            Output::Discard => "kind = \"noop\"",
            Output::Render => "kind = \"jsonl\"\npath = \"/dev/null\"",
        },
    )
}

/// What the job does with its output: discard it as the Spark anchors do (`noop` format, `rdd.count()`),
/// or render every record as JSON on the sink thread.
#[derive(Clone, Copy)]
enum Output {
    Discard,
    Render,
}

/// Best of `RUNS` whole-job runs, in lines per second; each run starts from empty state, and the
/// running counts it leaves in its state database must equal `expected`.
fn weir_running(data: &Path, op: &str, sink: Output, expected: Counts) -> f64 {
    let mut best = 0.0f64;
    for _ in 0..RUNS {
        let state = tempfile::tempdir().unwrap();
        let text = spec(data, state.path(), op, sink);
        let start = Instant::now();
        let plan = weir::graph::parse(&data.join("bench.toml"), &text).expect("bench spec");
        let report = run(plan, RunOptions::default()).expect("bench job");
        let secs = start.elapsed().as_secs_f64();
        assert_clean(&report, 10);
        expected.assert_same(state_counts(state.path(), "counts"), op);
        best = best.max(LINES / secs);
    }
    best
}

/// Runs one Spark anchor script next to the corpus (it reads `data` below `corpus.home()`) and reads the `= NNNk lines/s` it prints; `None`,
/// said, when it fails or prints no figure.
fn spark(python: &str, script: &str, corpus: Corpus) -> Option<f64> {
    let anchors = repo().join("../shared/bench/anchors");
    let out = Command::new(python).arg(anchors.join(script)).current_dir(corpus.home()).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    eprint!("{text}");
    let figure = text.split("= ").last()?.split("k lines/s").next()?.trim().parse::<f64>().ok();
    if !out.status.success() || figure.is_none() {
        println!("spark: {script} failed ({}): no ratio printed\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    Some(figure? * 1e3)
}

/// Peak resident memory of process `pid` so far, in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// How long the state memory job may run (it takes about a minute for 10 M keys).
const STATE_JOB_LIMIT: Duration = Duration::from_secs(1200);

/// Before every key of the long-key state run: keys of 27 to 33 bytes (`customer-account-session-w1234567`).
const LONG_KEYS: &str = "customer-account-session-";

/// Runs the `weir` binary on `keys` distinct keys of `map_with_state` state, each `prefix` and `w<n>`;
/// returns (peak RSS, bytes on disk).
fn state_memory(keys: u64, prefix: &str) -> (u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        r#"
[job]
name = "bench-state-{keys}"
batch_interval = "1s"
clock = "manual"
workers = 2

[state]
dir = "state"

[sources.gen]
kind = "generator"
rate = 500000
words_per_line = 1
vocabulary = {keys}
sequential = true
limit = {keys}
prefix = "{prefix}"

[streams.pairs]
op = "map_to_pair"
from = "gen"

[streams.totals]
op = "map_with_state"
from = "pairs"
function = "sum"

[streams.updated]
op = "count"
from = "totals"

[sinks.out]
kind = "jsonl"
from = "updated"
path = "/dev/null"
"#
    );
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let mut child =
        Command::new(env!("CARGO_BIN_EXE_weir")).args(["run", "job.toml"]).current_dir(dir.path()).spawn().unwrap();
    let (mut peak, until) = (0, Instant::now() + STATE_JOB_LIMIT);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("the state memory job of {keys} keys ran past {STATE_JOB_LIMIT:?}");
        }
        peak = peak.max(peak_rss(child.id()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "state memory job failed");
    (peak, dir_size(&dir.path().join("state")))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("running_wordcount: benchmark");
        return;
    }
    if std::env::var("WEIR_BENCH").is_ok_and(|b| b == "state_memory") {
        return state_memories();
    }
    let python = std::env::var("WEIR_SPARK_PYTHON").ok();
    if python.is_none() {
        println!("spark: not set up (WEIR_SPARK_PYTHON unset; scripts/bench.sh sets it up): no ratio printed");
    }
    let map_label = "weir map_with_state      (wasm tokenizer, sled state):";
    // WEIR_BENCH=map_with_state runs just that job, for profiling.
    let only_map = std::env::var("WEIR_BENCH").is_ok_and(|b| b == "map_with_state");
    let mut words_per_second = Vec::new();
    for corpus in Corpus::chosen() {
        let data = corpus.dir();
        let expected = corpus_counts(&data);
        let per_line = expected.words as f64 / LINES;
        // Runs one Weir job (best of `RUNS`) and prints its figure under `label`.
        let measure = |op: &str, sink: Output, label: &str| {
            let lines = weir_running(&data, op, sink, expected);
            println!("{label:<54} {:>8.0} k lines/s {:>6.1} M words/s", lines / 1e3, lines * per_line / 1e6);
            lines
        };
        println!(
            "\nrunning word count, {} corpus: 2,000,000 lines (20 files, 2 per batch), {:.1} M words ({per_line:.1} a line, {} distinct), 2 workers, best of {RUNS} whole-job runs",
            corpus.name(),
            expected.words as f64 / 1e6,
            expected.keys
        );
        if only_map {
            measure("map_with_state", Output::Discard, map_label);
            continue;
        }
        println!("output discarded (noop sink) as in the Spark anchors, unless marked `rendered`");
        // The DStream anchor and the rendered run are the anchor corpus's only: the goals compare
        // map_with_state with Structured Streaming.
        let update = (corpus == Corpus::Anchor).then(|| {
            measure("update_state_by_key", Output::Discard, "weir update_state_by_key (wasm tokenizer, sled state):")
        });
        let map = measure("map_with_state", Output::Discard, map_label);
        if corpus == Corpus::Anchor {
            measure("map_with_state", Output::Render, "weir map_with_state, rendered to JSON (jsonl sink):");
        }
        words_per_second.push((corpus, map * per_line));

        let ss = python.as_deref().and_then(|py| spark(py, "ss_wordcount.py", corpus));
        if let Some(ss) = ss {
            println!(
                "spark structured streaming (update mode):          {:>8.0} k lines/s {:>6.1} M words/s (run now)",
                ss / 1e3,
                ss * per_line / 1e6
            );
            println!("ratio weir map_with_state / structured streaming:  {:>8.1}x (goal >= 25x)", map / ss);
        }
        if let Some(update) = update
            && let Some(ds) = python.as_deref().and_then(|py| spark(py, "dstream_wordcount.py", corpus))
        {
            println!("spark dstreams updateStateByKey:                   {:>8.0} k lines/s (run now)", ds / 1e3);
            println!("ratio weir update_state_by_key / dstreams:         {:>8.1}x", update / ds);
        }
        let light = floor(&data);
        println!("{FLOOR}: {:>5.0} k lines/s; weir map_with_state = {:.0}% of it", light / 1e3, 100.0 * map / light);
        if let Some(ss) = ss {
            println!("25x structured streaming = {:.0}% of the floor", 100.0 * 25.0 * ss / light);
        }
    }
    if let [(Corpus::Anchor, anchor), (Corpus::Natural, natural)] = words_per_second[..] {
        println!(
            "\nweir map_with_state words/s, natural corpus / anchor corpus: {:.0}% (goal >= 70%)",
            100.0 * natural / anchor
        );
    }
    if only_map {
        return;
    }

    state_memories();
}

/// The memory of 10 M keys (`WEIR_BENCH_KEYS`) of state, with short keys and with long ones.
fn state_memories() {
    let keys = std::env::var("WEIR_BENCH_KEYS").ok().and_then(|k| k.parse().ok()).unwrap_or(10_000_000u64);
    for (prefix, what) in [("", "short keys, 2 to 8 bytes"), (LONG_KEYS, "long keys, 27 to 33 bytes")] {
        let (rss, disk) = state_memory(keys, prefix);
        println!(
            "state of {} M {what} (map_with_state, 2 workers): peak RSS {} MiB = {:.0} bytes/key; sled on disk {} MiB = {:.0} bytes/key",
            keys / 1_000_000,
            rss >> 20,
            rss as f64 / keys as f64,
            disk >> 20,
            disk as f64 / keys as f64
        );
    }
}
