//! The batch log, Spark's block-allocation log: with the realtime clock, which data makes up batch `t`
//! depends on when it arrived, so before batch `t` is handed to the workers the batcher records where
//! every source was when it was cut. A job that resumes from the checkpoint of an earlier batch finds
//! here the batches it had already cut (and perhaps written to its sinks) and cuts them again at the
//! same offsets, so each sink gets exactly the batches it would have got without the crash.
//!
//! One sealed JSON file per batch, `batches/batch-<t, 20 digits>.json`, written atomically; files at or
//! before the oldest kept checkpoint are deleted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::file::{open_json, seal_json, write_atomic};
use super::{CheckpointError, SourceOffset};

/// One logged batch: its time and where each source was when it was cut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedBatch {
    /// Batch time.
    pub time: u64,
    /// Source offsets at the end of the batch, by source name.
    pub offsets: BTreeMap<String, SourceOffset>,
}

/// The batch log of one job.
#[derive(Debug, Clone)]
pub struct BatchLog {
    dir: PathBuf,
}

fn time_of(path: &Path) -> Option<u64> {
    path.file_name()?.to_str()?.strip_prefix("batch-")?.strip_suffix(".json")?.parse().ok()
}

impl BatchLog {
    /// The log under the checkpoint root `root`, to read.
    pub fn new(root: &Path) -> BatchLog {
        BatchLog { dir: root.join("batches") }
    }

    /// Creates the log's directory, to record batches in; returns the log.
    pub fn create(&self) -> Result<&BatchLog, CheckpointError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| CheckpointError::Io { path: self.dir.clone(), source })?;
        Ok(self)
    }

    fn entries(&self) -> Result<Vec<(u64, PathBuf)>, CheckpointError> {
        let io = |source| CheckpointError::Io { path: self.dir.clone(), source };
        let mut found = Vec::new();
        if !self.dir.exists() {
            return Ok(found);
        }
        for e in std::fs::read_dir(&self.dir).map_err(io)? {
            let path = e.map_err(io)?.path();
            if let Some(t) = time_of(&path) {
                found.push((t, path));
            }
        }
        found.sort();
        Ok(found)
    }

    /// Records batch `b` durably (in a log whose directory [`BatchLog::create`] made); the batch may be
    /// handed to the workers once this returns.
    pub fn record(&self, b: &LoggedBatch) -> Result<(), CheckpointError> {
        let json = serde_json::to_string(b).expect("a logged batch serialises");
        write_atomic(&self.dir.join(format!("batch-{:020}.json", b.time)), seal_json(&json).as_bytes())
    }

    /// The batches logged after batch `after`, oldest first. The log stops at the first file that does
    /// not check out (a batch never logged whole was never handed to the workers).
    ///
    /// ```
    /// use weir::checkpoint::{BatchLog, LoggedBatch, SourceOffset};
    /// let dir = tempfile::tempdir().unwrap();
    /// let log = BatchLog::new(dir.path());
    /// log.create().unwrap();
    /// for t in [1000, 2000, 3000] {
    ///     let offsets = [("lines".to_string(), SourceOffset::Units(t / 100))].into();
    ///     log.record(&LoggedBatch { time: t, offsets }).unwrap();
    /// }
    /// let after: Vec<u64> = log.after(1000).unwrap().iter().map(|b| b.time).collect();
    /// assert_eq!(after, [2000, 3000]);
    /// log.prune(2000).unwrap();
    /// assert_eq!(log.after(0).unwrap().len(), 1);
    /// ```
    pub fn after(&self, after: u64) -> Result<Vec<LoggedBatch>, CheckpointError> {
        let mut batches = Vec::new();
        for (t, path) in self.entries()?.into_iter().filter(|(t, _)| *t > after) {
            let text =
                std::fs::read_to_string(&path).map_err(|source| CheckpointError::Io { path: path.clone(), source });
            let parsed = text.and_then(|text| {
                let json = open_json(&path, &text)?;
                serde_json::from_str::<LoggedBatch>(json)
                    .map_err(|e| CheckpointError::Corrupt { path: path.clone(), reason: e.to_string() })
            });
            match parsed {
                Ok(b) if b.time == t => batches.push(b),
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!("batch log ends early: {e}");
                    break;
                }
            }
        }
        Ok(batches)
    }

    /// Deletes the batches at or before `floor` (the oldest kept checkpoint's batch).
    pub fn prune(&self, floor: u64) -> Result<(), CheckpointError> {
        for (_, path) in self.entries()?.into_iter().filter(|(t, _)| *t <= floor) {
            std::fs::remove_file(&path).map_err(|source| CheckpointError::Io { path, source })?;
        }
        Ok(())
    }
}
