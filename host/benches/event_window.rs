//! Benchmark (not a test): a count per key in 10-second tumbling windows of the events' own time, with 5 %
//! of the events out of order, the watermark 10 s behind the latest event and windows written once, when
//! it passes them (append) — beside Structured Streaming's `withWatermark` + `groupBy(window, key)`
//! (`host/benches/spark/event_window.py`) on the same files.
//!
//!     cargo bench -p weir --bench event_window      (or scripts/bench.sh, which sets up Spark)
//!
//! The corpus: 2,000,000 JSON lines `{"key", "ts"}` in 20 files, one event a millisecond of event time,
//! 1,000 keys; one event in 20 is put up to 5 s back (out of order, never late). Made once in
//! target/bench/events. Weir: 2 workers, 2 files per batch, whole job timed, best of 3. Every window each
//! system writes must hold exactly the count the generator knows, and Weir must write every window the
//! final watermark has passed: the benchmark fails otherwise.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{Mix, jsonl_records, repo, spark_script};
use weir::job::{RunOptions, run};

const FILES: usize = 20;
const PER_FILE: usize = 100_000;
const RECORDS: usize = FILES * PER_FILE;
const KEYS: u64 = 1_000;
const WINDOW_MS: i64 = 10_000;
const DELAY_MS: i64 = 10_000;
const BASE_MS: i64 = 1_800_000_000_000;
const RUNS: usize = 3;

/// Each (key, window start)'s count, and the largest event time.
type Expected = (HashMap<(String, i64), u64>, i64);

/// The events, made once, and what every window must count.
fn corpus() -> (PathBuf, Expected) {
    let dir = repo().join("target/bench/events");
    let (mut expected, mut max) = (HashMap::new(), i64::MIN);
    let mut mix = Mix(5);
    let made = dir.join(format!("part-{:04}.json", FILES - 1)).is_file();
    std::fs::create_dir_all(&dir).unwrap();
    for f in 0..FILES {
        let mut file = String::with_capacity(PER_FILE * 40);
        for i in 0..PER_FILE {
            let mut ts = BASE_MS + (f * PER_FILE + i) as i64;
            max = max.max(ts);
            if mix.below(20) == 0 {
                ts -= 1 + mix.below(5_000) as i64;
            }
            let key = format!("k{}", mix.below(KEYS));
            file.push_str(&format!("{{\"key\":\"{key}\",\"ts\":{ts}}}\n"));
            *expected.entry((key, ts - ts.rem_euclid(WINDOW_MS))).or_default() += 1;
        }
        if !made {
            let part = dir.join(format!("part-{f:04}.json"));
            std::fs::write(part.with_extension("tmp"), file).unwrap();
            std::fs::rename(part.with_extension("tmp"), part).unwrap();
        }
    }
    (dir, (expected, max))
}

fn spec(data: &Path, out: &Path) -> String {
    format!(
        r#"
[job]
name = "bench-event-window"
batch_interval = "1s"
clock = "manual"
workers = 2

[watermark]
delay = "{DELAY_MS}ms"

[sources.events]
kind = "directory"
path = "{data}"
include_existing = true
files_per_batch = 2
format = "json"
event_time = "ts"

[streams.keyed]
op = "map"
from = "events"
key = "value.key"
value = "1"

[streams.windows]
op = "event_window"
from = "keyed"
reducer = "count"
length = "{WINDOW_MS}ms"

[sinks.out]
kind = "jsonl"
from = "windows"
path = "{out}"
"#,
        data = data.display(),
        out = out.display(),
    )
}

/// Checks every written window against the generator's counts; returns how many there were.
fn check(system: &str, windows: impl Iterator<Item = (String, i64, u64)>, expected: &Expected) -> usize {
    let mut n = 0;
    for (key, start, count) in windows {
        assert_eq!(expected.0.get(&(key.clone(), start)), Some(&count), "{system}: window {start} of key {key}");
        n += 1;
    }
    n
}

/// Best of `RUNS` whole-job runs in records per second; every run must write exactly the closed windows.
fn weir(data: &Path, expected: &Expected) -> f64 {
    // The watermark after the last batch; a window is written once it is at or past the window's end.
    let watermark = expected.1 - DELAY_MS;
    let closed = expected.0.keys().filter(|(_, start)| start + WINDOW_MS <= watermark).count();
    let mut best = 0.0f64;
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("windows.jsonl");
        let start = Instant::now();
        let plan = weir::graph::parse(&dir.path().join("bench.toml"), &spec(data, &out)).expect("bench spec");
        let report = run(plan, RunOptions::default()).expect("bench job");
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(report.batches, (FILES / 2) as u64, "two files a batch");
        assert_eq!((report.failed_batches, report.dead_letters), (0, 0), "no batch or event may fail or be late");
        let windows = jsonl_records(&out).into_iter().map(|r| {
            let v = &r["value"];
            (r["key"].as_str().unwrap().to_string(), v["start"].as_i64().unwrap(), v["value"].as_u64().unwrap())
        });
        assert_eq!(check("weir", windows, expected), closed, "weir writes every window the watermark passed, once");
        best = best.max(RECORDS as f64 / secs);
    }
    println!("weir wrote {closed} windows (every one the final watermark passed), each with the right count");
    best
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("event_window: benchmark");
        return;
    }
    let (data, expected) = corpus();
    println!(
        "event-time window count: {RECORDS} JSON events in {FILES} files (2 per batch), {KEYS} keys, 5 % out of order, \
         10 s tumbling windows, watermark delay 10 s, append"
    );
    let weir_rate = weir(&data, &expected);
    println!("weir (event_window, 2 workers, best of {RUNS}):      {:>8.0} k records/s", weir_rate / 1e3);
    let out = tempfile::NamedTempFile::new().unwrap();
    let (data_arg, out_arg) = (data.display().to_string(), out.path().display().to_string());
    if let Some((spark_rate, _)) = spark_script("event_window.py", &[&data_arg, &out_arg, &RECORDS.to_string()]) {
        let text = std::fs::read_to_string(out.path()).unwrap();
        let windows = text.lines().map(|l| {
            let mut f = l.split(',');
            let (key, start, count) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            (key.to_string(), start.parse().unwrap(), count.parse().unwrap())
        });
        let n = check("spark", windows, &expected);
        println!("spark wrote {n} windows, each with the right count");
        println!("spark structured streaming (withWatermark):        {:>8.0} k records/s", spark_rate / 1e3);
        println!("ratio weir / structured streaming:                {:>8.1}x", weir_rate / spark_rate);
    }
}
