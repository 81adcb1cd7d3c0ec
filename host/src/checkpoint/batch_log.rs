//! The batch log, Spark's block-allocation log: with the realtime clock, which data makes up batch `t`
//! depends on when it arrived, so before batch `t` is handed to the workers the batcher records where
//! every source was when it was cut. A job that resumes from the checkpoint of an earlier batch finds
//! here the batches it had already cut (and perhaps written to its sinks) and cuts them again at the
//! same offsets, so each sink gets exactly the batches it would have got without the crash.
//!
//! One sealed JSON file per batch, `batches/batch-<t, 20 digits>.json`, written atomically; files at or
//! before the oldest kept checkpoint are deleted. Each entry names the batch cut before it (`after`), so
//! the entries after a checkpoint form a chain: a damaged or missing entry inside it is found and the job
//! refused, never cut again from guessed offsets (which would put one batch's data in a later one).

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
    /// The batch cut just before this one (0 for a job's first batch); `None` in logs written before
    /// entries were chained, which are then not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
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

    /// The batches logged after batch `after` (the checkpoint resumed from, 0 for none), oldest first.
    /// Every entry must check out and follow the one before it, and every batch in `pending` (the
    /// checkpoint's list of batches already cut) must be there: otherwise cutting again would guess,
    /// so the log is refused with the entry named.
    ///
    /// ```
    /// use weir::checkpoint::{BatchLog, LoggedBatch, SourceOffset};
    /// let dir = tempfile::tempdir().unwrap();
    /// let log = BatchLog::new(dir.path());
    /// log.create().unwrap();
    /// for t in [1000, 2000, 3000] {
    ///     let offsets = [("lines".to_string(), SourceOffset::Units(t / 100))].into();
    ///     log.record(&LoggedBatch { time: t, offsets, after: Some(t - 1000) }).unwrap();
    /// }
    /// let after: Vec<u64> = log.after(1000, &[2000]).unwrap().iter().map(|b| b.time).collect();
    /// assert_eq!(after, [2000, 3000]);
    /// std::fs::remove_file(dir.path().join("batches/batch-00000000000000002000.json")).unwrap();
    /// let refused = log.after(1000, &[]).unwrap_err().to_string();
    /// assert!(refused.contains("batch 2000 is missing"), "{refused}");
    /// log.prune(2000).unwrap();
    /// assert_eq!(log.after(2000, &[]).unwrap().len(), 1);
    /// ```
    pub fn after(&self, after: u64, pending: &[u64]) -> Result<Vec<LoggedBatch>, CheckpointError> {
        let mut batches: Vec<LoggedBatch> = Vec::new();
        for (t, path) in self.entries()?.into_iter().filter(|(t, _)| *t > after) {
            let text =
                std::fs::read_to_string(&path).map_err(|source| CheckpointError::Io { path: path.clone(), source })?;
            let corrupt = |reason: String| CheckpointError::Corrupt { path: path.clone(), reason };
            let json = open_json(&path, &text)?;
            let b = serde_json::from_str::<LoggedBatch>(json).map_err(|e| corrupt(e.to_string()))?;
            if b.time != t {
                return Err(corrupt(format!("it holds batch {}, its name says {t}", b.time)));
            }
            let before = batches.last().map_or(after, |p| p.time);
            match b.after {
                Some(prev) if prev > before => return Err(self.missing(prev)),
                Some(prev) if prev < before => {
                    return Err(corrupt(format!("it follows batch {prev}, but batch {before} is logged before it")));
                }
                _ => {}
            }
            batches.push(b);
        }
        if let Some(&t) = pending.iter().find(|t| !batches.iter().any(|b| b.time == **t)) {
            return Err(self.missing(t));
        }
        Ok(batches)
    }

    fn missing(&self, time: u64) -> CheckpointError {
        let reason = format!("the entry of batch {time} is missing: the batches after it cannot be cut again exactly");
        CheckpointError::Corrupt { path: self.dir.clone(), reason }
    }

    /// The oldest entry's batch and the batch it follows, when the log has one that checks out and
    /// records what it follows.
    pub fn first(&self) -> Result<Option<(u64, u64)>, CheckpointError> {
        let Some((_, path)) = self.entries()?.into_iter().next() else { return Ok(None) };
        let text =
            std::fs::read_to_string(&path).map_err(|source| CheckpointError::Io { path: path.clone(), source })?;
        let b = open_json(&path, &text).ok().and_then(|json| serde_json::from_str::<LoggedBatch>(json).ok());
        Ok(b.and_then(|b| Some((b.time, b.after?))))
    }

    /// Deletes the batches at or before `floor` (the oldest kept checkpoint's batch).
    pub fn prune(&self, floor: u64) -> Result<(), CheckpointError> {
        for (_, path) in self.entries()?.into_iter().filter(|(t, _)| *t <= floor) {
            std::fs::remove_file(&path).map_err(|source| CheckpointError::Io { path, source })?;
        }
        Ok(())
    }
}
