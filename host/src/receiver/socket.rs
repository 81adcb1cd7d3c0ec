//! Socket source: text lines from a TCP server, as Spark's `socketTextStream`. When the server goes away
//! the receiver keeps reconnecting, so a restarted feeder is picked up without restarting the job. When
//! the job drains, the receiver reads what the peer has already sent (until the socket has been quiet
//! for [`QUIET`]), hands it over and finishes.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

use super::{LineChunker, Outbox, SourceEvent};

/// How long a draining socket must stay quiet before the receiver takes what it has read as all.
const QUIET: Duration = Duration::from_millis(50);

/// What ended a connection.
enum Flow {
    /// The peer went away: connect again.
    Reconnect,
    /// The job is stopping, or drained this source.
    Stop,
}

/// Runs until the job stops or drains.
pub async fn run(name: String, host: String, port: u16, out: Outbox) {
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
                backoff = Duration::from_millis(50);
                warned = false;
                if let Flow::Stop = read_lines(stream, &out).await {
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
async fn read_lines(stream: TcpStream, out: &Outbox) -> Flow {
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut chunker = LineChunker::default();
    let mut line = Vec::new();
    let mut draining = false;
    loop {
        // `read_until` is cancel-safe: bytes of a line cut short by the drain stay in `line`.
        let read = if draining {
            tokio::time::timeout(QUIET, reader.read_until(b'\n', &mut line)).await.unwrap_or(Ok(0))
        } else {
            tokio::select! {
                r = reader.read_until(b'\n', &mut line) => r,
                _ = out.drained() => {
                    draining = true;
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
        let n = if n == 0 && draining && !line.is_empty() { line.len() } else { n };
        if n > 0 {
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            if let Some(full) = chunker.push(text)
                && !out.send(SourceEvent::Data(full)).await
            {
                return Flow::Stop;
            }
            line.clear();
        }
        // Hand over what we have whenever nothing more is already buffered, so quiet streams stay fresh.
        if (n == 0 || reader.buffer().is_empty())
            && !chunker.is_empty()
            && !out.send(SourceEvent::Data(chunker.take())).await
        {
            return Flow::Stop;
        }
        if n == 0 {
            return if draining { Flow::Stop } else { Flow::Reconnect };
        }
    }
}
