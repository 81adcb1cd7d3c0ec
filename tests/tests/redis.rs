//! The Redis Streams source and sink against the machine's Redis: entries read through a consumer
//! group, bad ones to the dead letters, acknowledged (`XACK`) only once Weir's checkpoint holds them —
//! so after a crash this consumer's pending entries are read again — and, with `kill -9` at random
//! moments while entries keep arriving, every entry in the output stream exactly once.

use std::process::Stdio;
use std::time::{SystemTime, UNIX_EPOCH};

use redis::Commands;
use weir_tests::broker::{
    Copies, assert_good_once_and_bad_dead, copy_job, drain_when, kill_while_publishing, some_malformed,
};
use weir_tests::crash::{env_or, setup, weir};

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

/// A job copying stream `in` to stream `out`.
fn job(s: &Streams, interval: &str, every: u64, format: &str) -> String {
    let source = format!("kind = \"redis\"\nstream = \"{}\"\nformat = \"{format}\"", s.key("in"));
    let sink = format!("kind = \"redis\"\nstream = \"{}\"", s.key("out"));
    copy_job(interval, every, &source, &sink)
}

#[test]
fn entries_are_read_through_the_group_bad_ones_are_dead_letters_and_acks_follow_the_checkpoint() {
    let mut s = Streams::new("plain");
    let values = some_malformed();
    s.publish(&values);
    let dir = setup(&job(&s, "200ms", 1, "json"));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    drain_when(child, dir.path(), || s.values("out").len() >= 1980);
    assert_good_once_and_bad_dead(s.values("out"), &values, dir.path());
    assert_eq!(s.pending("weir-copy-events"), 0, "every entry acknowledged once the last checkpoint holds it");
}

#[test]
fn killed_at_random_moments_while_entries_arrive_the_output_holds_each_entry_once() {
    let mut s = Streams::new("killed");
    let total = env_or("WEIR_REDIS_MESSAGES", 6000) as usize;
    let kills = env_or("WEIR_REDIS_KILLS", 6);
    let values: Vec<String> = (0..total).map(|i| format!("m{i:06}")).collect();
    let dir = setup(&job(&s, "100ms", 3, "text"));
    let log = kill_while_publishing(dir.path(), kills, env_or("WEIR_REDIS_SEED", 17), &values, |v| s.publish(v));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    drain_when(child, dir.path(), || s.values("out").len() >= total);

    Copies::of(&s.values("out"), &values, kills).assert_exactly_once();
    assert_eq!(s.pending("weir-copy-events"), 0);
}
