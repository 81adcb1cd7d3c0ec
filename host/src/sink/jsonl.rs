//! `jsonl`: one JSON line per batch, `{"time": t, "records": [...]}`, flushed per batch. Golden tests
//! compare these lines exactly.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use weir_sdk::packed::Batch;

use super::{Sink, SinkError, render};

/// Appends batches to a JSON-lines file.
pub struct Jsonl {
    name: String,
    path: PathBuf,
    file: BufWriter<File>,
}

impl Jsonl {
    /// Creates (truncates) the file.
    pub fn create(name: &str, path: &Path) -> Result<Jsonl, SinkError> {
        let file =
            File::create(path).map_err(|source| SinkError::Io { sink: name.into(), path: path.into(), source })?;
        Ok(Jsonl { name: name.into(), path: path.into(), file: BufWriter::new(file) })
    }
}

impl Sink for Jsonl {
    fn write_batch(&mut self, time: u64, records: &Batch, order: &[usize]) -> Result<(), SinkError> {
        let records: Vec<serde_json::Value> = order.iter().map(|&i| render::json(&records.get(i))).collect();
        let line = serde_json::json!({"time": time, "records": records});
        writeln!(self.file, "{line}").and_then(|_| self.file.flush()).map_err(|source| SinkError::Io {
            sink: self.name.clone(),
            path: self.path.clone(),
            source,
        })
    }
}
