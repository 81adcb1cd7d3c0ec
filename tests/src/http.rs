//! A plain HTTP/1.1 GET for the UI and metrics tests (not through Weir's code): status, headers and
//! body; and `weir run --http` started on a free port.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// An answer: status code, header lines, body.
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The header lines, lower-cased names.
    pub headers: String,
    /// The body.
    pub body: String,
}

/// GETs `url` (`http://HOST:PORT/PATH`) with `headers` (`Name: value`), `Connection: close`.
pub fn get(url: &str, headers: &[&str]) -> Answer {
    let rest = url.strip_prefix("http://").unwrap_or_else(|| panic!("not an http:// URL: {url}"));
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("{url}: {e}"));
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extra}\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Answer { status, headers: head.to_lowercase(), body: body.to_string() }
}

/// Starts `weir run job.toml --http 127.0.0.1:0 ARGS` in `dir` and reads the address it bound from
/// its standard error; returns it and the listener's base URL (`http://127.0.0.1:PORT`).
pub fn run_with_http(dir: &Path, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(crate::weir_bin())
        .args(["run", "job.toml", "--http", "127.0.0.1:0"])
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("the job printed no UI address").unwrap();
        if let Some(at) = line.find("the UI at http://") {
            break line[at + "the UI at ".len()..].trim().trim_end_matches('/').to_string();
        }
    };
    // Keep reading the log so the job never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, base)
}
