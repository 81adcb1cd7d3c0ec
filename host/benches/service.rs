//! Benchmark (not a test): what `weir serve` costs its users, measured on the library's `Server` (what the
//! gRPC handlers call). Prints
//! - loading a pushed operator: its precompiled form, made at push time, loaded as a job start does
//!   (goal <= 5 ms);
//! - submit to first output: `Server::submit` of a realtime word count (100 ms batches) until its first
//!   batch completes (includes waiting for the first batch boundary);
//! - the longest batch delay during a hot swap (`Server::upgrade`);
//! - 20 small jobs on one server: resident memory per job and their batch delays.
//!
//!     cargo bench -p weir --bench service

mod common;

use std::time::{Duration, Instant};

use common::{repo, tokenizer};
use weir::event::JobEvent;
use weir::job::{Env, StopRequest};
use weir::server::{Server, SubmitOptions};

fn spec(name: &str, interval: &str, rate: u64) -> String {
    format!(
        "[job]\nname = \"{name}\"\nbatch_interval = \"{interval}\"\nworkers = 1\n\n\
         [sources.lines]\nkind = \"generator\"\nrate = {rate}\nvocabulary = 1000\n\n\
         [streams.words]\nop = \"wasm\"\nfrom = \"lines\"\nplugin = \"tok@1\"\n\n\
         [streams.pairs]\nop = \"map_to_pair\"\nfrom = \"words\"\n\n\
         [streams.counts]\nop = \"reduce_by_key\"\nfrom = \"pairs\"\nreducer = \"sum\"\n\n\
         [sinks.out]\nkind = \"noop\"\nfrom = \"counts\"\n"
    )
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The next `n` completed batches of a subscription: (time, scheduling delay, processing) in ms.
fn completed(events: &mut tokio::sync::broadcast::Receiver<JobEvent>, n: usize) -> Vec<(u64, u64, u64)> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while out.len() < n && Instant::now() < deadline {
        match events.try_recv() {
            Ok(JobEvent::BatchCompleted { time, scheduling_delay_ms, processing_ms, .. }) => {
                out.push((time, scheduling_delay_ms.unwrap_or(0), processing_ms))
            }
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    out
}

fn main() {
    let data = tempfile::tempdir().unwrap();
    let env = Env::with_plugin_cache(data.path().join("cache")).unwrap();
    let server = Server::open(data.path(), env.clone()).unwrap();
    let bytes = std::fs::read(tokenizer()).unwrap();
    let v2 = std::fs::read(repo().join("operators/target/wasm32-wasip2/release/tokenize_v2.wasm")).unwrap();
    let engine = env.plugins().unwrap();
    let pushed = Instant::now();
    let op = server.registry().push("tok", "1", &bytes, engine).unwrap();
    println!("push (check, describe, precompile) tokenize.wasm: {:.1?}", pushed.elapsed());
    server.registry().push("tok", "2", &v2, engine).unwrap();

    let blob = server.registry().blob(&op.digest);
    let mut loads: Vec<Duration> = (0..20)
        .map(|_| {
            let start = Instant::now();
            engine.load(&blob).unwrap();
            start.elapsed()
        })
        .collect();
    loads.sort();
    println!("load a pushed operator: best {:.2?}, median {:.2?} (goal <= 5 ms)", loads[0], loads[10]);

    let started = Instant::now();
    server.submit(&spec("first", "100ms", 100_000), SubmitOptions::default()).unwrap();
    let mut events = server.subscribe("first").unwrap().unwrap();
    completed(&mut events, 1);
    println!("submit to first output (realtime, 100 ms batches): {:.0?}", started.elapsed());
    let before = completed(&mut events, 20);
    let (from, _) = server.upgrade("first", "words", "tok@2", None).unwrap();
    let after = completed(&mut events, 20);
    let worst =
        |b: &[(u64, u64, u64)]| (b.iter().map(|x| x.1).max().unwrap_or(0), b.iter().map(|x| x.2).max().unwrap_or(0));
    let (d0, p0) = worst(&before);
    let (d1, p1) = worst(&after);
    println!(
        "hot swap at batch {from}: longest scheduling delay / processing before {d0} / {p0} ms, from the swap on {d1} / {p1} ms"
    );
    server.stop("first", StopRequest::AtBoundary).unwrap();

    let base = rss_kib();
    let mut subs = Vec::new();
    for i in 0..20 {
        let name = format!("small-{i:02}");
        server.submit(&spec(&name, "200ms", 1000), SubmitOptions::default()).unwrap();
        subs.push(server.subscribe(&name).unwrap().unwrap());
    }
    std::thread::sleep(Duration::from_secs(3));
    let per_job = (rss_kib().saturating_sub(base)) / 20;
    let mut delays = Vec::new();
    let mut processing = Vec::new();
    for s in &mut subs {
        for (_, d, p) in completed(s, 10) {
            delays.push(d);
            processing.push(p);
        }
    }
    delays.sort();
    processing.sort();
    let pct = |v: &[u64], q: f64| v[((v.len() - 1) as f64 * q) as usize];
    println!(
        "20 small jobs (1,000 lines/s each, 200 ms batches): {per_job} KiB resident per job; scheduling delay \
         median {} ms, p99 {} ms; processing median {} ms, p99 {} ms ({} batches)",
        pct(&delays, 0.5),
        pct(&delays, 0.99),
        pct(&processing, 0.5),
        pct(&processing, 0.99),
        delays.len()
    );
    server.shutdown();
}
