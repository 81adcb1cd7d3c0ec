//! Benchmark (not a test): per-batch word count over the anchor corpus and the natural-text one
//! (`WEIR_BENCH_CORPUS` picks one), Wasm tokenizer vs the built-in native tokenizer, with 1 and 2
//! workers. Prints lines/s, words/s and the Wasm/native ratio.
//!
//!     cargo bench -p weir --bench wordcount          (or scripts/bench.sh)
//!
//! The corpus is `../shared/bench/anchors/gen.py 20 100000` (2,000,000 lines of 10 Zipf words, 94 MB),
//! generated once into target/bench/data. The job reads it from a directory source under the manual
//! clock, two files per batch (10 batches), so the figure is the engine's own throughput. Each run's
//! per-batch counts, summed, must equal the corpus's counts made without the engine (`common/check.rs`).

mod common;

use std::path::Path;
use std::time::Instant;

use common::check::{Counts, assert_clean, corpus_counts, summed_output};
use common::{Corpus, FLOOR, LINES, floor};

use weir::job::{RunOptions, run};

const RUNS: usize = 3;

fn spec(data: &Path, tokenizer: &str, workers: usize, out: &Path) -> String {
    let op = match tokenizer {
        "wasm" => format!("op = \"wasm\"\nplugin = \"{}\"", common::tokenizer().display()),
        _ => "op = \"tokenize\"".to_string(),
    };
    format!(
        r#"
[job]
name = "bench-{tokenizer}-{workers}"
batch_interval = "1s"
clock = "manual"
workers = {workers}

[sources.lines]
kind = "directory"
path = "{data}"
include_existing = true
files_per_batch = 2

[streams.words]
from = "lines"
{op}

[streams.pairs]
op = "map_to_pair"
from = "words"

[streams.counts]
op = "reduce_by_key"
from = "pairs"
reducer = "sum"

[sinks.out]
kind = "jsonl"
from = "counts"
path = "{out}"
"#,
        data = data.display(),
        out = out.display(),
    )
}

/// Best of `RUNS` runs, in lines per second; every run's output is checked against `expected`.
fn measure(data: &Path, tokenizer: &str, workers: usize, expected: Counts) -> f64 {
    let mut best = 0.0f64;
    for _ in 0..RUNS {
        let out = tempfile::NamedTempFile::new().unwrap();
        let text = spec(data, tokenizer, workers, out.path());
        let plan = weir::graph::parse(&data.join("bench.toml"), &text).expect("bench spec");
        let start = Instant::now();
        let report = run(plan, RunOptions::default()).expect("bench job");
        let secs = start.elapsed().as_secs_f64();
        assert_clean(&report, 10);
        expected.assert_same(summed_output(out.path()), &format!("{tokenizer}, {workers} worker(s)"));
        best = best.max(LINES / secs);
    }
    best
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("wordcount: benchmark");
        return;
    }
    // WEIR_BENCH=wasm-2 (say) runs just that configuration, for profiling.
    let only = std::env::var("WEIR_BENCH").ok();
    for corpus in Corpus::chosen() {
        let data = corpus.dir();
        if only.as_deref() == Some("floor") {
            println!("{} corpus, {FLOOR}: {:.0} lines/s", corpus.name(), floor(&data));
            continue;
        }
        let expected = corpus_counts(&data);
        let per_line = expected.words as f64 / LINES;
        println!(
            "\nper-batch word count, {} corpus: 2,000,000 lines (20 files, 2 per batch), {per_line:.1} words a line, best of {RUNS} runs",
            corpus.name()
        );
        println!("{:<10} {:>8} {:>14} {:>14}", "tokenizer", "workers", "lines/s", "words/s");
        let mut results = Vec::new();
        for workers in [1, 2] {
            for tokenizer in ["native", "wasm"] {
                if only.as_ref().is_some_and(|o| *o != format!("{tokenizer}-{workers}")) {
                    continue;
                }
                let lps = measure(&data, tokenizer, workers, expected);
                println!("{tokenizer:<10} {workers:>8} {lps:>14.0} {:>14.0}", lps * per_line);
                results.push((tokenizer, workers, lps));
            }
        }
        if only.is_some() {
            continue;
        }
        let get = |t: &str, w: usize| results.iter().find(|r| r.0 == t && r.1 == w).map(|r| r.2).unwrap();
        for workers in [1, 2] {
            let ratio = get("wasm", workers) / get("native", workers);
            println!("wasm/native ratio, {workers} worker(s): {ratio:.2} (target >= 0.70)");
        }
        let wasm2 = get("wasm", 2);
        println!("wasm, 2 workers: {:.2} M lines/s (target >= 5 M lines/s)", wasm2 / 1e6);
        println!("scaling 1 -> 2 workers (wasm): {:.2}x", wasm2 / get("wasm", 1));
        let light = floor(&data);
        println!(
            "{FLOOR}: {:.2} M lines/s; weir wasm 2 workers = {:.0}% of it, \
             the 5 M target = {:.0}% of it",
            light / 1e6,
            100.0 * wasm2 / light,
            100.0 * 5e6 / light
        );
    }
}
