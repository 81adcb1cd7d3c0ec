//! The NATS JetStream source and sink against the machine's NATS server: messages read in sequence,
//! bad ones to the dead letters, acknowledged only once Weir's checkpoint holds them, and — with
//! `kill -9` at random moments while messages keep arriving — every published message in the output
//! stream exactly once (JetStream drops a message id it has seen within its duplicate window).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use weir_tests::crash::{Rng, drain, env_or, kill, setup, weir};
use weir_tests::nats::{NATS_URL, NatsStreams};

/// A job copying stream `in` to subject `out` through Weir, in batches of `interval`.
fn copy_job(n: &NatsStreams, interval: &str, every: u64, format: &str) -> String {
    format!(
        r#"
[job]
name = "copy"
batch_interval = "{interval}"
workers = 2

[sources.events]
kind = "nats"
url = "{NATS_URL}"
stream = "{in_stream}"
subject = "{in_subject}"
format = "{format}"

[sinks.out]
kind = "nats"
from = "events"
url = "{NATS_URL}"
subject = "{out_subject}"
stream = "{out_stream}"

[dead_letter]
path = "dead.jsonl"

[checkpoint]
dir = "checkpoints"
every = {every}
"#,
        in_stream = n.stream("in"),
        in_subject = n.subject("in"),
        out_stream = n.stream("out"),
        out_subject = n.subject("out"),
    )
}

/// Waits until stream `out` holds at least `count` messages (or 90 s pass), then drains `child`.
fn drain_when_written(n: &NatsStreams, child: Child, count: usize, dir: &Path) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    while n.read_all("out").len() < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = drain(child);
    let log = std::fs::read_to_string(dir.join("runs.log")).unwrap_or_default();
    assert!(out.status.success(), "weir failed: {}{log}", weir_tests::crash::stderr(&out));
    n.read_all("out").into_iter().map(|(v, _)| v).collect()
}

#[test]
fn messages_are_read_in_sequence_bad_ones_are_dead_letters_and_acks_follow_the_checkpoint() {
    let n = NatsStreams::new("plain");
    let values: Vec<String> =
        (0..2000).map(|i| if i % 100 == 7 { format!("{{\"n\": {i}") } else { format!("{{\"n\":{i}}}") }).collect();
    n.publish(&values);
    let dir = setup(&copy_job(&n, "200ms", 1, "json"));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut got = drain_when_written(&n, child, 1980, dir.path());
    got.sort();
    let mut want: Vec<String> = values.iter().filter(|v| v.ends_with('}')).cloned().collect();
    want.sort();
    assert_eq!(got, want, "every good message once");

    let dead = weir_tests::read_jsonl(&dir.path().join("dead.jsonl"));
    assert_eq!(dead.len(), 20, "{dead:?}");
    assert!(dead.iter().all(|d| d["reason"].as_str().unwrap().contains("not a JSON value")), "{dead:?}");
    // Acknowledged through the last message: the final checkpoint holds them all.
    assert_eq!(n.ack_floor("weir-copy-events"), 2000);
}

#[test]
fn killed_at_random_moments_while_messages_arrive_the_output_holds_each_message_once() {
    let n = NatsStreams::new("killed");
    let total = env_or("WEIR_NATS_MESSAGES", 6000) as usize;
    let kills = env_or("WEIR_NATS_KILLS", 6);
    let values: Vec<String> = (0..total).map(|i| format!("m{i:06}")).collect();
    let dir = setup(&copy_job(&n, "100ms", 3, "text"));
    let log = std::fs::File::create(dir.path().join("runs.log")).unwrap();
    let mut rng = Rng(env_or("WEIR_NATS_SEED", 13) | 1);
    let mut published = values.chunks(total.div_ceil(kills as usize + 1));
    for _ in 0..kills {
        let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(log.try_clone().unwrap()).spawn().unwrap();
        if let Some(slice) = published.next() {
            n.publish(slice);
        }
        std::thread::sleep(Duration::from_millis(300 + rng.below(1500)));
        kill(child);
    }
    published.for_each(|slice| n.publish(slice));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(log.try_clone().unwrap()).spawn().unwrap();
    let out = drain_when_written(&n, child, total, dir.path());

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &out {
        *counts.entry(v.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    let missing: Vec<_> = values.iter().filter(|v| !counts.contains_key(v.as_str())).collect();
    println!("{kills} kills: {} messages out, {} twice, {} missing", out.len(), twice.len(), missing.len());
    assert!(twice.is_empty(), "written more than once: {:?}", &twice[..twice.len().min(10)]);
    assert!(missing.is_empty(), "missing: {:?}", &missing[..missing.len().min(10)]);
    assert_eq!(n.ack_floor("weir-copy-events"), total as u64);
}
