//! Helpers for the crash tests: seeded kill moments, running a job under repeated SIGKILLs, stopping one
//! with signals, the word-count jobs they run and their per-batch totals, PostgreSQL queries through
//! `psql`, and finding checkpoints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The PostgreSQL database the tests use.
pub const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// An environment variable as a number, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// xorshift64*: a seeded, reproducible sequence of kill moments.
pub struct Rng(pub u64);

impl Rng {
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Runs `sql` with `psql` and returns the rows, one line each (fields split by `|`).
pub fn psql(sql: &str) -> Vec<String> {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

/// `weir run job.toml <args>` in `dir`, logging at info.
pub fn weir(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(crate::weir_bin());
    c.current_dir(dir).arg("run").arg("job.toml").args(args).env("RUST_LOG", "info");
    c
}

/// Runs the job in `dir` until it finishes on its own, killing it with SIGKILL `kills` times first,
/// each time after a random moment in `after` (milliseconds from its start). Returns how many kills
/// landed on a running job. Every run's log goes to `runs.log` in `dir`.
pub fn run_with_kills(dir: &Path, kills: u64, seed: u64, after: std::ops::Range<u64>) -> u64 {
    let mut rng = Rng(seed | 1);
    let log = std::fs::File::create(dir.join("runs.log")).unwrap();
    let mut killed = 0;
    loop {
        let mut child = weir(dir, &[]).stdout(Stdio::null()).stderr(log.try_clone().unwrap()).spawn().unwrap();
        if killed == kills {
            let status = child.wait().unwrap();
            assert!(status.success(), "the last run failed: {status}; see {}", dir.join("runs.log").display());
            return killed;
        }
        let deadline = Instant::now() + Duration::from_millis(after.start + rng.below(after.end - after.start));
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "run failed: {status}; see {}", dir.join("runs.log").display());
                return killed;
            }
            if Instant::now() >= deadline {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                killed += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Runs the realtime job in `dir` under `kills` SIGKILLs (see [`run_with_kills`]), and checks that every
/// kill landed on a running job and that the restarts cut the batches logged before them again, exactly.
pub fn run_killed_recutting(dir: &Path, kills: u64, seed: u64) {
    let landed = run_with_kills(dir, kills, seed, 300..900);
    assert_eq!(landed, kills, "the job finished before every kill landed");
    let log = std::fs::read_to_string(dir.join("runs.log")).unwrap();
    assert!(log.contains("cutting the batches logged before the stop again"), "no restart had logged batches to cut");
    assert!(!log.contains("cannot cut the logged batch again"), "a logged batch was not cut exactly");
}

/// The batch times of a `jsonl` sink's lines, checked to rise: no batch twice, none out of order.
pub fn rising_times(batches: &[serde_json::Value]) -> Vec<u64> {
    let times: Vec<u64> = batches.iter().map(|b| b["time"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "batch times repeat or go back: {times:?}");
    times
}

/// The newest checkpoint directory under `<dir>/checkpoints`, with its batch time.
pub fn newest_checkpoint(dir: &Path) -> (u64, PathBuf) {
    let entries = std::fs::read_dir(dir.join("checkpoints")).unwrap().map(|e| e.unwrap().path());
    let found = entries.filter_map(|p| Some((p.file_name()?.to_str()?.strip_prefix("checkpoint-")?.parse().ok()?, p)));
    found.max().expect("a checkpoint")
}

/// A fresh folder holding `job.toml` with `spec`.
pub fn setup(spec: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    dir
}

/// What a finished `weir` wrote to stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Word → total over every batch a per-batch word count wrote to `file`; panics on a batch written twice.
pub fn totals(file: &Path) -> BTreeMap<String, u64> {
    let mut seen = std::collections::BTreeSet::new();
    let mut sum = BTreeMap::new();
    for batch in crate::read_jsonl(file) {
        assert!(seen.insert(batch["time"].as_u64().unwrap()), "batch {} written twice", batch["time"]);
        for r in batch["records"].as_array().unwrap() {
            *sum.entry(r["key"].as_str().unwrap().to_string()).or_default() += r["value"].as_u64().unwrap();
        }
    }
    sum
}

/// Kills `child` with SIGKILL and reaps it.
pub fn kill(mut child: Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// Sends SIGTERM (a drain) to `child` and waits for it. The signal goes once the process catches it: a
/// freshly built binary can take a while to load, and a SIGTERM before that is not a drain.
pub fn drain(child: Child) -> Output {
    let status = format!("/proc/{}/status", child.id());
    let catches_term = || {
        let text = std::fs::read_to_string(&status).unwrap_or_default();
        let mask = text.lines().find_map(|l| l.strip_prefix("SigCgt:")).map(str::trim).unwrap_or("0");
        u64::from_str_radix(mask, 16).is_ok_and(|m| m & (1 << 14) != 0)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !catches_term() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    child.wait_with_output().unwrap()
}

/// A realtime word count (batches of 100 ms) of source `lines`, given as the TOML of its table, writing
/// each batch's counts to `counts.jsonl`, checkpointed every `every` batches.
pub fn word_count(name: &str, source: &str, every: u64) -> String {
    format!(
        r#"
[job]
name = "{name}"
batch_interval = "100ms"

[sources.lines]
{source}
{pairs}
[streams.counts]
op = "reduce_by_key"
from = "pairs"
reducer = "sum"

[sinks.out]
kind = "jsonl"
from = "counts"
path = "counts.jsonl"

[checkpoint]
dir = "checkpoints"
every = {every}
"#,
        pairs = crate::spec::word_pairs("lines", None)
    )
}

/// The word count of 20,000 generated lines, checkpointed every 3 batches.
pub fn generated(name: &str) -> String {
    let source = "kind = \"generator\"\nrate = 10000\nlimit = 20000\nwords_per_line = 2\nvocabulary = 20\nseed = 3";
    word_count(name, source, 3)
}

/// The children of process `parent` now.
pub fn children(parent: u32) -> Vec<u32> {
    let out = Command::new("pgrep").args(["-P", &parent.to_string()]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// `weir cluster run job.toml --processes 2 EXTRA` in `dir`, logging at `info` into `dir/runs.log`.
pub fn cluster_of_two(dir: &Path, extra: &[&str]) -> Child {
    let log = std::fs::File::create(dir.join("runs.log")).unwrap();
    Command::new(crate::weir_bin())
        .args(["cluster", "run", "job.toml", "--processes", "2"])
        .args(extra)
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// For a cluster launcher restarting its processes: waits (60 s at most) until `launcher` has `n`
/// children of which none is in `seen`, lets them run a random moment in `after` (ms), then kills one
/// of them at random with SIGKILL and adds them all to `seen`. Fails the test, naming `log`, when the
/// launcher ends or no fresh set of processes comes.
pub fn kill_one_of_fresh(
    launcher: &mut Child,
    n: usize,
    seen: &mut Vec<u32>,
    rng: &mut Rng,
    after: std::ops::Range<u64>,
    log: &Path,
) {
    let until = Instant::now() + Duration::from_secs(60);
    let fresh = loop {
        assert!(launcher.try_wait().unwrap().is_none(), "the cluster ended; see {}", log.display());
        let now = children(launcher.id());
        if now.len() == n && now.iter().all(|p| !seen.contains(p)) {
            break now;
        }
        assert!(Instant::now() < until, "no fresh set of {n} processes; see {}", log.display());
        std::thread::sleep(Duration::from_millis(10));
    };
    std::thread::sleep(Duration::from_millis(after.start + rng.below(after.end - after.start)));
    let victim = fresh[rng.below(n as u64) as usize];
    assert!(Command::new("kill").args(["-KILL", &victim.to_string()]).status().unwrap().success());
    seen.extend(fresh);
}
