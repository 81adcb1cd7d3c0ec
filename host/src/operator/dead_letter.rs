//! The dead-letter output: records an operator or source refused, with the reason, so bad input never
//! silently disappears. Written to the job's `[dead_letter] path` as JSON lines, else to the log.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;
use weir_sdk::packed::RecordRef;

use crate::sink::render;

/// Where refused records go.
pub struct DeadLetters {
    job: String,
    file: Option<Mutex<BufWriter<File>>>,
    count: AtomicU64,
}

impl DeadLetters {
    /// Dead letters for `job`, appended to `path` if given.
    pub fn open(job: &str, path: Option<&Path>) -> std::io::Result<DeadLetters> {
        let file = match path {
            Some(p) => Some(Mutex::new(BufWriter::new(File::options().create(true).append(true).open(p)?))),
            None => None,
        };
        Ok(DeadLetters { job: job.to_string(), file, count: AtomicU64::new(0) })
    }

    fn write(&self, entry: serde_json::Value) {
        self.count.fetch_add(1, Ordering::Relaxed);
        match &self.file {
            Some(f) => {
                let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
                if let Err(e) = writeln!(f, "{entry}") {
                    tracing::error!("cannot write dead letter {entry}: {e}");
                }
            }
            None => tracing::warn!(target: "weir::dead_letter", "{entry}"),
        }
    }

    /// A record refused by `operator` in batch `time`.
    pub fn record(&self, operator: &str, time: u64, record: &RecordRef<'_>, reason: &str) {
        self.write(json!({"job": self.job, "operator": operator, "batch_time": time, "reason": reason, "record": render::json(record)}));
    }

    /// Raw input a source could not read as records.
    pub fn raw(&self, source: &str, input: &str, reason: &str) {
        self.write(json!({"job": self.job, "operator": source, "reason": reason, "input": input}));
    }

    /// How many dead letters were written.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Flushes the file, if any.
    pub fn flush(&self) {
        if let Some(f) = &self.file {
            let _ = f.lock().unwrap_or_else(|e| e.into_inner()).flush();
        }
    }
}
