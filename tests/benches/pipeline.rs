//! The user-behaviour pipeline over Kafka (Tansu on loopback) into MariaDB, at 1 s and 100 ms batches.
//! Run by `scripts/bench.sh` (release build): `WEIR_BIN=target/release/weir cargo bench -p weir-tests
//! --bench pipeline`.
//!
//! - Throughput: a backlog of click events already in the topic; the time from the job's start until the
//!   per-batch table holds every good click (checked against the generator's own count).
//! - Latency: events published at a steady rate while the job runs (at 100 ms batches, rising rates:
//!   `WEIR_BENCH_RATES`); every click must be counted once; a 2 % sample (publish ms divisible
//!   by 50) is also written one row per event with its publish time (`event_time`); the bench notes when
//!   each batch's marker row appears in MariaDB (polling every 5 ms), and an event's latency is that
//!   moment minus its publish time: publish → committed row.
//!
//! No anchor runs beside it: Spark's Kafka source needs a jar from Maven, which this machine cannot reach.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use weir_tests::crash::{drain, setup, weir};
use weir_tests::tansu::Tansu;
use weir_tests::{repo_root, weir_bin};

fn mariadb(sql: &str) -> Vec<String> {
    let out = Command::new("mariadb").args(["-h", "127.0.0.1", "-u", "root", "-N", "-B", "-e", sql, "test"]).output();
    let out = out.expect("mariadb runs");
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The example with its broker, topic, job and table names changed, 10 s windows, checkpoints on them,
/// and (for the latency run) a sampled per-event table.
fn spec(brokers: &str, tag: &str, interval_ms: u64, sample: bool) -> String {
    let text = std::fs::read_to_string(repo_root().join("examples/user_behaviour.toml")).unwrap();
    let operators = repo_root().join("operators");
    let mut s = text
        .replace("127.0.0.1:9092", brokers)
        .replace("topic = \"clicks\"", &format!("topic = \"{tag}\""))
        .replace("name = \"user-behaviour\"", &format!("name = \"bench-{tag}\""))
        .replace("\"../operators", &format!("\"{}", operators.display()))
        .replace("batch_interval = \"1s\"", &format!("batch_interval = \"{interval_ms}ms\""))
        .replace("length = \"60s\", slide = \"60s\"", "length = \"10s\", slide = \"10s\"")
        .replace("every = 60", &format!("every = {}", 10_000 / interval_ms))
        .replace("clicks_per_batch", &format!("bench_batch_{tag}"))
        .replace("clicks_per_minute", &format!("bench_window_{tag}"));
    if sample {
        s.push_str(&format!(
            r#"
[streams.sample]
op = "filter"
from = "by_type"
where = "time % 50 == 0"

[sinks.samples]
kind = "mariadb"
from = "sample"
url = "mysql://root@127.0.0.1:3306/test"
table = "bench_sample_{tag}"
columns = {{ device_type = "key", published = "event_time", batch_time = "batch_time" }}
column_types = {{ device_type = "VARCHAR(32)" }}
"#
        ));
    }
    s
}

fn publish(brokers: &str, topic: &str, count: u64, rate: u64, seed: u64) -> Command {
    let mut c = Command::new(weir_bin());
    c.args(["gen", "clicks", "--to", &format!("kafka://{brokers}/{topic}"), "--count", &count.to_string()])
        .args(["--rate", &rate.to_string(), "--seed", &seed.to_string()])
        .stderr(Stdio::null());
    c
}

/// Sum of the clicks the generator makes with `seed` (no malformed lines).
fn expected_clicks(count: u64, seed: u64) -> i64 {
    let out = Command::new(weir_bin())
        .args(["gen", "clicks", "--count", &count.to_string(), "--rate", "10000000", "--seed", &seed.to_string()])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().lines().map(|l| l.rsplit('|').next().unwrap().parse::<i64>().unwrap()).sum()
}

fn drop_tables(tag: &str) {
    mariadb(&format!("DROP TABLE IF EXISTS bench_batch_{tag}, bench_window_{tag}, bench_sample_{tag}"));
    if !mariadb("SHOW TABLES LIKE 'weir_sink_commits'").is_empty() {
        mariadb(&format!("DELETE FROM weir_sink_commits WHERE job = 'bench-{tag}'"));
    }
}

fn clicks_in(table: &str) -> i64 {
    if mariadb(&format!("SHOW TABLES LIKE '{table}'")).is_empty() {
        return 0;
    }
    mariadb(&format!("SELECT COALESCE(SUM(clicks), 0) FROM {table}"))[0].parse().unwrap()
}

fn throughput(tansu: &Tansu, interval_ms: u64, events: u64) -> f64 {
    let tag = format!("tp{interval_ms}");
    tansu.create_topic(&tag, 3);
    drop_tables(&tag);
    assert!(publish(&tansu.brokers(), &tag, events, 1_000_000, 3).status().unwrap().success());
    let want = expected_clicks(events, 3);
    let dir = setup(&spec(&tansu.brokers(), &tag, interval_ms, false));
    let start = Instant::now();
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    while clicks_in(&format!("bench_batch_{tag}")) < want {
        assert!(start.elapsed() < Duration::from_secs(300), "the job did not finish the backlog in 5 minutes");
        std::thread::sleep(Duration::from_millis(100));
    }
    let secs = start.elapsed().as_secs_f64();
    assert!(drain(child).status.success());
    assert_eq!(clicks_in(&format!("bench_batch_{tag}")), want, "every click once");
    drop_tables(&tag);
    events as f64 / secs
}

struct Latency {
    samples: usize,
    /// Sampled events committed more than 4 s after the last was published.
    late: usize,
    p50: i64,
    p99: i64,
    max: i64,
    /// How much longer than planned the publisher took, in ms: past a few, the rate was not offered.
    behind: u64,
}

fn latency(tansu: &Tansu, interval_ms: u64, rate: u64, secs: u64) -> Latency {
    let tag = format!("lat{interval_ms}r{rate}");
    tansu.create_topic(&tag, 3);
    drop_tables(&tag);
    let dir = setup(&spec(&tansu.brokers(), &tag, interval_ms, true));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let mut publisher = publish(&tansu.brokers(), &tag, rate * secs, rate, 4).spawn().unwrap();
    let published = Instant::now();
    let mut took = None;
    // When each batch's marker appeared: the batch is committed.
    let mut seen: BTreeMap<i64, i64> = BTreeMap::new();
    let job = format!("bench-{tag}");
    let poll = format!("SELECT batch_time FROM weir_sink_commits WHERE job = '{job}' AND sink = 'samples'");
    // Polls until 4 s after the last event is published, however long publishing takes.
    let mut end = Instant::now() + Duration::from_secs(secs + 4);
    while Instant::now() < end || took.is_none() {
        if took.is_none() && publisher.try_wait().unwrap().is_some() {
            took = Some(published.elapsed());
            end = end.max(Instant::now() + Duration::from_secs(4));
        }
        let last = seen.keys().next_back().copied().unwrap_or(0);
        let at = now_ms();
        for t in mariadb(&format!("{poll} AND batch_time > {last}")) {
            seen.entry(t.parse().unwrap()).or_insert(at);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(publisher.wait().unwrap().success());
    assert!(drain(child).status.success());
    let want = expected_clicks(rate * secs, 4);
    assert_eq!(clicks_in(&format!("bench_batch_{tag}")), want, "rate {rate}: every click once");
    let rows = mariadb(&format!("SELECT published, batch_time FROM bench_sample_{tag}"));
    let mut lat: Vec<i64> = rows
        .iter()
        .filter_map(|r| {
            let (p, t) = r.split_once('\t')?;
            Some(seen.get(&t.parse::<i64>().ok()?)? - p.parse::<i64>().ok()?)
        })
        .collect();
    lat.sort_unstable();
    assert!(!lat.is_empty(), "no sampled rows");
    // A sampled row whose batch was committed only after polling stopped has no latency: more than 4 s.
    let late = rows.len() - lat.len();
    let q = |f: f64| lat[((lat.len() - 1) as f64 * f) as usize];
    drop_tables(&tag);
    let behind = took.unwrap_or_default().as_millis().saturating_sub(u128::from(secs) * 1000) as u64;
    Latency { samples: lat.len(), late, p50: q(0.5), p99: q(0.99), max: *lat.last().unwrap(), behind }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let tansu = Tansu::start();
    let events = weir_tests::crash::env_or("WEIR_BENCH_EVENTS", 300_000);
    let rate = weir_tests::crash::env_or("WEIR_BENCH_RATE", 5_000);
    // At 100 ms batches, rising rates up to what the broker and the job take on two cores (issue 28).
    let rates: Vec<u64> = std::env::var("WEIR_BENCH_RATES")
        .unwrap_or_else(|_| "5000,20000,50000,100000".into())
        .split(',')
        .map(|r| r.trim().parse().expect("WEIR_BENCH_RATES: numbers, comma-separated"))
        .collect();
    println!("pipeline: Kafka (Tansu, 3 partitions) → parse-clicks → per batch and 10 s window sums → MariaDB");
    println!("weir: {}", weir_bin().display());
    for interval in [1000, 100] {
        let tp = throughput(&tansu, interval, events);
        println!("{interval:>5} ms batches: backlog of {events} events processed at {tp:>9.0} events/s");
        for &rate in if interval == 100 { &rates[..] } else { std::slice::from_ref(&rate) } {
            let l = latency(&tansu, interval, rate, 15);
            println!(
                "{interval:>5} ms batches: {rate:>6} events/s for 15 s, publish → committed row over {:>5} samples: \
                 p50 {:>4} ms, p99 {:>4} ms, max {:>4} ms; publisher {} ms behind; {} samples later than 4 s",
                l.samples, l.p50, l.p99, l.max, l.behind, l.late
            );
        }
    }
}
