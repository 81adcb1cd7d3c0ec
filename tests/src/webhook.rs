//! A real HTTP server for the webhook sink's tests: `tests/python/webhook_receiver.py` (Python's
//! standard library), started on a free loopback port, writing what it answered 2xx for to
//! `received.jsonl` in the test's folder, and stopped when dropped.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The receiver, stopped when dropped.
pub struct Receiver(Child);

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the receiver in `dir` with the script's `args`; returns it and its port.
pub fn receiver(dir: &Path, args: &[&str]) -> (Receiver, u16) {
    let script = crate::repo_root().join("tests/python/webhook_receiver.py");
    let port_file = dir.join("port");
    let child = Command::new("python3").arg(script).arg(&port_file).arg(dir.join("received.jsonl")).args(args).spawn();
    let server = Receiver(child.expect("python3 runs"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(p) = std::fs::read_to_string(&port_file) {
            return (server, p.trim().parse().unwrap());
        }
        assert!(Instant::now() < deadline, "the receiver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}
