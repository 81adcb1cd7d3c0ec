//! Benchmark (not a test): sentiment of a stream of reviews, "learned offline, applied online" — the Wasm
//! `naive-bayes` operator labels every review with the model `examples/models/sentiment.json` and the
//! labels are counted per batch — beside Structured Streaming applying the same model in a vectorised
//! pandas UDF (`host/benches/spark/sentiment.py`) on the same files.
//!
//!     cargo bench -p weir --bench sentiment      (or scripts/bench.sh, which sets up Spark)
//!
//! The corpus: 500,000 reviews in 10 files (each review two texts of `tests/fixtures/models/sentiment.tsv`
//! joined, about 160 bytes), made once in target/bench/reviews. Weir: 2 workers, 1 file per batch, whole
//! job timed (plan, plugin load, model hand-over, run), best of 3. Each system's label counts must equal
//! the model applied natively, review by review, with no engine: the benchmark fails otherwise.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{Mix, jsonl_records, repo, spark_script};
use weir::job::{RunOptions, run};
use weir_sdk::model::NaiveBayes;

const FILES: usize = 10;
const PER_FILE: usize = 50_000;
const RECORDS: usize = FILES * PER_FILE;
const RUNS: usize = 3;

fn model_path() -> PathBuf {
    repo().join("examples/models/sentiment.json")
}

/// The reviews, made once: each joins two texts of the labelled corpus picked at random.
fn corpus() -> PathBuf {
    let dir = repo().join("target/bench/reviews");
    let last = dir.join(format!("part-{:04}.txt", FILES - 1));
    if last.is_file() {
        return dir;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let tsv = std::fs::read_to_string(repo().join("tests/fixtures/models/sentiment.tsv")).unwrap();
    let texts: Vec<&str> = tsv.lines().filter_map(|l| l.split_once('\t')).map(|(_, t)| t).collect();
    let mut mix = Mix(25);
    for f in 0..FILES {
        let mut file = String::with_capacity(PER_FILE * 170);
        for _ in 0..PER_FILE {
            let (a, b) = (texts[mix.below(texts.len() as u64) as usize], texts[mix.below(texts.len() as u64) as usize]);
            file.push_str(&format!("{a} {b}\n"));
        }
        // Written whole, then renamed: a half-made corpus is never taken for a whole one.
        let part = dir.join(format!("part-{f:04}.txt"));
        std::fs::write(part.with_extension("tmp"), file).unwrap();
        std::fs::rename(part.with_extension("tmp"), part).unwrap();
    }
    dir
}

/// The label counts of the model applied to every review natively (one thread, no engine), and the time.
fn native(data: &Path) -> (BTreeMap<String, u64>, f64) {
    let model: NaiveBayes = serde_json::from_str(&std::fs::read_to_string(model_path()).unwrap()).unwrap();
    let start = Instant::now();
    let mut counts = BTreeMap::new();
    for f in 0..FILES {
        let text = std::fs::read_to_string(data.join(format!("part-{f:04}.txt"))).unwrap();
        for line in text.lines() {
            *counts.entry(model.predict(line).0.to_string()).or_default() += 1;
        }
    }
    (counts, RECORDS as f64 / start.elapsed().as_secs_f64())
}

fn spec(data: &Path, out: &Path) -> String {
    format!(
        r#"
[job]
name = "bench-sentiment"
batch_interval = "1s"
clock = "manual"
workers = 2

[sources.reviews]
kind = "directory"
path = "{data}"
include_existing = true
files_per_batch = 1

[streams.labelled]
op = "wasm"
from = "reviews"
plugin = "{plugin}"
model = "{model}"

[streams.per_label]
op = "reduce_by_key"
from = "labelled"
reducer = "count"

[sinks.out]
kind = "jsonl"
from = "per_label"
path = "{out}"
"#,
        data = data.display(),
        plugin = repo().join("operators/target/wasm32-wasip2/release/naive_bayes.wasm").display(),
        model = model_path().display(),
        out = out.display(),
    )
}

/// Best of `RUNS` whole-job runs in records per second; every run's label counts must be `expected`.
fn weir(data: &Path, expected: &BTreeMap<String, u64>) -> f64 {
    let mut best = 0.0f64;
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("labels.jsonl");
        let start = Instant::now();
        let plan = weir::graph::parse(&dir.path().join("bench.toml"), &spec(data, &out)).expect("bench spec");
        let report = run(plan, RunOptions::default()).expect("bench job");
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(report.batches, FILES as u64, "one batch per file");
        assert_eq!((report.failed_batches, report.dead_letters), (0, 0), "no batch or review may fail");
        let mut counts = BTreeMap::new();
        for r in jsonl_records(&out) {
            *counts.entry(r["key"].as_str().unwrap().to_string()).or_default() += r["value"].as_u64().unwrap();
        }
        assert_eq!(&counts, expected, "Weir's label counts differ from the model applied natively");
        best = best.max(RECORDS as f64 / secs);
    }
    best
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("sentiment: benchmark");
        return;
    }
    let data = corpus();
    let (expected, native_rate) = native(&data);
    println!(
        "sentiment: {RECORDS} reviews in {FILES} files (1 per batch), naive-Bayes model, counts per label {expected:?}"
    );
    let weir_rate = weir(&data, &expected);
    println!("weir (wasm naive-bayes, 2 workers, best of {RUNS}):   {:>8.0} k records/s", weir_rate / 1e3);
    println!("the model natively, 1 thread, no engine:          {:>8.0} k records/s", native_rate / 1e3);
    let (data_arg, model_arg, records) =
        (data.display().to_string(), model_path().display().to_string(), RECORDS.to_string());
    if let Some((spark_rate, text)) = spark_script("sentiment.py", &[&data_arg, &model_arg, &records]) {
        let counts: BTreeMap<String, u64> = text
            .lines()
            .filter_map(|l| l.strip_prefix("label "))
            .filter_map(|l| l.split_once(' '))
            .map(|(label, n)| (label.to_string(), n.parse().unwrap()))
            .collect();
        assert_eq!(counts, expected, "Spark's label counts differ from the model applied natively");
        println!("spark structured streaming (pandas UDF):          {:>8.0} k records/s", spark_rate / 1e3);
        println!("ratio weir / structured streaming:                {:>8.1}x", weir_rate / spark_rate);
    }
}
