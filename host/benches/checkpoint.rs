//! Benchmark (not a test): what checkpoints cost, and how fast a killed job is back.
//!
//!     cargo bench -p weir --bench checkpoint
//!
//! 1. The running word count of `running_wordcount` (Wasm tokenizer, `update_state_by_key`, 2 workers, 10
//!    batches of 2 corpus files, output discarded) without checkpoints, then checkpointing every batch and
//!    every 5 batches; lines/s and the ratio to no checkpoints.
//! 2. Restart to first output: the same job on a scripted source paced at 50 ms a batch, killed with
//!    SIGKILL once it has checkpointed, then started again (the release `weir` binary): the time from the
//!    restart to the first new line in its JSON-lines output, median of 5. Goal ≤ 1 s.
//! 3. The batch log of the realtime clock: the time to record one batch (a sealed, fsynced file, written
//!    by the batcher before the batch goes to the workers), median and slowest of 200, for a directory
//!    source 20 files in.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{LINES, corpus, tokenizer};
use weir::checkpoint::{BatchLog, LoggedBatch, SourceOffset};
use weir::job::{RunOptions, run};

fn spec(source: &str, sink: &str, checkpoint: &str) -> String {
    format!(
        r#"
[job]
name = "bench-checkpoint"
batch_interval = "1s"
clock = "manual"
workers = 2

{source}

[streams.words]
op = "wasm"
from = "lines"
plugin = "{plugin}"

[streams.pairs]
op = "map_to_pair"
from = "words"

[streams.counts]
op = "update_state_by_key"
from = "pairs"
updater = "sum"

[sinks.out]
from = "counts"
{sink}

{checkpoint}
"#,
        plugin = tokenizer().display(),
    )
}

/// Best of 3 whole-job runs over the corpus, in lines per second.
fn running(data: &Path, every: Option<u64>) -> f64 {
    let mut best = 0.0f64;
    for _ in 0..3 {
        let ck = tempfile::tempdir().unwrap();
        let source = format!(
            "[sources.lines]\nkind = \"directory\"\npath = \"{}\"\ninclude_existing = true\nfiles_per_batch = 2",
            data.display()
        );
        let checkpoint = every.map_or("[state]\nephemeral = true".into(), |n| {
            format!("[checkpoint]\ndir = \"{}\"\nevery = {n}", ck.path().display())
        });
        let text = spec(&source, "kind = \"noop\"", &checkpoint);
        let start = Instant::now();
        let plan = weir::graph::parse(&data.join("bench.toml"), &text).expect("bench spec");
        let report = run(plan, RunOptions::default()).expect("bench job");
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(report.batches, 10);
        best = best.max(LINES / secs);
    }
    best
}

fn lines_of(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// Seconds from a restart after SIGKILL to the first new output line.
fn restart_to_first_output() -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let script: String = (0..400).map(|i| format!("[\"w{} w{} the a\", \"x y z\"]\n", i % 50, i % 7)).collect();
    std::fs::write(dir.path().join("script.jsonl"), script).unwrap();
    let source = "[sources.lines]\nkind = \"scripted\"\npath = \"script.jsonl\"\npace = \"50ms\"";
    let text = spec(source, "kind = \"jsonl\"\npath = \"out.jsonl\"", "[checkpoint]\ndir = \"checkpoints\"");
    std::fs::write(dir.path().join("job.toml"), text).unwrap();
    let weir = |d: &Path| {
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .current_dir(d)
            .args(["run", "job.toml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let out = dir.path().join("out.jsonl");
    let mut first = weir(dir.path());
    while lines_of(&out) < 10 {
        std::thread::sleep(Duration::from_millis(5));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let before = lines_of(&out);
    let start = Instant::now();
    let mut second = weir(dir.path());
    while lines_of(&out) <= before {
        std::thread::sleep(Duration::from_millis(1));
    }
    let secs = start.elapsed().as_secs_f64();
    second.kill().unwrap();
    second.wait().unwrap();
    secs
}

/// Times to record 200 realtime batches in the batch log, sorted, in seconds.
fn batch_log_records() -> Vec<f64> {
    let dir = tempfile::tempdir().unwrap();
    let log = BatchLog::new(dir.path());
    log.create().unwrap();
    let done: std::collections::BTreeSet<String> = (0..20).map(|i| format!("part-{i:05}.txt")).collect();
    let mut times: Vec<f64> = (1..=200u64)
        .map(|t| {
            let current = Some(("part-00020.txt".to_string(), t * 4096));
            let offsets = [(
                "lines".to_string(),
                SourceOffset::Files {
                    done: done.clone(),
                    current,
                    skipped: Default::default(),
                    reading: Default::default(),
                },
            )]
            .into();
            let start = Instant::now();
            log.record(&LoggedBatch { time: t * 100, offsets, after: Some(t * 100 - 100) }, None).unwrap();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times
}

fn main() {
    let data = corpus();
    let none = running(&data, None);
    println!("running word count, no checkpoints:      {:>6.0}k lines/s", none / 1e3);
    for every in [1, 5] {
        let with = running(&data, Some(every));
        println!(
            "running word count, checkpoint every {every}: {:>6.0}k lines/s = {:.2}× without",
            with / 1e3,
            with / none
        );
    }
    let mut times: Vec<f64> = (0..5).map(|_| restart_to_first_output()).collect();
    times.sort_by(f64::total_cmp);
    println!(
        "restart to first output after SIGKILL: median {:.0} ms (min {:.0}, max {:.0}; goal ≤ 1000 ms)",
        times[2] * 1e3,
        times[0] * 1e3,
        times[4] * 1e3
    );
    let log = batch_log_records();
    println!(
        "realtime batch log, one batch recorded: median {:.2} ms, slowest {:.2} ms (= {:.1} % of a 100 ms batch at the median)",
        log[log.len() / 2] * 1e3,
        log[log.len() - 1] * 1e3,
        log[log.len() / 2] * 1e3
    );
}
