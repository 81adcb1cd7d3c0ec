//! `jsonl`: one JSON line per batch, `{"time": t, "records": [...]}`, flushed per batch. Golden tests
//! compare these lines exactly.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use weir_sdk::packed::Batch;

use super::{Sink, SinkError};
use crate::render;

/// Appends batches to a JSON-lines file.
pub struct Jsonl {
    name: String,
    path: PathBuf,
    file: BufWriter<File>,
    /// Batches up to this time are already in the file (a resumed job replays them).
    written_through: Option<u64>,
}

impl Jsonl {
    /// Creates (truncates) the file.
    pub fn create(name: &str, path: &Path) -> Result<Jsonl, SinkError> {
        let file =
            File::create(path).map_err(|source| SinkError::Io { sink: name.into(), path: path.into(), source })?;
        Ok(Jsonl { name: name.into(), path: path.into(), file: BufWriter::new(file), written_through: None })
    }

    /// Opens the file of a job resuming from a checkpoint: a torn last line (a crash mid-write) is cut
    /// off, and batches the file already holds are not written again, so each batch appears once.
    pub fn resume(name: &str, path: &Path) -> Result<Jsonl, SinkError> {
        let io = |source| SinkError::Io { sink: name.into(), path: path.into(), source };
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Jsonl::create(name, path),
            Err(e) => return Err(io(e)),
        };
        let whole = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let last = text[..whole].split(|b| *b == b'\n').rfind(|l| !l.is_empty());
        let written_through = last
            .and_then(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
            .and_then(|v| v.get("time").and_then(serde_json::Value::as_u64));
        let file = std::fs::OpenOptions::new().write(true).open(path).map_err(io)?;
        file.set_len(whole as u64).map_err(io)?;
        let mut file = BufWriter::new(file);
        std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0)).map_err(io)?;
        Ok(Jsonl { name: name.into(), path: path.into(), file, written_through })
    }
}

impl Sink for Jsonl {
    fn holds_through(&self) -> Option<u64> {
        self.written_through
    }

    fn write_batch(&mut self, time: u64, records: &Batch, order: &[usize]) -> Result<(), SinkError> {
        if self.written_through.is_some_and(|w| time <= w) {
            tracing::info!(sink = %self.name, batch_time = time, "batch already in the file; not written again");
            return Ok(());
        }
        let io = |source| SinkError::Io { sink: self.name.clone(), path: self.path.clone(), source };
        write!(self.file, r#"{{"time":{time},"records":["#).map_err(io)?;
        for (n, &i) in order.iter().enumerate() {
            if n > 0 {
                self.file.write_all(b",").map_err(io)?;
            }
            serde_json::to_writer(&mut self.file, &render::RecordJson(records.get(i))).map_err(|e| io(e.into()))?;
        }
        self.file.write_all(b"]}\n").and_then(|_| self.file.flush()).map_err(io)
    }
}
