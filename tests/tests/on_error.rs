//! What a job does with the records its streams refuse: `on_error` per stream (dead-letter, skip or
//! fail) and `[dead_letter] max` / `max_fraction` for the job, with the end-of-run summary and the exit code.

use std::path::Path;
use std::process::{Command, Output};

use weir_tests::{read_jsonl, weir_bin};

/// The input of [`run`]: three batches, two text records among numbers.
const INPUT: &str = "[\"a\", 2, 3]\n[5, \"b\"]\n[7]\n";

/// A filter that refuses text records (they cannot be compared with 1), over the batches of `input`.
fn run_on(input: &str, stream_extra: &str, dead_letter_extra: &str) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.jsonl"), input).unwrap();
    let spec = format!(
        r#"
[job]
name = "oe"
batch_interval = "1s"
clock = "manual"

[sources.in]
kind = "scripted"
path = "in.jsonl"

[streams.big]
op = "filter"
from = "in"
where = "value > 1"
{stream_extra}

[sinks.out]
kind = "jsonl"
from = "big"
path = "out.jsonl"

[dead_letter]
path = "dead.jsonl"
{dead_letter_extra}
"#
    );
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let out = Command::new(weir_bin()).args(["run", "job.toml"]).current_dir(dir.path()).output().unwrap();
    (dir, out)
}

fn run(stream_extra: &str, dead_letter_extra: &str) -> (tempfile::TempDir, Output) {
    run_on(INPUT, stream_extra, dead_letter_extra)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn dead(dir: &Path) -> Vec<String> {
    read_jsonl(&dir.join("dead.jsonl")).iter().map(|d| d["record"].as_str().unwrap().to_string()).collect()
}

#[test]
fn by_default_refused_records_are_dead_lettered_summarised_and_the_run_succeeds() {
    let (dir, out) = run("", "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(dead(dir.path()), ["a", "b"]);
    let log = stderr(&out);
    assert!(log.contains("records refused") && log.contains("stream=big dead_lettered=2 skipped=0"), "{log}");
}

#[test]
fn skip_counts_refused_records_without_dead_letters() {
    let (dir, out) = run("on_error = \"skip\"", "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(dead(dir.path()), Vec::<String>::new());
    assert_eq!(read_jsonl(&dir.path().join("out.jsonl")).len(), 3, "every batch written");
    assert!(stderr(&out).contains("stream=big dead_lettered=0 skipped=2"), "{}", stderr(&out));
}

#[test]
fn fail_stops_the_job_with_exit_1_naming_the_stream_and_record() {
    // 500 batches: the batcher runs at most a few batches ahead of the workers, so the job must stop
    // long before its input ends.
    let input = format!("[\"a\", 2, 3]\n{}", "[7]\n".repeat(499));
    let (dir, out) = run_on(&input, "on_error = \"fail\"", "");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("error: stream `big` refused a record (on_error = \"fail\")"), "{}", stderr(&out));
    assert_eq!(dead(dir.path()), ["a"], "the record is still dead-lettered");
    let written = read_jsonl(&dir.path().join("out.jsonl")).len();
    assert!(written < 100, "the job stopped before its input ended, not after {written} batches");
}

#[test]
fn more_dead_letters_than_the_job_allows_fail_it() {
    let (_, out) = run("", "max = 1");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("2 records went to the dead letters, more than `[dead_letter] max` (1)"),
        "{}",
        stderr(&out)
    );
    let (_, out) = run("", "max = 2");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_larger_fraction_of_dead_letters_than_the_job_allows_fails_it() {
    // 200 batches of 10 numbers; every 10th batch also holds a text record, then batch 150 holds five.
    let batch = |i: usize| match i {
        150 => "[\"a\", \"b\", \"c\", \"d\", \"e\", 2, 3, 4, 5, 6]\n".to_string(),
        i if i % 10 == 9 => "[\"x\", 2, 3, 4, 5, 6, 7, 8, 9, 10]\n".to_string(),
        _ => "[2, 3, 4, 5, 6, 7, 8, 9, 10, 11]\n".to_string(),
    };
    let input: String = (0..200).map(batch).collect();
    // 1% of the input is refused up to batch 150, where it passes 1.2%.
    let (dir, out) = run_on(&input, "", "max_fraction = 0.012");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("more than `[dead_letter] max_fraction` (0.012)"), "{}", stderr(&out));
    let written = read_jsonl(&dir.path().join("out.jsonl")).len();
    assert!((150..200).contains(&written), "stopped near batch 150, not after {written}");
    let (_, out) = run_on(&input, "", "max_fraction = 0.02");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (_, out) = run_on(&input, "", "max_fraction = 1.5");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("`dead_letter.max_fraction`"), "{}", stderr(&out));
}

#[test]
fn an_unknown_policy_is_refused_naming_the_field() {
    let (_, out) = run("on_error = \"explode\"", "");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`streams.big.on_error`") && stderr(&out).contains("unknown variant `explode`"),
        "{}",
        stderr(&out)
    );
}
