//! Flow control: a source's `max_rate` holds a fast input to that rate, and a slow sink holds back the
//! sources: the input is read no faster than the sink writes, and the process's memory stays bounded
//! (printed) while a feeder offers far more than the sink can take. The slow sink is a webhook whose
//! receiver answers at a fixed number of records per second (`tests/python/webhook_receiver.py`).

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use weir_tests::crash::{drain, env_or, setup, stderr, weir};
use weir_tests::read_jsonl;
use weir_tests::webhook::{Receiver, receiver};

/// A job reading lines from the test's own TCP server on `port` into sink `out` (its TOML lines).
fn job(port: u16, source_extra: &str, sink: &str) -> String {
    format!(
        "[job]\nname = \"flow\"\nbatch_interval = \"100ms\"\nworkers = 2\n\n\
         [sources.lines]\nkind = \"socket\"\nport = {port}\n{source_extra}\n\n\
         [sinks.out]\nfrom = \"lines\"\n{sink}\n"
    )
}

#[test]
fn max_rate_holds_a_fast_source_to_its_rate() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let dir = setup(&job(port, "max_rate = 2000", "kind = \"jsonl\"\npath = \"out.jsonl\""));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let (mut conn, _) = server.accept().unwrap();
    let lines: String = (0..6000).map(|i| format!("l{i}\n")).collect();
    conn.write_all(lines.as_bytes()).unwrap();
    let batches = wait_for_records(dir.path(), 6000, &child);
    drop(conn);
    let out = drain(child);
    assert!(out.status.success(), "{}", stderr(&out));

    let with_data: Vec<(u64, usize)> = batches.into_iter().filter(|(_, n)| *n > 0).collect();
    let (first, last) = (with_data.first().unwrap().0, with_data.last().unwrap().0);
    let mut per_second = std::collections::BTreeMap::<u64, usize>::new();
    for (t, n) in &with_data {
        *per_second.entry((t - first) / 1000).or_default() += n;
    }
    println!("records per second of batch time: {per_second:?}; first to last batch with data: {} ms", last - first);
    // 6,000 records at 2,000 a second: 60 chunks of 100, the last let through 2.95 s after the first.
    assert!(last - first >= 2_500, "the records came faster than max_rate allows: {with_data:?}");
}

/// The jsonl sink's batches, as (time, records), once they hold `total` records (or 60 s pass).
fn wait_for_records(dir: &Path, total: usize, child: &Child) -> Vec<(u64, usize)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let path = dir.join("out.jsonl");
        let batches: Vec<(u64, usize)> = if path.exists() {
            read_jsonl(&path)
                .iter()
                .map(|b| (b["time"].as_u64().unwrap(), b["records"].as_array().unwrap().len()))
                .collect()
        } else {
            Vec::new()
        };
        if batches.iter().map(|(_, n)| n).sum::<usize>() >= total || Instant::now() > deadline {
            return batches;
        }
        assert!(Path::new(&format!("/proc/{}", child.id())).exists(), "weir ended early");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn slow_receiver(dir: &Path, records_per_second: u64) -> (Receiver, u16) {
    receiver(dir, &["--records-per-second", &records_per_second.to_string()])
}

/// Resident memory of process `pid`, in MiB.
fn rss_mib(pid: u32) -> u64 {
    weir_tests::rss_kib(pid) / 1024
}

/// Records the receiver has answered for by now.
fn written(dir: &Path) -> u64 {
    let path = dir.join("received.jsonl");
    if !path.exists() {
        return 0;
    }
    read_jsonl(&path).iter().map(|r| r["records"].as_u64().unwrap()).sum()
}

/// With `backpressure`, the source's rate follows the sink's; without, the bounded queues still keep
/// memory bounded, letting the input through in bursts as large as they hold.
#[test]
fn with_backpressure_a_slow_sink_holds_the_source_to_its_rate_and_memory_stays_bounded() {
    slow_sink(true);
}

#[test]
fn without_backpressure_a_slow_sink_still_keeps_memory_bounded() {
    slow_sink(false);
}

fn slow_sink(backpressure: bool) {
    let sink_rate = env_or("WEIR_SLOW_SINK_RATE", 100_000);
    let seconds = env_or("WEIR_BACKPRESSURE_SECONDS", 30);
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let dir = setup("");
    let (_receiver, hook) = slow_receiver(dir.path(), sink_rate);
    let sink = format!("kind = \"webhook\"\nurl = \"http://127.0.0.1:{hook}/hook\"");
    let spec = job(port, "", &sink).replace("workers = 2", &format!("workers = 2\nbackpressure = {backpressure}"));
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let log = std::fs::File::create(dir.path().join("weir.log")).unwrap();
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    let (conn, _) = server.accept().unwrap();

    // The feeder offers 3 times what the sink takes; a blocked write is Weir not reading.
    let offered = 3 * sink_rate;
    let (fed, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let feeder = {
        let (fed, stop) = (fed.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut conn = std::io::BufWriter::with_capacity(1 << 16, conn);
            let line = b"a line of some forty bytes, give or take\n";
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..1000 {
                    if conn.write_all(line).is_err() {
                        return; // Weir is gone: the test is over.
                    }
                }
                let n = fed.fetch_add(1000, Ordering::Relaxed) + 1000;
                let due = Duration::from_secs_f64(n as f64 / offered as f64);
                std::thread::sleep(due.saturating_sub(start.elapsed()));
            }
        })
    };
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1));
        let s = (start.elapsed().as_secs(), fed.load(Ordering::Relaxed), written(dir.path()), rss_mib(child.id()));
        println!("{:>3} s: fed {:>9}, written {:>9}, RSS {:>4} MiB", s.0, s.1, s.2, s.3);
        samples.push(s);
    }
    stop.store(true, Ordering::Relaxed);
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    let _ = feeder.join();

    let peak = samples.iter().map(|s| s.3).max().unwrap();
    let half = samples.len() / 2;
    let (a, b) = (samples[half], samples[samples.len() - 1]);
    let source_rate = (b.1 - a.1) as f64 / (b.0 - a.0) as f64;
    let sink_written = (b.2 - a.2) as f64 / (b.0 - a.0) as f64;
    println!(
        "backpressure {backpressure}, second half: source {source_rate:.0} records/s, sink {sink_written:.0} records/s (set to {sink_rate}); \
         peak RSS {peak} MiB; fed {} in all, written {}",
        b.1, b.2
    );
    assert!(peak < 600, "memory grew with the backlog: peak RSS {peak} MiB");
    assert!(b.1 < b.2 + 5_000_000, "the source took far more than the sink wrote: fed {}, written {}", b.1, b.2);
    if !backpressure {
        return;
    }
    let ratio = source_rate / sink_written;
    assert!((0.5..1.5).contains(&ratio), "the source's rate did not follow the sink's: {ratio:.2} of it");
    assert!(source_rate < offered as f64 / 2.0, "the source took what was offered, not what the sink wrote");
}
