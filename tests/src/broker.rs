//! What the broker connector tests share: a job copying a broker's input to its output through Weir,
//! input with 1 % malformed JSON, `kill -9` at random moments while messages are published, waiting
//! for the output before draining, and counting what came out against what went in.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::crash::{Rng, drain, kill, stderr, weir};

/// A job named `copy` reading source `events` (the TOML lines of its table, `kind` included) into sink
/// `out` (likewise), in batches of `interval`, checkpointed every `every` batches, with dead letters in
/// `dead.jsonl`.
pub fn copy_job(interval: &str, every: u64, source: &str, sink: &str) -> String {
    format!(
        "[job]\nname = \"copy\"\nbatch_interval = \"{interval}\"\nworkers = 2\n\n\
         [sources.events]\n{source}\n\n[sinks.out]\nfrom = \"events\"\n{sink}\n\n\
         [dead_letter]\npath = \"dead.jsonl\"\n\n[checkpoint]\ndir = \"checkpoints\"\nevery = {every}\n"
    )
}

/// 2000 JSON values `{"n":i}`; every 100th is cut short (1 % malformed).
pub fn some_malformed() -> Vec<String> {
    (0..2000).map(|i| if i % 100 == 7 { format!("{{\"n\": {i}") } else { format!("{{\"n\":{i}}}") }).collect()
}

/// Asserts that `out` holds every well-formed value of `values` once, and `dir`'s dead letters the
/// malformed ones, each with the JSON parser's reason.
pub fn assert_good_once_and_bad_dead(out: Vec<String>, values: &[String], dir: &Path) {
    let mut got = out;
    got.sort();
    let mut want: Vec<String> = values.iter().filter(|v| v.ends_with('}')).cloned().collect();
    want.sort();
    assert_eq!(got, want, "every good message once");
    let dead = crate::read_jsonl(&dir.join("dead.jsonl"));
    assert_eq!(dead.len(), values.len() - want.len(), "{dead:?}");
    for d in &dead {
        assert!(d["reason"].as_str().unwrap().contains("not a JSON value"), "{d}");
        assert!(d["input"].as_str().unwrap().starts_with("{\"n\": "), "{d}");
    }
}

/// Runs the job in `dir` `kills` times, each killed with SIGKILL at a seeded random moment, publishing
/// one slice of `values` during each run and the rest after; returns the log file the runs share.
pub fn kill_while_publishing(
    dir: &Path,
    kills: u64,
    seed: u64,
    values: &[String],
    mut publish: impl FnMut(&[String]),
) -> std::fs::File {
    let log = std::fs::File::create(dir.join("runs.log")).unwrap();
    let mut rng = Rng(seed | 1);
    let mut slices = values.chunks(values.len().div_ceil(kills as usize + 1));
    for _ in 0..kills {
        let child = weir(dir, &[]).stdout(Stdio::null()).stderr(log.try_clone().unwrap()).spawn().unwrap();
        if let Some(slice) = slices.next() {
            publish(slice);
        }
        std::thread::sleep(Duration::from_millis(300 + rng.below(1500)));
        kill(child);
    }
    slices.for_each(publish);
    log
}

/// Waits until `written` says the output is complete (or 90 s pass), then drains `child` and checks
/// it ended well (with the runs' log in the message when not).
pub fn drain_when(child: Child, dir: &Path, mut written: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !written() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = drain(child);
    let log = std::fs::read_to_string(dir.join("runs.log")).unwrap_or_default();
    assert!(out.status.success(), "weir failed: {}{log}", stderr(&out));
}

/// What came out against what went in.
#[derive(Debug)]
pub struct Copies {
    /// Values out more than once.
    pub twice: Vec<String>,
    /// Values never out.
    pub missing: Vec<String>,
}

impl Copies {
    /// Counts `out` against `values`, and prints the counts.
    pub fn of(out: &[String], values: &[String], kills: u64) -> Copies {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for v in out {
            *counts.entry(v.as_str()).or_default() += 1;
        }
        let twice = counts.iter().filter(|(_, n)| **n > 1).map(|(v, _)| v.to_string()).collect::<Vec<_>>();
        let missing = values.iter().filter(|v| !counts.contains_key(v.as_str())).cloned().collect::<Vec<_>>();
        println!("{kills} kills: {} out, {} twice, {} missing", out.len(), twice.len(), missing.len());
        Copies { twice, missing }
    }

    /// Asserts nothing is missing and nothing came out twice.
    pub fn assert_exactly_once(&self) {
        assert!(self.twice.is_empty(), "written more than once: {:?}", &self.twice[..self.twice.len().min(10)]);
        assert!(self.missing.is_empty(), "missing: {:?}", &self.missing[..self.missing.len().min(10)]);
    }
}

/// The offsets the newest checkpoint under `dir` holds for broker source `source`, by partition.
pub fn checkpointed(dir: &Path, source: &str) -> BTreeMap<i32, i64> {
    let (_, ck) = crate::crash::newest_checkpoint(dir);
    let path = ck.join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(weir::checkpoint::file::open_json(&path, &text).unwrap()).unwrap();
    let own = &manifest["offsets"][source]["own"];
    own.as_object().unwrap().iter().map(|(p, o)| (p.parse().unwrap(), o.as_i64().unwrap())).collect()
}
