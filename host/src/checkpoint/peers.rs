//! Checkpoints of a job across processes. The workers of every process write their part files into the
//! shared checkpoint directory, as in one process; each other process then writes one file per
//! checkpoint listing its parts (`process-I.parts`), once all of them are written. Process 0's
//! coordinator commits batch `t` when its own parts, its sinks, its offsets and every other process's
//! list are in. A list is written atomically and only after the parts it names, so one that exists is
//! complete; process 0 polls for them, since the other processes cannot call it.
//!
//! A spread source (Kafka: partition `p` is read by process `p mod processes`; a directory: each file by
//! the process its name's hash picks) is read on every process; each lists its own offsets of the batch
//! beside its parts, and process 0 merges them into the manifest's, so a checkpoint holds every
//! partition and file whatever process read it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::file::{checkpoint_dir, checkpoint_time, open_json, seal_json, write_atomic};
use super::{CheckpointError, Checkpointer, PartRecord, SourceOffset};

/// Where this process sits among the processes that write one job's checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peers {
    /// This process's index; process 0 commits.
    pub process: usize,
    /// How many processes run the job.
    pub processes: usize,
}

impl Default for Peers {
    fn default() -> Self {
        Peers { process: 0, processes: 1 }
    }
}

impl Peers {
    /// True for the process that commits (the only one of a job in one process).
    pub fn commits(&self) -> bool {
        self.process == 0
    }

    /// This process's own folder in the checkpoint directory `root`, for its lock and its batch log:
    /// `root` itself for process 0, `root/process-I` for the others.
    ///
    /// ```
    /// use std::path::Path;
    /// let third = weir::checkpoint::Peers { process: 2, processes: 3 };
    /// assert_eq!(third.own_dir(Path::new("ck")), Path::new("ck/process-2"));
    /// ```
    pub fn own_dir(&self, root: &Path) -> PathBuf {
        match self.commits() {
            true => root.to_path_buf(),
            false => root.join(format!("process-{}", self.process)),
        }
    }

    /// True when this process reads partition `p` of a spread source.
    ///
    /// ```
    /// let second = weir::checkpoint::Peers { process: 1, processes: 2 };
    /// assert_eq!((0..5).filter(|p| second.owns_partition(*p)).collect::<Vec<_>>(), [1, 3]);
    /// ```
    pub fn owns_partition(&self, p: i32) -> bool {
        p.rem_euclid(self.processes.max(1) as i32) as usize == self.process
    }

    /// True when this process reads the file named `name` of a spread directory source: the CRC-32 of
    /// the name, modulo the processes. A hash, not an order, so a file keeps its process however many
    /// files come and go; it moves only when the number of processes changes.
    ///
    /// ```
    /// use weir::checkpoint::Peers;
    /// let [first, second] = [0, 1].map(|process| Peers { process, processes: 2 });
    /// let names = ["a.txt", "b.txt", "c.txt", "d.txt"];
    /// assert!(names.iter().all(|n| first.owns_file(n) != second.owns_file(n)));
    /// assert!(names.iter().all(|n| Peers::default().owns_file(n)));
    /// ```
    pub fn owns_file(&self, name: &str) -> bool {
        crc32fast::hash(name.as_bytes()) as usize % self.processes.max(1) == self.process
    }

    /// This process's share of a spread source's offset: the partitions or files it reads (a file it
    /// takes over partly read becomes its current one). Offsets of other kinds are whole.
    ///
    /// ```
    /// use weir::checkpoint::{OffsetMark, Peers, SourceOffset};
    /// let all = SourceOffset::Own(serde_json::json!({"0": 5, "1": 7, "2": 9}));
    /// let first = Peers { process: 0, processes: 2 };
    /// assert_eq!(first.share(&all), SourceOffset::Own(serde_json::json!({"0": 5, "2": 9})));
    /// assert_eq!(first.share(&SourceOffset::Units(3)), SourceOffset::Units(3));
    /// let mut files = SourceOffset::Start;
    /// files.apply(OffsetMark::FileDone("a".into()));
    /// files.apply(OffsetMark::FileAt("b".into(), 4));
    /// for process in [0, 1] {
    ///     let peers = Peers { process, processes: 2 };
    ///     let share = peers.share(&files);
    ///     assert_eq!(share.file_position().is_some(), peers.owns_file("b"));
    ///     assert_eq!(share.files_done().unwrap().contains("a"), peers.owns_file("a"));
    /// }
    /// ```
    pub fn share(&self, offset: &SourceOffset) -> SourceOffset {
        match offset {
            SourceOffset::Own(serde_json::Value::Object(parts)) => {
                let mine = parts.iter().filter(|(p, _)| p.parse().is_ok_and(|p| self.owns_partition(p)));
                SourceOffset::Own(serde_json::Value::Object(mine.map(|(p, o)| (p.clone(), o.clone())).collect()))
            }
            SourceOffset::Files { done, skipped, .. } => {
                let mine = |f: &&String| self.owns_file(f);
                let mut reading: BTreeMap<String, u64> =
                    offset.positions().filter(|(f, _)| self.owns_file(f)).map(|(f, p)| (f.to_string(), p)).collect();
                let current = reading.pop_first();
                SourceOffset::Files {
                    done: done.iter().filter(mine).cloned().collect(),
                    skipped: skipped.iter().filter(mine).cloned().collect(),
                    current,
                    reading,
                }
            }
            other => other.clone(),
        }
    }
}

/// Puts another process's offsets of a spread source into `into`: their partitions, or their files, join
/// these (their partly read files as `reading`). Any other offset stays as `into` has it (only process 0
/// reads such a source).
///
/// ```
/// use std::collections::BTreeMap;
/// use weir::checkpoint::{SourceOffset, merge_offsets};
/// let mut mine: BTreeMap<String, SourceOffset> =
///     [("k".into(), SourceOffset::Own(serde_json::json!({"0": 5})))].into();
/// let theirs = [("k".into(), SourceOffset::Own(serde_json::json!({"1": 7})))].into();
/// merge_offsets(&mut mine, &theirs);
/// assert_eq!(mine["k"], SourceOffset::Own(serde_json::json!({"0": 5, "1": 7})));
/// ```
pub fn merge_offsets(into: &mut BTreeMap<String, SourceOffset>, from: &BTreeMap<String, SourceOffset>) {
    for (source, theirs) in from {
        if !matches!(theirs, SourceOffset::Own(_) | SourceOffset::Files { .. }) {
            continue;
        }
        let mine = into.entry(source.clone()).or_default();
        match (mine, theirs) {
            // Nothing read on process 0 yet: the others' partitions or files are all there is.
            (mine @ SourceOffset::Start, SourceOffset::Own(_) | SourceOffset::Files { .. }) => *mine = theirs.clone(),
            (
                SourceOffset::Own(serde_json::Value::Object(mine)),
                SourceOffset::Own(serde_json::Value::Object(parts)),
            ) => {
                mine.extend(parts.iter().map(|(p, o)| (p.clone(), o.clone())));
            }
            (SourceOffset::Files { done, skipped, reading, .. }, SourceOffset::Files { .. }) => {
                done.extend(theirs.files_done().into_iter().flatten().cloned());
                skipped.extend(theirs.files_skipped().into_iter().flatten().cloned());
                reading.extend(theirs.positions().map(|(f, p)| (f.to_string(), p)));
            }
            _ => {}
        }
    }
}

/// What another process lists for the checkpoint of one batch: its parts, and where its spread
/// sources were when it cut that batch.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Listed {
    pub(super) parts: Vec<PartRecord>,
    #[serde(default)]
    pub(super) offsets: BTreeMap<String, SourceOffset>,
}

fn list_path(root: &Path, t: u64, process: usize) -> PathBuf {
    checkpoint_dir(root, t).join(format!("process-{process}.parts"))
}

/// Writes the list of `process`'s parts and offsets of the checkpoint of batch `t`.
pub(super) fn write_list(root: &Path, t: u64, process: usize, listed: &Listed) -> Result<(), CheckpointError> {
    let json = serde_json::to_string(listed).expect("part records serialize");
    // A job without state writes no part: the list may be the first file of its checkpoint.
    let dir = checkpoint_dir(root, t);
    std::fs::create_dir_all(&dir).map_err(|source| CheckpointError::Io { path: dir, source })?;
    write_atomic(&list_path(root, t, process), seal_json(&json).as_bytes())
}

/// The parts and offsets of batch `t` that processes 1.. have listed, or `None` while one list is missing.
pub(super) fn read_lists(root: &Path, t: u64, processes: usize) -> Result<Option<Listed>, CheckpointError> {
    let mut all = Listed::default();
    for process in 1..processes {
        let path = list_path(root, t, process);
        let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
        let json = open_json(&path, &text)?;
        let listed: Listed = serde_json::from_str(json)
            .map_err(|e| CheckpointError::Corrupt { path: path.clone(), reason: e.to_string() })?;
        all.parts.extend(listed.parts);
        merge_offsets(&mut all.offsets, &listed.offsets);
    }
    Ok(Some(all))
}

/// Removes the checkpoint directories under `root` that were never committed: a run that crashed may
/// have left parts and lists there that this run must not take for its own. Called by process 0
/// before the other processes connect, so before any of them writes.
pub fn clear_uncommitted(root: &Path) -> Result<(), CheckpointError> {
    let io = |path: PathBuf| move |source| CheckpointError::Io { path, source };
    let Ok(entries) = std::fs::read_dir(root) else { return Ok(()) };
    for entry in entries {
        let path = entry.map_err(io(root.to_path_buf()))?.path();
        let is_checkpoint = path.file_name().and_then(|n| n.to_str()).and_then(checkpoint_time).is_some();
        if is_checkpoint && !path.join("manifest.json").exists() {
            std::fs::remove_dir_all(&path).map_err(io(path.clone()))?;
        }
    }
    Ok(())
}

/// How often process 0 looks for the other processes' lists.
const POLL: Duration = Duration::from_millis(5);

/// Process 0 of several: looks for the other processes' lists until the job's coordinator is closed.
pub(super) fn watch(ckpt: &Arc<Checkpointer>) {
    let weak: Weak<Checkpointer> = Arc::downgrade(ckpt);
    let spawned = std::thread::Builder::new().name("weir-checkpoint-peers".into()).spawn(move || {
        while let Some(c) = weak.upgrade().filter(|c| !c.is_closed()) {
            c.retry_pending();
            drop(c);
            std::thread::sleep(POLL);
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the thread that collects other processes' checkpoint parts: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::OffsetMark;

    /// What process `process` of `processes` read of the files `names`: all done but `partly`, read to
    /// byte 5.
    fn read_by(process: usize, processes: usize, names: &[String], partly: Option<&str>) -> SourceOffset {
        let peers = Peers { process, processes };
        let mut at = SourceOffset::Start;
        for f in names.iter().filter(|f| peers.owns_file(f) && Some(f.as_str()) != partly) {
            at.apply(OffsetMark::FileAt(f.clone(), 9));
            at.apply(OffsetMark::FileDone(f.clone()));
        }
        if let Some(f) = partly.filter(|f| peers.owns_file(f)) {
            at.apply(OffsetMark::FileAt(f.into(), 5));
        }
        at
    }

    #[test]
    fn directory_offsets_merge_and_share_out_again_on_any_number_of_processes() {
        let names: Vec<String> = (0..40).map(|i| format!("f{i:02}.txt")).collect();
        let owner = |f: &str, n: usize| (0..n).find(|p| Peers { process: *p, processes: n }.owns_file(f)).unwrap();
        // One partly read file on each of 3 processes.
        let partly: Vec<&String> = (0..3).map(|p| names.iter().find(|f| owner(f, 3) == p).unwrap()).collect();
        let mut merged: BTreeMap<String, SourceOffset> = BTreeMap::new();
        for (p, partly) in partly.iter().enumerate() {
            let theirs = read_by(p, 3, &names, Some(partly.as_str()));
            // What a process lists is exactly its share of the merged offset, so it resumes where it was.
            assert_eq!(Peers { process: p, processes: 3 }.share(&theirs), theirs);
            merge_offsets(&mut merged, &BTreeMap::from([("in".to_string(), theirs)]));
        }
        let all = &merged["in"];
        assert_eq!(all.files_done().unwrap().len(), 37);
        assert_eq!(all.positions().count(), 3, "{all:?}");
        for (p, partly) in partly.iter().enumerate() {
            let peers = Peers { process: p, processes: 3 };
            assert_eq!(peers.share(all), read_by(p, 3, &names, Some(partly.as_str())), "process {p}");
        }
        // Rescaled to 2 and to 1: every file once, each partly read file from its byte.
        for n in [1, 2] {
            let shares: Vec<SourceOffset> = (0..n).map(|p| Peers { process: p, processes: n }.share(all)).collect();
            let done: usize = shares.iter().map(|s| s.files_done().unwrap().len()).sum();
            assert_eq!(done, 37, "{n} processes");
            for f in &partly {
                let at: Vec<u64> = shares.iter().filter_map(|s| s.position_of(f)).collect();
                assert_eq!(at, [5], "{f} on {n} processes");
            }
        }
    }

    #[test]
    fn a_file_left_unfinished_keeps_its_place_when_another_is_read() {
        let mut at = SourceOffset::Start;
        at.apply(OffsetMark::FileAt("a".into(), 5));
        at.apply(OffsetMark::FileAt("b".into(), 3));
        at.apply(OffsetMark::FileDone("b".into()));
        at.apply(OffsetMark::FileAt("a".into(), 8));
        assert_eq!(at.positions().collect::<Vec<_>>(), [("a", 8)]);
        at.apply(OffsetMark::FileDone("a".into()));
        assert_eq!(at.positions().count(), 0);
        assert_eq!(at.files_done().unwrap().len(), 2);
    }
}
