//! Socket source: text lines from a TCP server, as Spark's `socketTextStream`. When the server goes away
//! the receiver keeps reconnecting, so a restarted feeder is picked up without restarting the job.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

use super::{LineChunker, Outbox, SourceEvent};

/// Runs until the job stops.
pub async fn run(name: String, host: String, port: u16, out: Outbox) {
    let mut backoff = Duration::from_millis(50);
    let mut warned = false;
    loop {
        match TcpStream::connect((host.as_str(), port)).await {
            Ok(stream) => {
                tracing::info!(source = %name, "connected to {host}:{port}");
                backoff = Duration::from_millis(50);
                warned = false;
                if !read_lines(stream, &out).await {
                    return;
                }
                tracing::info!(source = %name, "{host}:{port} closed the connection; reconnecting");
            }
            Err(e) if !warned => {
                tracing::warn!(source = %name, "cannot connect to {host}:{port} ({e}); retrying");
                warned = true;
            }
            Err(_) => {}
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// Reads lines until the peer goes away. False when the job is stopping.
async fn read_lines(stream: TcpStream, out: &Outbox) -> bool {
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut chunker = LineChunker::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = match reader.read_until(b'\n', &mut line).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("socket read failed: {e}");
                0
            }
        };
        if n > 0 {
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            if let Some(full) = chunker.push(text)
                && !out.send(SourceEvent::Data(full)).await
            {
                return false;
            }
        }
        // Hand over what we have whenever nothing more is already buffered, so quiet streams stay fresh.
        if (n == 0 || reader.buffer().is_empty())
            && !chunker.is_empty()
            && !out.send(SourceEvent::Data(chunker.take())).await
        {
            return false;
        }
        if n == 0 {
            return true;
        }
    }
}
