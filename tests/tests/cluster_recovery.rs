//! Checkpoints of one job across processes: a cluster killed with SIGKILL at random moments and
//! restarted by `weir cluster run --restarts` writes every batch into PostgreSQL exactly once, and a job
//! stopped and started again on 2, then 3, then 1 process keeps its running counts exactly. Both are
//! compared with the same job run once in one process. `WEIR_CLUSTER_KILLS` (default 20) and
//! `WEIR_CRASH_SEED` change the kill run.

use std::path::Path;
use std::process::{Command, Stdio};

use weir_tests::crash::{PG_URL, Rng, env_or, kill_one_of_fresh, psql};
use weir_tests::{Killed, read_jsonl, weir_bin};

/// `batches` scripted batches of 20 lines of 6 words from a vocabulary of 300.
fn script(batches: usize, seed: u64) -> String {
    let mut rng = Rng(seed | 1);
    let mut out = String::new();
    for _ in 0..batches {
        let lines: Vec<String> =
            (0..20).map(|_| (0..6).map(|_| format!("w{}", rng.below(300))).collect::<Vec<_>>().join(" ")).collect();
        out.push_str(&serde_json::to_string(&lines).unwrap());
        out.push('\n');
    }
    out
}

/// A running word count with checkpoints every 2 batches, into `totals.jsonl` and, given a table, into
/// PostgreSQL.
fn spec(job: &str, pace: &str, table: Option<&str>) -> String {
    let db = table.map_or_else(String::new, |t| {
        format!("\n[sinks.db]\nkind = \"postgres\"\nfrom = \"totals\"\nurl = \"{PG_URL}\"\ntable = \"{t}\"\n")
    });
    format!(
        "[job]\nname = \"{job}\"\nbatch_interval = \"1s\"\nclock = \"manual\"\nworkers = 1\n\n\
         [sources.lines]\nkind = \"scripted\"\npath = \"script.jsonl\"\npace = \"{pace}\"\n{}{}\n\
         [sinks.totals_file]\nkind = \"jsonl\"\nfrom = \"totals\"\npath = \"totals.jsonl\"\n{db}\n\
         [checkpoint]\ndir = \"checkpoints\"\nevery = 2\n",
        weir_tests::spec::word_pairs("lines", None),
        weir_tests::spec::running_counts("totals", ""),
    )
}

fn setup(spec: &str, script: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    std::fs::write(dir.path().join("script.jsonl"), script).unwrap();
    dir
}

/// `weir ARGS` in `dir`; fails the test unless it succeeds.
fn weir_ok(dir: &Path, args: &[&str]) {
    let out = Command::new(weir_bin()).args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "weir {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The newest committed manifest under `dir/checkpoints`, as JSON.
fn newest_manifest(dir: &Path) -> serde_json::Value {
    let mut committed: Vec<_> = std::fs::read_dir(dir.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path().join("manifest.json"))
        .filter(|m| m.exists())
        .collect();
    committed.sort();
    let text = std::fs::read_to_string(committed.last().expect("a committed checkpoint")).unwrap();
    serde_json::from_str(&text[..text.rfind("\n#crc32=").unwrap()]).unwrap()
}

#[test]
fn rescaling_from_2_to_3_to_1_processes_keeps_the_running_counts() {
    let text = script(36, 11);
    let reference = setup(&spec("rescale", "0ms", None), &text);
    weir_ok(reference.path(), &["run", "job.toml"]);
    let expected = read_jsonl(&reference.path().join("totals.jsonl"));
    assert_eq!(expected.len(), 36);

    let dir = setup(&spec("rescale", "0ms", None), &text);
    for (processes, workers) in [(2, 2), (3, 3)] {
        weir_ok(dir.path(), &["cluster", "run", "job.toml", "--processes", &processes.to_string(), "--batches", "12"]);
        let m = newest_manifest(dir.path());
        assert_eq!(m["workers"], workers, "the checkpoint after {processes} processes: {m}");
        // Every process's worker wrote its part of the running counts.
        let writers: Vec<u64> = m["parts"].as_array().unwrap().iter().map(|p| p["worker"].as_u64().unwrap()).collect();
        assert_eq!(writers, (0..workers).collect::<Vec<u64>>(), "{m}");
    }
    weir_ok(dir.path(), &["run", "job.toml"]);
    assert_eq!(newest_manifest(dir.path())["workers"], 1);
    let got = read_jsonl(&dir.path().join("totals.jsonl"));
    assert_eq!(got.len(), 36, "every batch once, across three starts");
    assert!(got == expected, "2 → 3 → 1 processes: the running counts differ from one process's");
}

#[test]
fn a_cluster_killed_at_random_moments_writes_every_batch_once_into_postgresql() {
    let (kills, seed) = (env_or("WEIR_CLUSTER_KILLS", 20), env_or("WEIR_CRASH_SEED", 20_261_207));
    let batches = kills as usize * 40 + 200;
    let text = script(batches, seed);
    let pid = std::process::id();
    let (ref_table, crash_table) = (format!("weir_cref_{pid}"), format!("weir_ccrash_{pid}"));
    for (job, table) in [(format!("cref-{pid}"), &ref_table), (format!("ccrash-{pid}"), &crash_table)] {
        psql(&format!("DROP TABLE IF EXISTS {table}"));
        psql(
            "CREATE TABLE IF NOT EXISTS weir_sink_commits (job TEXT NOT NULL, sink TEXT NOT NULL, batch_time BIGINT NOT NULL, PRIMARY KEY (job, sink, batch_time))",
        );
        psql(&format!("DELETE FROM weir_sink_commits WHERE job = '{job}'"));
    }
    let reference = setup(&spec(&format!("cref-{pid}"), "0ms", Some(&ref_table)), &text);
    weir_ok(reference.path(), &["run", "job.toml"]);

    let dir = setup(&spec(&format!("ccrash-{pid}"), "10ms", Some(&crash_table)), &text);
    let log = std::fs::File::create(dir.path().join("cluster.log")).unwrap();
    let launcher = Command::new(weir_bin())
        .args(["cluster", "run", "job.toml", "--processes", "2", "--restarts", &(kills + 5).to_string()])
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .stderr(log)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut launcher = Killed(launcher);
    let see_log = || format!("see {}", dir.path().join("cluster.log").display());
    let (mut rng, mut seen) = (Rng(seed | 1), Vec::new());
    for _ in 0..kills {
        kill_one_of_fresh(&mut launcher.0, 2, &mut seen, &mut rng, 200..1000, &dir.path().join("cluster.log"));
    }
    let status = launcher.0.wait().unwrap();
    assert!(status.success(), "the last run failed: {status}; {}", see_log());
    let said = std::fs::read_to_string(dir.path().join("cluster.log")).unwrap();
    let restarts = said.matches("weir cluster: restarting every process").count();
    assert_eq!(restarts as u64, kills, "each kill restarts the cluster once; {}", see_log());
    let resumed = said.matches("resuming from the checkpoint").count();
    assert!(resumed as u64 >= kills, "only {resumed} processes resumed from a checkpoint; {}", see_log());

    let rows = |t: &str| psql(&format!("SELECT batch_time, key, value::text FROM {t} ORDER BY batch_time, key"));
    let (want, got) = (rows(&ref_table), rows(&crash_table));
    assert!(want.len() > batches, "the reference wrote too few rows: {}", want.len());
    assert!(want == got, "PostgreSQL: {} rows expected, {} written after {kills} kills", want.len(), got.len());
    let (want, got) =
        (read_jsonl(&reference.path().join("totals.jsonl")), read_jsonl(&dir.path().join("totals.jsonl")));
    assert_eq!(got.len(), batches, "every batch once in totals.jsonl");
    assert!(want == got, "totals.jsonl differs after {kills} kills (seed {seed})");
    psql(&format!("DROP TABLE IF EXISTS {ref_table}; DROP TABLE IF EXISTS {crash_table}"));
}

/// `weir state dump --stream counts` of the checkpoints in `dir`.
fn dump(dir: &Path) -> String {
    let out = Command::new(weir_bin())
        .args(["state", "dump", "--stream", "totals", "checkpoints"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn state_that_reaches_no_sink_is_committed_only_with_every_process_part() {
    // The running counts feed no sink: the sinks confirm each batch without waiting for them, so process
    // 0 commits only once it has found process 1's list of parts.
    let text = script(10, 5);
    let no_sink =
        |s: String| s.replace("from = \"totals\"\npath = \"totals.jsonl\"", "from = \"words\"\npath = \"words.jsonl\"");
    let reference = setup(&no_sink(spec("nosink", "0ms", None)), &text);
    weir_ok(reference.path(), &["run", "job.toml"]);
    let dir = setup(&no_sink(spec("nosink", "0ms", None)), &text);
    weir_ok(dir.path(), &["cluster", "run", "job.toml", "--processes", "2"]);
    let m = newest_manifest(dir.path());
    assert_eq!(m["time"], 10_000, "{m}");
    let writers: Vec<u64> = m["parts"].as_array().unwrap().iter().map(|p| p["worker"].as_u64().unwrap()).collect();
    assert_eq!(writers, [0, 1], "{m}");
    let want = dump(reference.path());
    assert!(want.lines().count() > 250, "the reference holds too few keys: {want}");
    assert!(dump(dir.path()) == want, "the 2-process checkpoint's counts differ from one process's");
}
