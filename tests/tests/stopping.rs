//! Stopping a job with signals: a drain ends even against a peer that never stops sending, a signal
//! that comes while the job is still loading stops it cleanly, a second signal cancels the
//! drain at the next batch boundary.

use std::process::Stdio;
use std::time::{Duration, Instant};

use weir_tests::crash::{drain, generated, setup, stderr, totals, weir, word_count};

#[test]
fn a_drain_ends_against_a_peer_that_never_stops_sending() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = setup(&word_count("steady", &format!("kind = \"socket\"\nport = {port}"), 1));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    let sender = std::thread::spawn(move || {
        let mut sent = 0u64;
        // A line every 10 ms until the job closes the connection (or 30 s).
        while sent < 3000 && std::io::Write::write_all(&mut peer, b"tick\n").is_ok() {
            sent += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        sent
    });
    std::thread::sleep(Duration::from_millis(1000));
    let asked = Instant::now();
    let out = drain(child);
    let took = asked.elapsed();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(took < Duration::from_secs(5), "the drain took {took:?}");
    assert!(stderr(&out).contains("last checkpoint committed"), "{}", stderr(&out));
    let counted = totals(&dir.path().join("counts.jsonl"))["tick"];
    assert!(counted >= 50, "only {counted} lines counted");
    let sent = sender.join().unwrap();
    assert!(sent < 3000 && counted <= sent, "counted {counted} of {sent}");
}

#[test]
fn a_signal_while_the_job_is_loading_stops_it_cleanly() {
    // A big static table makes the job slow to start: signals must be heard from the first moment.
    let spec = generated("early-signal").replace("rate = 10000", "rate = 100");
    let dir = setup(&format!("{spec}\n[tables.big]\nkind = \"file\"\npath = \"big.csv\"\nkey = \"k\"\n"));
    let rows: String = (0..300_000).map(|i| format!("k{i},{i}\n")).collect();
    std::fs::write(dir.path().join("big.csv"), format!("k,v\n{rows}")).unwrap();
    for wait in [100, 300, 600] {
        let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(wait));
        let out = drain(child);
        assert_eq!(out.status.code(), Some(0), "SIGTERM after {wait} ms: {}", stderr(&out));
    }
}

#[test]
fn a_second_signal_cancels_a_drain() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = setup(&format!(
        "[job]\nname = \"twice\"\nbatch_interval = \"100ms\"\n\n[sources.lines]\nkind = \"socket\"\nport = {port}\n\n\
         [sinks.out]\nkind = \"jsonl\"\nfrom = \"lines\"\npath = \"out.jsonl\"\n"
    ));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    // A peer that keeps sending holds the drain open long enough for the second signal.
    let sender = std::thread::spawn(move || {
        while std::io::Write::write_all(&mut peer, b"tick\n").is_ok() {
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let term = || std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term().success());
    std::thread::sleep(Duration::from_millis(50));
    assert!(term().success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("SIGTERM: cancelling at the next batch boundary"), "{}", stderr(&out));
    sender.join().unwrap();
}
