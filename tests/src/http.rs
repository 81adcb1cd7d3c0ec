//! A plain HTTP/1.1 GET for the UI tests (not through Weir's code): status, headers and body.

use std::io::{Read, Write};
use std::net::TcpStream;

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
