//! Checkpoints of a job across processes. The workers of every process write their part files into the
//! shared checkpoint directory, as in one process; each other process then writes one file per
//! checkpoint listing its parts (`process-I.parts`), once all of them are written. Process 0's
//! coordinator commits batch `t` when its own parts, its sinks, its offsets and every other process's
//! list are in. A list is written atomically and only after the parts it names, so one that exists is
//! complete; process 0 polls for them, since the other processes cannot call it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::file::{checkpoint_dir, checkpoint_time, open_json, seal_json, write_atomic};
use super::{CheckpointError, Checkpointer, PartRecord};

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
}

fn list_path(root: &Path, t: u64, process: usize) -> PathBuf {
    checkpoint_dir(root, t).join(format!("process-{process}.parts"))
}

/// Writes the list of `process`'s parts of the checkpoint of batch `t`.
pub(super) fn write_list(root: &Path, t: u64, process: usize, parts: &[PartRecord]) -> Result<(), CheckpointError> {
    let json = serde_json::to_string(parts).expect("part records serialize");
    write_atomic(&list_path(root, t, process), seal_json(&json).as_bytes())
}

/// The parts of batch `t` that processes 1.. have listed, or `None` while one list is missing.
pub(super) fn read_lists(root: &Path, t: u64, processes: usize) -> Result<Option<Vec<PartRecord>>, CheckpointError> {
    let mut all = Vec::new();
    for process in 1..processes {
        let path = list_path(root, t, process);
        let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
        let json = open_json(&path, &text)?;
        let parts: Vec<PartRecord> = serde_json::from_str(json)
            .map_err(|e| CheckpointError::Corrupt { path: path.clone(), reason: e.to_string() })?;
        all.extend(parts);
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
