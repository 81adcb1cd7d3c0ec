//! A real `weir serve` process for the platform tests, and the `weir` admin CLI pointed at it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The token the tests' servers are started with.
pub const TOKEN: &str = "test-token-0123456789";

/// A running `weir serve`, killed when dropped.
pub struct Served {
    /// The server process.
    pub child: Option<Child>,
    /// Its data dir.
    pub data: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Served {
    /// Starts `weir serve` on a free loopback port with `data` as its data dir and `extra` flags.
    pub fn start(data: &Path, extra: &[&str]) -> Served {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(data.with_extension("log")).unwrap();
        let mut child = Command::new(crate::weir_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--token", TOKEN, "--data-dir"])
            .arg(data)
            .args(extra)
            .env("WEIR_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.split_whitespace().nth(4).unwrap_or_else(|| panic!("no address in {line:?}"));
        Served { child: Some(child), data: data.to_path_buf(), url: format!("http://{}", addr.trim_end_matches(',')) }
    }

    /// `weir <args>` against this server with the right token.
    pub fn weir(&self, args: &[&str]) -> Output {
        self.weir_with_token(Some(TOKEN), args)
    }

    /// `weir <args>` against this server with `token` (or none).
    pub fn weir_with_token(&self, token: Option<&str>, args: &[&str]) -> Output {
        let mut c = Command::new(crate::weir_bin());
        c.args(["--server", &self.url]).args(args).env_remove("WEIR_TOKEN").env("WEIR_DATA_DIR", "/nonexistent");
        if let Some(t) = token {
            c.args(["--token", t]);
        }
        c.output().unwrap()
    }

    /// `weir <args>`, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.weir(args);
        assert!(out.status.success(), "weir {args:?}: {}{}", text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    }

    /// `weir job status JOB -o json`.
    pub fn status(&self, job: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["job", "status", job, "-o", "json"])).unwrap()
    }

    /// Waits until `job`'s status satisfies `done` (at most `limit`).
    pub fn wait_for(&self, job: &str, limit: Duration, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.status(job);
            if done(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "job {job} did not get there within {limit:?}: {s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server with SIGKILL.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
