//! Benchmark (not a test): how long a record takes from being sent to being written, with 100 ms
//! batches, at rising steady rates over a socket.
//!
//!     cargo bench -p weir --bench latency
//!     WEIR_LATENCY_RATES=100000,1000000 WEIR_LATENCY_SECONDS=10 cargo bench -p weir --bench latency
//!
//! For each rate this process is the TCP server Weir's socket source reads from (Spark's
//! `socketTextStream` shape). Every millisecond it sends that millisecond's share of the rate, each line the
//! time it was due to be sent (ms since the epoch), so a sender that falls behind shows as latency
//! instead of hiding it. The job counts each batch's lines by value (`count_by_value`, 2 workers, a keyed
//! exchange) into a `jsonl` file; a thread tails the file and, as each batch's line appears, gives every
//! record of it the latency `seen − sent`. The first second is warm-up, left out of the figures. The
//! output delay is when a batch is seen written less its batch time (the end of what it holds): it grows
//! without bound when the rate is more than the job sustains.
//!
//! Checks: the counts written sum to exactly the lines sent, and the job ends with no failed batch and
//! no dead letter; the benchmark fails otherwise. A rate whose records are not all written 20 s after
//! the last send is more than the job sustains: it is reported so, and no higher rate is tried.

// For the allocator the `weir` binary runs on; nothing else of it is used here.
#[allow(dead_code)]
mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use weir::batcher::now_ms;
use weir::job::{Env, Job, RunOptions, StopRequest};

const WARMUP_MS: u64 = 1_000;
/// How long after the last send every record must be written, or the rate is more than the job sustains.
const CATCH_UP: Duration = Duration::from_secs(20);

fn spec(port: u16, out: &Path) -> String {
    format!(
        "[job]\nname = \"latency\"\nbatch_interval = \"100ms\"\nworkers = 2\n\n\
         [sources.lines]\nkind = \"socket\"\nport = {port}\n\n\
         [streams.sent]\nop = \"count_by_value\"\nfrom = \"lines\"\n\n\
         [sinks.out]\nkind = \"jsonl\"\nfrom = \"sent\"\npath = \"{}\"\n",
        out.display()
    )
}

/// What one rate gave.
struct Step {
    rate: u64,
    sent: u64,
    /// Latency in ms → records, after the warm-up.
    latency: BTreeMap<u64, u64>,
    /// Each batch's output delay in ms, after the warm-up.
    delays: Vec<u64>,
    /// How far the sender fell behind its schedule at most, in ms.
    behind: u64,
    /// Records written [`CATCH_UP`] after the last send, when not all of them.
    overloaded: Option<u64>,
}

/// The `q` quantile of a histogram.
fn quantile(h: &BTreeMap<u64, u64>, q: f64) -> u64 {
    let total: u64 = h.values().sum();
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (v, n) in h {
        seen += n;
        if seen >= rank {
            return *v;
        }
    }
    0
}

#[derive(serde::Deserialize)]
struct Counted {
    key: String,
    value: u64,
}

#[derive(serde::Deserialize)]
struct Written {
    time: u64,
    records: Vec<Counted>,
}

/// What the tail saw: records counted, latency histogram and output delays after `from_ms`.
#[derive(Default)]
struct Seen {
    counted: u64,
    latency: BTreeMap<u64, u64>,
    delays: Vec<u64>,
}

/// Tails `out` until `done` is set and the file has nothing more, timing each batch's line as it appears
/// and keeping the count of records written so far in `written`.
fn tail(out: PathBuf, from_ms: u64, done: Arc<AtomicBool>, written: Arc<AtomicU64>) -> Seen {
    let mut seen = Seen::default();
    let (mut buf, mut file) = (Vec::new(), None);
    loop {
        let finished = done.load(Ordering::SeqCst);
        if file.is_none() {
            file = std::fs::File::open(&out).ok();
        }
        let got = file.as_mut().map_or(0, |f| f.read_to_end(&mut buf).expect("the output reads"));
        let at = now_ms();
        while let Some(end) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            let w: Written = serde_json::from_slice(&line).expect("a jsonl batch");
            for c in &w.records {
                seen.counted += c.value;
                let sent: u64 = c.key.parse().expect("each line is its send time");
                if sent >= from_ms {
                    *seen.latency.entry(at.saturating_sub(sent)).or_default() += c.value;
                }
            }
            if w.time >= from_ms {
                seen.delays.push(at.saturating_sub(w.time));
            }
            written.store(seen.counted, Ordering::SeqCst);
        }
        if finished && got == 0 {
            return seen;
        }
        if got == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn step(rate: u64, seconds: u64) -> Step {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let plan = weir::graph::parse(&dir.path().join("latency.toml"), &spec(port, &out)).expect("bench spec");
    let job = Job::start(plan, RunOptions::default(), &Env::process().unwrap()).expect("the latency job");
    listener.set_nonblocking(true).unwrap();
    let mut conn = loop {
        match listener.accept() {
            Ok((conn, _)) => break conn,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && !job.is_finished() => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("the job did not connect ({e}): {:?}", job.wait()),
        }
    };
    conn.set_nonblocking(false).unwrap();
    conn.set_nodelay(true).unwrap();
    let (start, start_ms) = (Instant::now(), now_ms());
    let (done, written) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let tailing = {
        let (done, written) = (done.clone(), written.clone());
        std::thread::spawn(move || tail(out, start_ms + WARMUP_MS, done, written))
    };
    let (mut sent, mut behind, mut buf) = (0u64, 0u64, Vec::new());
    for tick in 0..seconds * 1000 {
        let due = start + Duration::from_millis(tick);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        behind = behind.max(Instant::now().duration_since(due).as_millis() as u64);
        let want = rate * (tick + 1) / 1000 - sent;
        let line = format!("{}\n", start_ms + tick);
        buf.clear();
        (0..want).for_each(|_| buf.extend_from_slice(line.as_bytes()));
        conn.write_all(&buf).expect("Weir reads the socket");
        sent += want;
    }
    let until = Instant::now() + CATCH_UP;
    while written.load(Ordering::SeqCst) < sent && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    let caught_up = written.load(Ordering::SeqCst);
    job.stop(StopRequest::Drain);
    let report = job.wait().expect("the latency job");
    drop(conn);
    done.store(true, Ordering::SeqCst);
    let seen = tailing.join().expect("the tail");
    assert_eq!((report.failed_batches, report.dead_letters), (0, 0), "rate {rate}: {report:?}");
    let overloaded = (caught_up < sent).then_some(caught_up);
    if overloaded.is_none() {
        assert_eq!(seen.counted, sent, "rate {rate}: the counts written must sum to the lines sent");
    }
    assert!(seen.counted <= sent, "rate {rate}: {} records written, {sent} sent", seen.counted);
    Step { rate, sent, latency: seen.latency, delays: seen.delays, behind, overloaded }
}

fn main() {
    let rates: Vec<u64> = std::env::var("WEIR_LATENCY_RATES")
        .unwrap_or_else(|_| "100000,250000,500000,1000000,1500000,2000000".into())
        .split(',')
        .map(|r| r.trim().parse().expect("WEIR_LATENCY_RATES: numbers, comma-separated"))
        .collect();
    let seconds: u64 = std::env::var("WEIR_LATENCY_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(6);
    println!("latency, 100 ms batches, socket → count_by_value (2 workers) → jsonl; {seconds} s per rate, 1 s warm-up");
    println!(
        "{:>10} {:>10} {:>8} {:>8} {:>8} {:>12} {:>12} {:>10}",
        "rate/s", "sent", "p50 ms", "p99 ms", "max ms", "delay p99", "delay max", "behind ms"
    );
    for rate in rates {
        let s = step(rate, seconds);
        let mut delays = s.delays.clone();
        delays.sort_unstable();
        let p99_delay = delays.get((delays.len() * 99).div_ceil(100).saturating_sub(1)).copied().unwrap_or(0);
        println!(
            "{:>10} {:>10} {:>8} {:>8} {:>8} {:>12} {:>12} {:>10}",
            s.rate,
            s.sent,
            quantile(&s.latency, 0.50),
            quantile(&s.latency, 0.99),
            s.latency.keys().next_back().copied().unwrap_or(0),
            p99_delay,
            delays.last().copied().unwrap_or(0),
            s.behind
        );
        if let Some(written) = s.overloaded {
            println!("{:>10} overloaded: {written} of {} records written {CATCH_UP:?} after the last send", "", s.sent);
            break;
        }
    }
}
