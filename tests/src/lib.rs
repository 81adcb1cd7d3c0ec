//! Helpers shared by Weir's end-to-end tests: where the built binary and components are, and how to
//! run a job spec in-process and read its JSON-lines output.

pub mod broker;
pub mod crash;
pub mod db;
pub mod http;
pub mod mosquitto;
pub mod nats;
pub mod restart;
pub mod served;
pub mod spec;
pub mod tansu;
pub mod webhook;

use std::path::{Path, PathBuf};

use weir::job::{RunOptions, RunReport};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The `weir` binary built by `cargo build` (scripts/test.sh builds it before the tests run), or the one
/// `WEIR_BIN` names (to run the tests against another build, e.g. to see a new test fail on an old one).
pub fn weir_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("WEIR_BIN") {
        return PathBuf::from(bin);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target"));
    let bin = target.join("debug").join("weir");
    assert!(bin.is_file(), "{} is missing: run `cargo build -p weir` (scripts/test.sh does)", bin.display());
    bin
}

/// The folder holding the built operator components.
pub fn operators_dir() -> PathBuf {
    repo_root().join("operators/target/wasm32-wasip2/release")
}

/// Path of a built operator component, e.g. `plugin("tokenize")`.
pub fn plugin(name: &str) -> PathBuf {
    let p = operators_dir().join(format!("{name}.wasm"));
    assert!(p.is_file(), "{} is missing: build the operators (scripts/test.sh does)", p.display());
    p
}

/// Replaces `{operators}` in a spec with the components' folder.
pub fn with_operators(spec: &str) -> String {
    spec.replace("{operators}", &operators_dir().display().to_string())
}

/// Runs the spec at `spec_path` in-process with `workers` workers.
pub fn run_spec(spec_path: &Path, workers: usize) -> anyhow::Result<RunReport> {
    let mut plan = weir::graph::load(spec_path)?;
    plan.workers = workers;
    Ok(weir::job::run(plan, RunOptions::default())?)
}

/// The lines of a JSON-lines file, parsed.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
        .collect()
}

/// Copies the folder `from` (files and subfolders) to `to`, e.g. a killed job's folder, to damage a copy.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() { copy_dir(&p, &target) } else { std::fs::copy(&p, &target).map(|_| ()).unwrap() }
    }
}

/// A port of 127.0.0.1 that is free now, for a server a test starts. Never the same port twice in one
/// test process: two tests starting servers at once could otherwise be handed one port, and the one
/// that loses the bind would talk to the other's server.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Waits until `what` accepts connections on 127.0.0.1:`port`; panics after `within`.
pub fn wait_listening(port: u16, what: &str, within: std::time::Duration) {
    let deadline = std::time::Instant::now() + within;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "{what} did not listen on {port} within {within:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A child process killed (and reaped) when dropped, so a failed test leaves nothing running.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Resident memory of process `pid`, in KiB (0 once it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next());
    kib.and_then(|k| k.parse().ok()).unwrap_or(0)
}
