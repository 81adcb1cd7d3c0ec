//! The Kafka source and sink against a real Kafka-protocol broker (Tansu, on loopback, memory storage):
//! every partition read, bad messages to the dead letters, offsets committed to the group only after
//! Weir's checkpoint holds them, and — with `kill -9` at random moments while messages keep arriving —
//! every published message in the output topic exactly once. Tansu keeps topics in memory, so these
//! tests restart Weir, never the broker.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use weir_tests::crash::{Rng, drain, env_or, kill, newest_checkpoint, setup, weir};
use weir_tests::tansu::{Read, Tansu};

/// A job copying topic `in` to topic `out` through Weir, in batches of `interval`.
fn copy_job(brokers: &str, interval: &str, every: u64, format: &str) -> String {
    format!(
        r#"
[job]
name = "copy"
batch_interval = "{interval}"
workers = 2

[sources.events]
kind = "kafka"
brokers = "{brokers}"
topic = "in"
format = "{format}"

[sinks.out]
kind = "kafka"
from = "events"
brokers = "{brokers}"
topic = "out"

[dead_letter]
path = "dead.jsonl"

[checkpoint]
dir = "checkpoints"
every = {every}
"#
    )
}

/// Waits until topic `out` holds at least `n` messages (or 90 s pass), then drains `child`.
fn drain_when_written(tansu: &Tansu, child: Child, n: usize, dir: &Path) -> Vec<Read> {
    let deadline = Instant::now() + Duration::from_secs(90);
    while tansu.read_all("out").len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = drain(child);
    let log = std::fs::read_to_string(dir.join("runs.log")).unwrap_or_default();
    assert!(out.status.success(), "weir failed: {}{log}", weir_tests::crash::stderr(&out));
    tansu.read_all("out")
}

/// The offsets the newest checkpoint holds for source `events`.
fn checkpointed(dir: &Path) -> BTreeMap<i32, i64> {
    let (_, ck) = newest_checkpoint(dir);
    let path = ck.join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(weir::checkpoint::file::open_json(&path, &text).unwrap()).unwrap();
    let own = &manifest["offsets"]["events"]["own"];
    own.as_object().unwrap().iter().map(|(p, o)| (p.parse().unwrap(), o.as_i64().unwrap())).collect()
}

#[test]
fn every_partition_is_read_bad_messages_are_dead_letters_and_offsets_commit_after_the_checkpoint() {
    let tansu = Tansu::start();
    tansu.create_topic("in", 3);
    tansu.create_topic("out", 2);
    // 2000 JSON values; every 100th is cut short: 1 % malformed.
    let values: Vec<String> =
        (0..2000).map(|i| if i % 100 == 7 { format!("{{\"n\": {i}") } else { format!("{{\"n\":{i}}}") }).collect();
    tansu.publish("in", &values, Some(3));
    let dir = setup(&copy_job(&tansu.brokers(), "200ms", 1, "json"));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let out = drain_when_written(&tansu, child, 1980, dir.path());

    let mut got: Vec<String> = out.iter().map(|r| r.value.clone()).collect();
    got.sort();
    let mut want: Vec<String> = values.iter().filter(|v| v.ends_with('}')).cloned().collect();
    want.sort();
    assert_eq!(got.len(), 1980, "every good message once");
    assert_eq!(got, want);
    assert!(out.iter().all(|r| r.headers.get("weir-sink").map(String::as_str) == Some("copy/out")));

    let dead = weir_tests::read_jsonl(&dir.path().join("dead.jsonl"));
    assert_eq!(dead.len(), 20, "{dead:?}");
    for d in &dead {
        assert!(d["reason"].as_str().unwrap().contains("not a JSON value"), "{d}");
        assert!(d["reason"].as_str().unwrap().starts_with("partition "), "{d}");
        assert!(d["input"].as_str().unwrap().starts_with("{\"n\": "), "{d}");
    }
    // The group holds what the last checkpoint holds: every partition read to its end.
    let committed = tansu.committed("weir.copy.events", "in", 3);
    assert_eq!(committed, checkpointed(dir.path()));
    assert_eq!(committed.values().sum::<i64>(), 2000, "{committed:?}");
}

#[test]
fn killed_at_random_moments_while_messages_arrive_the_output_holds_each_message_once() {
    let tansu = Tansu::start();
    tansu.create_topic("in", 3);
    tansu.create_topic("out", 3);
    let total = env_or("WEIR_KAFKA_MESSAGES", 6000) as usize;
    let kills = env_or("WEIR_KAFKA_KILLS", 6);
    let values: Vec<String> = (0..total).map(|i| format!("m{i:06}")).collect();
    // Published at about 1500 a second, in slices, while the job is killed and restarted.
    let publisher = {
        let (brokers, values) = (tansu.brokers(), values.clone());
        std::thread::spawn(move || {
            let publisher = weir_tests::tansu::Publisher::new(&brokers);
            for slice in values.chunks(150) {
                publisher.publish("in", slice);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let dir = setup(&copy_job(&tansu.brokers(), "100ms", 3, "text"));
    let log = std::fs::File::create(dir.path().join("runs.log")).unwrap();
    let mut rng = Rng(env_or("WEIR_KAFKA_SEED", 11) | 1);
    for _ in 0..kills {
        let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(log.try_clone().unwrap()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(300 + rng.below(1500)));
        kill(child);
    }
    publisher.join().unwrap();
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(log.try_clone().unwrap()).spawn().unwrap();
    let out = drain_when_written(&tansu, child, total, dir.path());

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &out {
        *counts.entry(r.value.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    let missing: Vec<_> = values.iter().filter(|v| !counts.contains_key(v.as_str())).collect();
    println!("{kills} kills: {} messages out, {} twice, {} missing", out.len(), twice.len(), missing.len());
    assert!(twice.is_empty(), "written more than once: {:?}", &twice[..twice.len().min(10)]);
    assert!(missing.is_empty(), "missing: {:?}", &missing[..missing.len().min(10)]);
    assert_eq!(out.len(), total);
    assert_eq!(tansu.committed("weir.copy.events", "in", 3).values().sum::<i64>(), total as i64);
}
