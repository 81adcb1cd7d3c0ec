//! Crash recovery and exactly-once output, with real crashes: a job is killed with SIGKILL at seeded
//! random moments and restarted on its checkpoint directory until it finishes; its output must then equal
//! that of the same job run once without a crash — in PostgreSQL, in JSON-lines files and in per-batch
//! files, for a running count (`update_state_by_key`), an incremental window and `map_with_state` with
//! timeouts. `WEIR_CRASH_KILLS` (default 20) and `WEIR_CRASH_SEED` change the run; `scripts/soak.sh`
//! runs hundreds of kills.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use weir_tests::crash::{PG_URL, Rng, env_or, newest_checkpoint, psql, run_with_kills, weir};
use weir_tests::plugin;
use weir_tests::spec::{running_counts, word_pairs};

/// `batches` script lines of three lines each, from a vocabulary of 40 words; some words are
/// capitalised (the upgraded tokenizer lowercases them).
fn script(batches: usize, seed: u64) -> String {
    let mut rng = Rng(seed | 1);
    let mut out = String::new();
    for _ in 0..batches {
        let lines: Vec<String> = (0..3)
            .map(|_| {
                let words: Vec<String> = (0..5)
                    .map(|_| {
                        let w = format!("w{}", rng.below(40));
                        if rng.below(10) == 0 { w.to_uppercase() } else { w }
                    })
                    .collect();
                words.join(" ")
            })
            .collect();
        out.push_str(&serde_json::to_string(&lines).unwrap());
        out.push('\n');
    }
    out
}

/// The job of the crash test: every stateful kind, writing to PostgreSQL and to files.
fn crash_spec(job: &str, table: &str, pace: &str) -> String {
    format!(
        r#"
[job]
name = "{job}"
batch_interval = "1s"
clock = "manual"
workers = 2

[sources.lines]
kind = "scripted"
path = "script.jsonl"
pace = "{pace}"
{pairs}{totals}
[streams.windowed]
op = "reduce_by_key"
from = "pairs"
reducer = "sum"
window = {{ length = "3s", slide = "2s" }}
inverse = true

[streams.sessions]
op = "map_with_state"
from = "pairs"
function = "sum"
timeout = "3s"

[sinks.db]
kind = "postgres"
from = "totals"
url = "{PG_URL}"
table = "{table}"

[sinks.totals_file]
kind = "jsonl"
from = "totals"
path = "totals.jsonl"

[sinks.windowed_file]
kind = "jsonl"
from = "windowed"
path = "windowed.jsonl"

[sinks.sessions_file]
kind = "jsonl"
from = "sessions"
path = "sessions.jsonl"

[sinks.per_batch]
kind = "files"
from = "windowed"
prefix = "out/windowed"
suffix = "txt"

[checkpoint]
dir = "checkpoints"
every = 2
"#,
        pairs = word_pairs("lines", Some(&plugin("tokenize"))),
        totals = running_counts("totals", ""),
    )
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
}

fn listing(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    files.sort();
    files
}

fn setup(job: &str, table: &str, pace: &str, script_text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("job.toml"), crash_spec(job, table, pace)).unwrap();
    std::fs::write(dir.path().join("script.jsonl"), script_text).unwrap();
    psql(&format!("DROP TABLE IF EXISTS {table}"));
    psql(
        "CREATE TABLE IF NOT EXISTS weir_sink_commits (job TEXT NOT NULL, sink TEXT NOT NULL, batch_time BIGINT NOT NULL, PRIMARY KEY (job, sink, batch_time))",
    );
    psql(&format!("DELETE FROM weir_sink_commits WHERE job = '{job}'"));
    dir
}

#[test]
fn a_job_killed_at_random_moments_writes_exactly_what_an_uncrashed_run_writes() {
    let (kills, seed) = (env_or("WEIR_CRASH_KILLS", 20), env_or("WEIR_CRASH_SEED", 20_261_121));
    // Long enough that every kill lands on a running job: each run gets at most ~35 batches done.
    let batches = (kills as usize * 35).max(200) + 100;
    let text = script(batches, seed);
    let pid = std::process::id();
    let (ref_table, crash_table) = (format!("weir_ref_{pid}"), format!("weir_crash_{pid}"));
    let reference = setup(&format!("ref-{pid}"), &ref_table, "0ms", &text);
    let status = weir(reference.path(), &[]).stderr(Stdio::null()).status().unwrap();
    assert!(status.success());
    let crashed = setup(&format!("crash-{pid}"), &crash_table, "12ms", &text);
    let landed = run_with_kills(crashed.path(), kills, seed, 150..550);
    assert_eq!(landed, kills, "the job finished before every kill landed; make the script longer");

    let rows = |t: &str| psql(&format!("SELECT batch_time, key, value::text FROM {t} ORDER BY batch_time, key"));
    let (want, got) = (rows(&ref_table), rows(&crash_table));
    assert!(want.len() > batches, "the reference wrote too few rows: {}", want.len());
    assert!(want == got, "PostgreSQL: {} rows expected, {} written after {kills} kills", want.len(), got.len());
    for file in ["totals.jsonl", "windowed.jsonl", "sessions.jsonl"] {
        let (want, got) = (read(reference.path(), file), read(crashed.path(), file));
        assert!(want == got, "{file} differs after {kills} kills (seed {seed})");
    }
    assert_eq!(listing(&reference.path().join("out")), listing(&crashed.path().join("out")));
    let timeouts = read(crashed.path(), "sessions.jsonl").matches("timed_out").count();
    assert!(timeouts > 0, "the mapWithState job saw no timeout; the test would not cover them");
    psql(&format!("DROP TABLE IF EXISTS {ref_table}; DROP TABLE IF EXISTS {crash_table}"));
}

#[test]
fn sigterm_writes_a_final_checkpoint_and_the_restart_loses_nothing() {
    let text = script(60, 7);
    let pid = std::process::id();
    let (ref_table, table) = (format!("weir_gref_{pid}"), format!("weir_graceful_{pid}"));
    let reference = setup(&format!("gref-{pid}"), &ref_table, "0ms", &text);
    assert!(weir(reference.path(), &[]).stderr(Stdio::null()).status().unwrap().success());
    let dir = setup(&format!("graceful-{pid}"), &table, "20ms", &text);
    let child = weir(dir.path(), &[]).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait_with_output().unwrap().status;
    assert!(status.success(), "a drained job exits 0, not {status}");
    let written = weir_tests::read_jsonl(&dir.path().join("totals.jsonl"));
    let last = written.last().expect("some batches before SIGTERM")["time"].as_u64().unwrap();
    assert!(last < 60_000, "SIGTERM came after the end of the script");
    // The final checkpoint is at the last batch, even off the `every = 2` period.
    assert_eq!(newest_checkpoint(dir.path()).0, last);
    assert!(weir(dir.path(), &[]).stderr(Stdio::null()).status().unwrap().success());
    for file in ["totals.jsonl", "windowed.jsonl", "sessions.jsonl"] {
        assert!(read(reference.path(), file) == read(dir.path(), file), "{file} differs after a graceful stop");
    }
    psql(&format!("DROP TABLE IF EXISTS {ref_table}; DROP TABLE IF EXISTS {table}"));
}

#[test]
fn socket_data_in_the_write_ahead_log_survives_a_kill() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        r#"
[job]
name = "wal"
batch_interval = "200ms"

[sources.lines]
kind = "socket"
port = {port}
{pairs}{counts}
[streams.per_batch]
op = "reduce_by_key"
from = "pairs"
reducer = "sum"

[sinks.out]
kind = "jsonl"
from = "counts"
path = "counts.jsonl"

[sinks.batches]
kind = "jsonl"
from = "per_batch"
path = "batches.jsonl"

[checkpoint]
dir = "checkpoints"
every = 5
"#,
        pairs = word_pairs("lines", None),
        counts = running_counts("counts", ""),
    );
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let mut child = weir(dir.path(), &[]).stderr(Stdio::null()).spawn().unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    let lines = 20_000;
    std::io::Write::write_all(&mut peer, "alpha beta\n".repeat(lines).as_bytes()).unwrap();
    // Kill as soon as everything is in the log: most of it is in no checkpoint yet.
    let logged = |d: &Path| -> u64 {
        let wal = d.join("checkpoints/wal/lines");
        std::fs::read_dir(wal).map_or(0, |r| r.map(|e| e.unwrap().metadata().unwrap().len()).sum())
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while logged(dir.path()) < 11 * lines as u64 {
        assert!(Instant::now() < deadline, "the socket data never reached the log");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(peer);
    // The restart replays the log; the feeder does not send again.
    let out = weir(dir.path(), &["--duration", "1500ms"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = weir_tests::read_jsonl(&dir.path().join("counts.jsonl"));
    let last = &written.last().unwrap()["records"];
    assert_eq!(
        last,
        &serde_json::json!([{"key": "alpha", "value": lines}, {"key": "beta", "value": lines}]),
        "every logged line counted once"
    );
    // Batches written before the kill but after the last checkpoint are cut again exactly as before.
    let batches = weir_tests::read_jsonl(&dir.path().join("batches.jsonl"));
    let times: Vec<u64> = batches.iter().map(|b| b["time"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "batch times repeat: {times:?}");
    let alphas: u64 =
        batches.iter().flat_map(|b| b["records"].as_array().unwrap()).map(|r| r["value"].as_u64().unwrap()).sum();
    assert_eq!(alphas, 2 * lines as u64, "over all batches, each logged line once");
}
