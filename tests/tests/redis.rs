//! The Redis Streams source and sink against the machine's Redis: entries read through a consumer
//! group, bad ones to the dead letters, acknowledged (`XACK`) only once Weir's checkpoint holds them —
//! so after a crash this consumer's pending entries are read again — and, with `kill -9` at random
//! moments while entries keep arriving, every entry in the output stream exactly once.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::Commands;
use weir_tests::crash::{Rng, drain, env_or, kill, setup, weir};

/// Keys of a test's own streams, deleted when dropped.
struct Streams {
    con: redis::Connection,
    prefix: String,
}

impl Drop for Streams {
    fn drop(&mut self) {
        let _: redis::RedisResult<()> = self.con.del(&[self.key("in"), self.key("out")]);
    }
}

impl Streams {
    fn new(test: &str) -> Streams {
        let client = redis::Client::open("redis://127.0.0.1:6379/").unwrap();
        let con = client.get_connection().expect("Redis runs on 127.0.0.1:6379 (scripts/services.sh)");
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
        Streams { con, prefix: format!("weirtest:{test}:{}:{nanos}", std::process::id()) }
    }

    fn key(&self, side: &str) -> String {
        format!("{}:{side}", self.prefix)
    }

    fn publish(&mut self, values: &[String]) {
        let mut pipe = redis::pipe();
        for v in values {
            pipe.xadd(self.key("in"), "*", &[("value", v.as_str())]).ignore();
        }
        let _: () = pipe.query(&mut self.con).unwrap();
    }

    fn values(&mut self, side: &str) -> Vec<String> {
        let all: redis::streams::StreamRangeReply = self.con.xrange_all(self.key(side)).unwrap();
        all.ids.iter().map(|e| e.get::<String>("value").unwrap_or_default()).collect()
    }

    /// Entries delivered to group `group` and not acknowledged.
    fn pending(&mut self, group: &str) -> usize {
        let p: redis::streams::StreamPendingReply = self.con.xpending(self.key("in"), group).unwrap();
        p.count()
    }
}

fn copy_job(s: &Streams, interval: &str, every: u64, format: &str) -> String {
    format!(
        r#"
[job]
name = "copy"
batch_interval = "{interval}"
workers = 2

[sources.events]
kind = "redis"
stream = "{input}"
format = "{format}"

[sinks.out]
kind = "redis"
from = "events"
stream = "{output}"

[dead_letter]
path = "dead.jsonl"

[checkpoint]
dir = "checkpoints"
every = {every}
"#,
        input = s.key("in"),
        output = s.key("out"),
    )
}

/// Waits until the output stream holds at least `count` entries (or 90 s pass), then drains `child`.
fn drain_when_written(s: &mut Streams, child: Child, count: usize, dir: &Path) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    while s.values("out").len() < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = drain(child);
    let log = std::fs::read_to_string(dir.join("runs.log")).unwrap_or_default();
    assert!(out.status.success(), "weir failed: {}{log}", weir_tests::crash::stderr(&out));
    s.values("out")
}

#[test]
fn entries_are_read_through_the_group_bad_ones_are_dead_letters_and_acks_follow_the_checkpoint() {
    let mut s = Streams::new("plain");
    let values: Vec<String> =
        (0..2000).map(|i| if i % 100 == 7 { format!("{{\"n\": {i}") } else { format!("{{\"n\":{i}}}") }).collect();
    s.publish(&values);
    let dir = setup(&copy_job(&s, "200ms", 1, "json"));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut got = drain_when_written(&mut s, child, 1980, dir.path());
    got.sort();
    let mut want: Vec<String> = values.iter().filter(|v| v.ends_with('}')).cloned().collect();
    want.sort();
    assert_eq!(got, want, "every good entry once");
    let dead = weir_tests::read_jsonl(&dir.path().join("dead.jsonl"));
    assert_eq!(dead.len(), 20, "{dead:?}");
    assert!(dead.iter().all(|d| d["reason"].as_str().unwrap().contains("not a JSON value")), "{dead:?}");
    assert_eq!(s.pending("weir-copy-events"), 0, "every entry acknowledged once the last checkpoint holds it");
}

#[test]
fn killed_at_random_moments_while_entries_arrive_the_output_holds_each_entry_once() {
    let mut s = Streams::new("killed");
    let total = env_or("WEIR_REDIS_MESSAGES", 6000) as usize;
    let kills = env_or("WEIR_REDIS_KILLS", 6);
    let values: Vec<String> = (0..total).map(|i| format!("m{i:06}")).collect();
    let dir = setup(&copy_job(&s, "100ms", 3, "text"));
    let log = std::fs::File::create(dir.path().join("runs.log")).unwrap();
    let mut rng = Rng(env_or("WEIR_REDIS_SEED", 17) | 1);
    let mut published = values.chunks(total.div_ceil(kills as usize + 1));
    for _ in 0..kills {
        let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(log.try_clone().unwrap()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        if let Some(slice) = published.next() {
            s.publish(slice);
        }
        std::thread::sleep(Duration::from_millis(100 + rng.below(1500)));
        kill(child);
    }
    published.for_each(|slice| s.publish(slice));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(log.try_clone().unwrap()).spawn().unwrap();
    let out = drain_when_written(&mut s, child, total, dir.path());

    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &out {
        *counts.entry(v.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    let missing: Vec<_> = values.iter().filter(|v| !counts.contains_key(v.as_str())).collect();
    println!("{kills} kills: {} entries out, {} twice, {} missing", out.len(), twice.len(), missing.len());
    assert!(twice.is_empty(), "written more than once: {:?}", &twice[..twice.len().min(10)]);
    assert!(missing.is_empty(), "missing: {:?}", &missing[..missing.len().min(10)]);
    assert_eq!(s.pending("weir-copy-events"), 0);
}
