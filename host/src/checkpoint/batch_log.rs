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
//! A directory offset is written as its change from the entry before (`files_change.rs`) when that
//! entry was written by the same run, so an entry stays the size of one batch's files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::file::{open_json, seal_json, write_atomic};
use super::files_change::FilesChange;
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

/// A logged batch as written: directory offsets that follow the entry before are given as changes.
#[derive(Serialize, Deserialize)]
struct Entry {
    time: u64,
    #[serde(default)]
    offsets: BTreeMap<String, SourceOffset>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    changed: BTreeMap<String, Changed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<u64>,
}

/// A directory offset's change, and how many files the whole offset lists, to check it is put back
/// onto the right offset.
#[derive(Serialize, Deserialize)]
struct Changed {
    #[serde(flatten)]
    change: FilesChange,
    files: usize,
}

impl Entry {
    /// `b` as written, its directory offsets as changes from `before` when `b` follows it.
    fn of(b: &LoggedBatch, before: Option<&LoggedBatch>) -> Entry {
        let mut entry = Entry { time: b.time, offsets: BTreeMap::new(), changed: BTreeMap::new(), after: b.after };
        for (source, offset) in &b.offsets {
            let prev = before.filter(|p| Some(p.time) == b.after).and_then(|p| p.offsets.get(source));
            match prev.and_then(|p| FilesChange::between(p, offset)) {
                Some(change) => {
                    let files = offset.files_done().map_or(0, |d| d.len());
                    entry.changed.insert(source.clone(), Changed { change, files });
                }
                None => _ = entry.offsets.insert(source.clone(), offset.clone()),
            }
        }
        entry
    }

    /// The whole batch, its changes put onto `before` (the offsets of the batch it follows).
    fn resolve(self, before: &BTreeMap<String, SourceOffset>) -> Result<LoggedBatch, String> {
        let mut offsets = self.offsets;
        for (source, Changed { change, files }) in self.changed {
            let offset = change.apply_to(before.get(&source).unwrap_or(&SourceOffset::Start));
            let listed = offset.files_done().map_or(0, |d| d.len());
            if listed != files {
                let reason = format!(
                    "source `{source}`: its change does not fit the batch before ({listed} files, not {files})"
                );
                return Err(reason);
            }
            offsets.insert(source, offset);
        }
        Ok(LoggedBatch { time: self.time, offsets, after: self.after })
    }
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
    /// handed to the workers once this returns. `before`: the batch this run logged before it, if any.
    pub fn record(&self, b: &LoggedBatch, before: Option<&LoggedBatch>) -> Result<(), CheckpointError> {
        let json = serde_json::to_string(&Entry::of(b, before)).expect("a logged batch serialises");
        write_atomic(&self.dir.join(format!("batch-{:020}.json", b.time)), seal_json(&json).as_bytes())
    }

    /// The batches logged after batch `after` (the checkpoint resumed from, 0 for none, whose offsets
    /// are `base`), oldest first. Every entry must check out and follow the one before it, and every batch in `pending` (the
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
    ///     log.record(&LoggedBatch { time: t, offsets, after: Some(t - 1000) }, None).unwrap();
    /// }
    /// let base = Default::default();
    /// let after: Vec<u64> = log.after(1000, &base, &[2000]).unwrap().iter().map(|b| b.time).collect();
    /// assert_eq!(after, [2000, 3000]);
    /// std::fs::remove_file(dir.path().join("batches/batch-00000000000000002000.json")).unwrap();
    /// let refused = log.after(1000, &base, &[]).unwrap_err().to_string();
    /// assert!(refused.contains("batch 2000 is missing"), "{refused}");
    /// log.prune(2000).unwrap();
    /// assert_eq!(log.after(2000, &base, &[]).unwrap().len(), 1);
    /// ```
    pub fn after(
        &self,
        after: u64,
        base: &BTreeMap<String, SourceOffset>,
        pending: &[u64],
    ) -> Result<Vec<LoggedBatch>, CheckpointError> {
        let mut batches: Vec<LoggedBatch> = Vec::new();
        for (t, path) in self.entries()?.into_iter().filter(|(t, _)| *t > after) {
            let text =
                std::fs::read_to_string(&path).map_err(|source| CheckpointError::Io { path: path.clone(), source })?;
            let corrupt = |reason: String| CheckpointError::Corrupt { path: path.clone(), reason };
            let json = open_json(&path, &text)?;
            let entry = serde_json::from_str::<Entry>(json).map_err(|e| corrupt(e.to_string()))?;
            if entry.time != t {
                return Err(corrupt(format!("it holds batch {}, its name says {t}", entry.time)));
            }
            let before = batches.last().map_or(after, |p| p.time);
            match entry.after {
                Some(prev) if prev > before => return Err(self.missing(prev)),
                Some(prev) if prev < before => {
                    return Err(corrupt(format!("it follows batch {prev}, but batch {before} is logged before it")));
                }
                _ => {}
            }
            let b = entry.resolve(batches.last().map_or(base, |p| &p.offsets)).map_err(corrupt)?;
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
        let b = open_json(&path, &text).ok().and_then(|json| serde_json::from_str::<Entry>(json).ok());
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
