//! Socket source: text lines from a TCP server, as Spark's `socketTextStream`. When the server goes away
//! the receiver keeps reconnecting, so a restarted feeder is picked up without restarting the job. When
//! the job drains, the receiver reads what the peer has already sent (until the socket has been quiet
//! for [`QUIET`], for at most [`DRAIN_LIMIT`]), hands it over and finishes.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

use super::logged::{Replay, hand_over};
use super::wal::Wal;
use super::{LineChunker, Outbox, SourceEvent};

/// How long a draining socket must stay quiet before the receiver takes what it has read as all.
const QUIET: Duration = Duration::from_millis(50);
/// How long a draining socket is read at most: a peer that never goes quiet must not keep the job
/// cutting batches for as long as it sends. What it sends after that is not taken.
const DRAIN_LIMIT: Duration = Duration::from_millis(500);

/// The kernel's receive buffer for the connection. Linux grows it up to `net.ipv4.tcp_rmem` (32 MiB
/// on some machines) when it is left alone: that much more input the sender could push past a job
/// that has stopped reading. Set, it stays near this (Linux doubles it for its own bookkeeping).
const RECEIVE_BUFFER: usize = 1 << 20;

/// What ended a connection.
enum Flow {
    /// The peer went away: connect again.
    Reconnect,
    /// The job is stopping, or drained this source.
    Stop,
}

/// Runs until the job stops or drains. With a write-ahead log, what the log holds from the resumed
/// position is handed over first, and every chunk read is logged before it is handed over.
pub async fn run(name: String, host: String, port: u16, wal: Option<Replay>, out: Outbox) {
    let mut wal = match wal {
        None => None,
        Some(r) => match r.open(&name, &out).await {
            Some(wal) => Some(wal),
            None => return,
        },
    };
    let mut backoff = Duration::from_millis(50);
    let mut warned = false;
    loop {
        let connected = tokio::select! {
            c = TcpStream::connect((host.as_str(), port)) => c,
            _ = out.drained() => break,
        };
        match connected {
            Ok(stream) => {
                tracing::info!(source = %name, "connected to {host}:{port}");
                if let Err(e) = socket2::SockRef::from(&stream).set_recv_buffer_size(RECEIVE_BUFFER) {
                    tracing::warn!(source = %name, "cannot bound the receive buffer: {e}");
                }
                backoff = Duration::from_millis(50);
                warned = false;
                if let Flow::Stop = read_lines(stream, &mut wal, &out).await {
                    break;
                }
                tracing::info!(source = %name, "{host}:{port} closed the connection; reconnecting");
            }
            Err(e) if !warned => {
                tracing::warn!(source = %name, "cannot connect to {host}:{port} ({e}); retrying");
                warned = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = out.drained() => break,
        }
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
    if out.draining() {
        tracing::info!(source = %name, "drained");
        out.send(SourceEvent::Finished).await;
    }
}

/// Reads lines until the peer goes away, the job stops, or it drains.
async fn read_lines(stream: TcpStream, wal: &mut Option<Wal>, out: &Outbox) -> Flow {
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut chunker = LineChunker::new(out);
    let mut line = Vec::new();
    let mut draining: Option<tokio::time::Instant> = None;
    loop {
        // `read_until` is cancel-safe: bytes of a line cut short by the drain stay in `line`.
        let read = if let Some(until) = draining {
            match until.checked_duration_since(tokio::time::Instant::now()).filter(|left| !left.is_zero()) {
                Some(left) => {
                    tokio::time::timeout(QUIET.min(left), reader.read_until(b'\n', &mut line)).await.unwrap_or(Ok(0))
                }
                None => Ok(0),
            }
        } else {
            tokio::select! {
                r = reader.read_until(b'\n', &mut line) => r,
                _ = out.drained() => {
                    draining = Some(tokio::time::Instant::now() + DRAIN_LIMIT);
                    continue;
                }
            }
        };
        let n = match read {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("socket read failed: {e}");
                0
            }
        };
        // A draining socket that went quiet may leave a last line without its newline: it was sent.
        let n = if n == 0 && draining.is_some() && !line.is_empty() { line.len() } else { n };
        if n > 0 {
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            let full = match out.lines().read(text) {
                Ok((kind, value, time)) => chunker.push_value(kind, &value, time),
                Err(bad) => {
                    if !out.send(bad.into()).await {
                        return Flow::Stop;
                    }
                    None
                }
            };
            if let Some(full) = full
                && !hand_over(full, wal, out).await
            {
                return Flow::Stop;
            }
            line.clear();
        }
        // Hand over what we have whenever nothing more is already buffered, so quiet streams stay fresh.
        if (n == 0 || reader.buffer().is_empty()) && !chunker.is_empty() && !hand_over(chunker.take(), wal, out).await {
            return Flow::Stop;
        }
        if n == 0 {
            return if draining.is_some() { Flow::Stop } else { Flow::Reconnect };
        }
    }
}
