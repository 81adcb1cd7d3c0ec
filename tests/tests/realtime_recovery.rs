//! Exactly-once output with the realtime clock, with real crashes. Which lines make up a realtime batch
//! depends on when they arrived, so a resumed job must cut the batches it had already cut (and maybe
//! written) after its last checkpoint again at the same offsets, from the batch log. A generator-fed
//! word count checkpointing every 5 batches of 100 ms is killed with SIGKILL at seeded random moments
//! and restarted; at the end every sink must hold each batch once and every generated word exactly once.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use weir_tests::crash::{PG_URL, env_or, psql, rising_times, run_killed_recutting, weir};
use weir_tests::spec::{running_counts, word_pairs};
use weir_tests::{plugin, read_jsonl};

const LINES: u64 = 60_000;

/// The word count; `clock` and `rate` pick a realtime run or the manual reference; `sinks` adds sinks.
fn spec(job: &str, clock: &str, rate: u64, sinks: &str) -> String {
    format!(
        r#"
[job]
name = "{job}"
batch_interval = "100ms"
clock = "{clock}"
workers = 2

[sources.lines]
kind = "generator"
rate = {rate}
limit = {LINES}
words_per_line = 4
vocabulary = 50
seed = 7
{pairs}
[streams.counts]
op = "reduce_by_key"
from = "pairs"
reducer = "sum"
{totals}
[sinks.totals_file]
kind = "jsonl"
from = "totals"
path = "totals.jsonl"
{sinks}
[checkpoint]
dir = "checkpoints"
every = 5
"#,
        pairs = word_pairs("lines", Some(&plugin("tokenize"))),
        totals = running_counts("totals", ""),
    )
}

/// Word → count from a JSON `[[word, count], ...]` array.
fn counts(records: &serde_json::Value) -> BTreeMap<String, u64> {
    let rows = records.as_array().expect("records");
    rows.iter().map(|r| (r["key"].as_str().unwrap().to_string(), r["value"].as_u64().unwrap())).collect()
}

fn setup(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.toml"), text).unwrap();
    dir
}

fn final_totals(dir: &Path) -> BTreeMap<String, u64> {
    counts(&read_jsonl(&dir.join("totals.jsonl")).last().expect("a batch")["records"])
}

#[test]
fn a_realtime_job_killed_at_random_moments_writes_every_batch_once_and_every_word_once() {
    let (kills, seed) = (env_or("WEIR_CRASH_KILLS", 20).div_ceil(2), env_or("WEIR_CRASH_SEED", 20_261_121));
    // The reference: the same lines, all in one manual batch.
    let reference = setup(&spec("rt-ref", "manual", LINES, ""));
    assert!(weir(reference.path(), &[]).stderr(Stdio::null()).status().unwrap().success());
    let want = final_totals(reference.path());
    assert_eq!(want.values().sum::<u64>(), LINES * 4);

    let (job, table) = (format!("rt-crash-{}", std::process::id()), format!("weir_rt_{}", std::process::id()));
    psql(&format!("DROP TABLE IF EXISTS {table}"));
    let sinks = format!(
        "[sinks.db]\nkind = \"postgres\"\nfrom = \"counts\"\nurl = \"{PG_URL}\"\ntable = \"{table}\"\n\n\
         [sinks.counts_file]\nkind = \"jsonl\"\nfrom = \"counts\"\npath = \"counts.jsonl\"\n"
    );
    // 5,000 lines a second: 12 s of input, longer than all the runs cut short by kills.
    let crashed = setup(&spec(&job, "realtime", 5_000, &sinks));
    run_killed_recutting(crashed.path(), kills, seed);

    // State: exact.
    assert_eq!(final_totals(crashed.path()), want, "running totals after {kills} kills (seed {seed})");
    // The per-batch file: each batch once, in order, and every word counted once over all batches.
    let batches = read_jsonl(&crashed.path().join("counts.jsonl"));
    rising_times(&batches);
    let mut summed: BTreeMap<String, u64> = BTreeMap::new();
    let mut file_rows = Vec::new();
    for b in &batches {
        for (word, n) in counts(&b["records"]) {
            *summed.entry(word.clone()).or_default() += n;
            file_rows.push(format!("{}|{word}|{n}", b["time"]));
        }
    }
    assert_eq!(summed, want, "per-batch counts in the file do not add up to the input (seed {seed})");
    // PostgreSQL holds the very same batches as the file.
    let mut db_rows = psql(&format!("SELECT batch_time, key, value::text FROM {table}"));
    db_rows.sort();
    file_rows.sort();
    assert!(db_rows == file_rows, "PostgreSQL: {} rows, the file: {} (seed {seed})", db_rows.len(), file_rows.len());
    psql(&format!("DROP TABLE IF EXISTS {table}; DELETE FROM weir_sink_commits WHERE job = '{job}'"));
}

/// Writes `files` files into `dir` by atomic rename, one every 30 ms; every 10th is large enough to be
/// handed over in several chunks, so batches can end inside a file. Returns the words written.
fn feed_files(dir: &Path, files: usize) -> BTreeMap<String, u64> {
    let mut words = BTreeMap::new();
    for i in 0..files {
        let lines = if i % 10 == 3 { 20_000 } else { 300 };
        let mut text = String::new();
        for l in 0..lines {
            let (a, b) = (format!("d{}", (i + l) % 17), format!("e{}", l % 5));
            text.push_str(&format!("{a} {b}\n"));
            *words.entry(a).or_default() += 1;
            *words.entry(b).or_default() += 1;
        }
        let tmp = dir.join(format!(".f{i:04}"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, dir.join(format!("f{i:04}.txt"))).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    words
}

#[test]
fn a_realtime_directory_job_killed_while_files_arrive_reads_each_line_once() {
    let seed = env_or("WEIR_CRASH_SEED", 20_261_121);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    // There before the first start: skipped, also when the job restarts before its first checkpoint.
    std::fs::write(input.join("old.txt"), "old old old\n").unwrap();
    let text = spec("rt-dir", "realtime", 1, "")
        .replace("kind = \"generator\"", "kind = \"directory\"\npath = \"in\"")
        .replace("rate = 1\n", "")
        .replace(&format!("limit = {LINES}\nwords_per_line = 4\nvocabulary = 50\nseed = 7\n"), "")
        .replace(
            "[sinks.totals_file]",
            "[sinks.counts_file]\nkind = \"jsonl\"\nfrom = \"counts\"\npath = \"counts.jsonl\"\n\n[sinks.totals_file]",
        );
    std::fs::write(dir.path().join("job.toml"), text).unwrap();
    let feeder = {
        let input = input.clone();
        // Files start to arrive once the first run has surely listed the directory.
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(1500));
            feed_files(&input, 150)
        })
    };
    let mut rng = weir_tests::crash::Rng(seed | 1);
    let log = std::fs::File::create(dir.path().join("runs.log")).unwrap();
    for _ in 0..6 {
        let mut child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(log.try_clone().unwrap()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300 + rng.below(600)));
        assert!(child.try_wait().unwrap().is_none(), "the job stopped on its own; see runs.log");
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let want = feeder.join().unwrap();
    let last = weir(dir.path(), &["--duration", "2s"]).stderr(log.try_clone().unwrap()).status().unwrap();
    assert!(last.success(), "the last run failed; see runs.log");
    let log = std::fs::read_to_string(dir.path().join("runs.log")).unwrap();
    assert!(!log.contains("cannot cut the logged batch again"), "a logged batch was not cut exactly");

    let warnings: Vec<&str> =
        log.lines().filter(|l| l.contains("WARN") || l.contains("resuming") || l.contains("cutting")).collect();
    assert_eq!(final_totals(dir.path()), want, "running totals (seed {seed}); {warnings:#?}");
    let batches = read_jsonl(&dir.path().join("counts.jsonl"));
    rising_times(&batches);
    let mut summed: BTreeMap<String, u64> = BTreeMap::new();
    for b in &batches {
        counts(&b["records"]).into_iter().for_each(|(w, n)| *summed.entry(w).or_default() += n);
    }
    assert_eq!(summed, want, "per-batch counts do not add up to the files (seed {seed})");
}
