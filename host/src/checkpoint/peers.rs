//! Checkpoints of a job across processes. The workers of every process write their part files into the
//! shared checkpoint directory, as in one process; each other process then writes one file per
//! checkpoint listing its parts (`process-I.parts`), once all of them are written. Process 0's
//! coordinator commits batch `t` when its own parts, its sinks, its offsets and every other process's
//! list are in. A list is written atomically and only after the parts it names, so one that exists is
//! complete; process 0 polls for them, since the other processes cannot call it.
//!
//! A spread source (Kafka: partition `p` is read by process `p mod processes`) is read on every process;
//! each lists its own offsets of the batch beside its parts, and process 0 merges them into the
//! manifest's, so a checkpoint holds every partition whatever process read it.

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

    /// This process's share of a spread source's offset: the partitions it reads. Offsets of other
    /// kinds are whole.
    ///
    /// ```
    /// use weir::checkpoint::{Peers, SourceOffset};
    /// let all = SourceOffset::Own(serde_json::json!({"0": 5, "1": 7, "2": 9}));
    /// let first = Peers { process: 0, processes: 2 };
    /// assert_eq!(first.share(&all), SourceOffset::Own(serde_json::json!({"0": 5, "2": 9})));
    /// assert_eq!(first.share(&SourceOffset::Units(3)), SourceOffset::Units(3));
    /// ```
    pub fn share(&self, offset: &SourceOffset) -> SourceOffset {
        match offset {
            SourceOffset::Own(serde_json::Value::Object(parts)) => {
                let mine = parts.iter().filter(|(p, _)| p.parse().is_ok_and(|p| self.owns_partition(p)));
                SourceOffset::Own(serde_json::Value::Object(mine.map(|(p, o)| (p.clone(), o.clone())).collect()))
            }
            other => other.clone(),
        }
    }
}

/// Puts another process's offsets of a spread source into `into`: their partitions join these. An offset
/// that is not per partition stays as `into` has it (only process 0 reads such a source).
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
        let SourceOffset::Own(serde_json::Value::Object(parts)) = theirs else { continue };
        match into.entry(source.clone()).or_insert_with(|| SourceOffset::Own(serde_json::json!({}))) {
            SourceOffset::Own(serde_json::Value::Object(mine)) => {
                mine.extend(parts.iter().map(|(p, o)| (p.clone(), o.clone())));
            }
            // Nothing read on process 0 yet: the others' partitions are all there is.
            mine @ SourceOffset::Start => *mine = theirs.clone(),
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
