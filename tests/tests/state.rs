//! Keyed state end to end through the `weir` binary: state outlives the job in its state directory and
//! the next run continues it (loading the initial state only once), `weir state dump` prints it, a bad
//! initial-state file is refused naming its line, and 5 M distinct keys stay under a memory budget.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use weir_tests::spec::{running_counts, word_pairs};
use weir_tests::{read_jsonl, weir_bin};

/// The running word count, with its state in `state/` and an initial state.
fn running_spec() -> String {
    format!(
        r#"
[job]
name = "running"
batch_interval = "1s"
clock = "manual"

[state]
dir = "state"

[sources.lines]
kind = "scripted"
path = "input.jsonl"
{pairs}{counts}
[sinks.out]
kind = "jsonl"
from = "counts"
path = "out.jsonl"
"#,
        pairs = word_pairs("lines", None),
        counts = running_counts("counts", "initial_state = \"init.jsonl\""),
    )
}

fn weir(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(weir_bin()).args(args).current_dir(dir).output().unwrap()
}

/// A folder holding the running job with this initial state and input.
fn running_job(init: &str, input: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.toml"), running_spec()).unwrap();
    std::fs::write(dir.path().join("init.jsonl"), init).unwrap();
    std::fs::write(dir.path().join("input.jsonl"), input).unwrap();
    dir
}

#[test]
fn state_survives_the_job_and_the_next_run_continues_it() {
    let dir = running_job("[\"a\", 10]\n", "[\"a b\"]\n[\"b\"]\n");
    let first = weir(dir.path(), &["run", "job.toml"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let out = read_jsonl(&dir.path().join("out.jsonl"));
    assert_eq!(
        out.last().unwrap()["records"],
        serde_json::json!([{"key": "a", "value": 11}, {"key": "b", "value": 2}])
    );

    // The second run starts from the stored state; the initial state is not loaded again.
    std::fs::write(dir.path().join("input.jsonl"), "[\"a c\"]\n").unwrap();
    let second = weir(dir.path(), &["run", "job.toml"]);
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    let out = read_jsonl(&dir.path().join("out.jsonl"));
    assert_eq!(
        out.last().unwrap()["records"],
        serde_json::json!([{"key": "a", "value": 12}, {"key": "b", "value": 2}, {"key": "c", "value": 1}])
    );

    let dump = weir(dir.path(), &["state", "dump", "state", "--stream", "counts"]);
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let mut lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&dump.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    lines.sort_by_key(|l| l["key"].as_str().unwrap().to_string());
    let pairs: Vec<_> = lines.iter().map(|l| (l["key"].clone(), l["value"].clone())).collect();
    assert_eq!(pairs, vec![("a".into(), 12.into()), ("b".into(), 2.into()), ("c".into(), 1.into())]);

    let missing = weir(dir.path(), &["state", "dump", "state", "--stream", "nope"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("streams with state: counts"));
}

#[test]
fn a_stream_behind_a_noop_sink_runs_and_keeps_its_state() {
    let dir = running_job("", "[\"a b a\"]\n[\"b\"]\n");
    let spec = running_spec()
        .replace("initial_state = \"init.jsonl\"\n", "")
        .replace("kind = \"jsonl\"\nfrom = \"counts\"\npath = \"out.jsonl\"", "kind = \"noop\"\nfrom = \"counts\"");
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let run = weir(dir.path(), &["run", "job.toml", "--workers", "2"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(!dir.path().join("out.jsonl").exists());
    let dump = weir(dir.path(), &["state", "dump", "state", "--stream", "counts"]);
    let mut got: Vec<String> = String::from_utf8_lossy(&dump.stdout).lines().map(String::from).collect();
    got.sort();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].contains("\"key\":\"a\"") && got[0].contains("\"value\":2"), "{got:?}");
    assert!(got[1].contains("\"key\":\"b\"") && got[1].contains("\"value\":2"), "{got:?}");
}

#[test]
fn a_bad_initial_state_file_is_refused_naming_its_line() {
    let dir = running_job("[\"a\", 1]\n{\"value\": 2}\n", "[\"a\"]\n");
    let out = weir(dir.path(), &["run", "job.toml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("init.jsonl:2:") && stderr.contains("[key, value]"), "{stderr}");
}

/// Peak resident memory of process `pid` so far, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Budget for the whole `weir` process holding 5 M keys of state with a 100 k-key cache per worker.
/// Measured ~740 MiB (debug build); without state the same job peaks at ~270 MiB.
const BUDGET_MIB: u64 = 1024;

#[test]
fn five_million_keys_stay_under_the_memory_budget() {
    let dir = tempfile::tempdir().unwrap();
    let spec = r#"
[job]
name = "five-million-keys"
batch_interval = "1s"
clock = "manual"
workers = 2

[state]
dir = "state"
cache = 100000

[sources.gen]
kind = "generator"
rate = 250000
words_per_line = 1
vocabulary = 5000000
sequential = true
limit = 5000000

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
path = "out.jsonl"
"#;
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let mut child = Command::new(weir_bin()).args(["run", "job.toml"]).current_dir(dir.path()).spawn().unwrap();
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        peak = peak.max(peak_rss_kib(child.id()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let peak_mib = peak / 1024;
    eprintln!("5 M keys: peak RSS {peak_mib} MiB (budget {BUDGET_MIB} MiB)");
    assert!(peak_mib > 0 && peak_mib < BUDGET_MIB, "peak RSS {peak_mib} MiB is over the {BUDGET_MIB} MiB budget");
    let counts: Vec<i64> =
        read_jsonl(&dir.path().join("out.jsonl")).iter().map(|b| b["records"][0].as_i64().unwrap()).collect();
    assert_eq!(counts, vec![250_000; 20], "every batch updates 250 k new keys");

    // Every key is in sled, though each worker's cache held at most 100 k of them.
    let dump = weir(dir.path(), &["state", "dump", "state", "--stream", "totals"]);
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let keys = dump.stdout.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(keys, 5_000_000);
}
