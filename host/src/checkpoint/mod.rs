//! Checkpoints: what a job needs to resume after a crash exactly where it was (DESIGN.md §5).
//!
//! At each checkpointed batch `t` every stateful operator on every worker writes its state as a part
//! file (`hook.rs`), every sink confirms it has written `t`, and the batcher gives the sources' offsets
//! (`offsets.rs`); the coordinator then commits `t` by writing its manifest (`coordinator.rs`). On start,
//! the newest checkpoint that checks out is read back (`recover.rs`) if its state fits the job
//! (`compat.rs`); the job resumes at the batch after `t` and the sources replay from the offsets.

mod batch_log;
mod compat;
mod coordinator;
pub mod file;
mod files_change;
mod hook;
mod keyed;
mod manifest;
mod offsets;
mod peers;
mod recover;

use std::path::PathBuf;

use thiserror::Error;

pub use batch_log::{BatchLog, LoggedBatch};
pub use compat::{check, keys, shapes, state_shape, watermark_part};
pub use coordinator::{CheckpointPlan, Checkpointer, prune};
pub use files_change::FilesChange;
pub use hook::{HookExt, HookSlot, PartHook};
pub use keyed::{KeyedStateError, keyed_state};
pub use manifest::{Manifest, PartRecord, PluginRecord};

/// The manifest format this build writes.
/// The write-ahead log of source `source` of the job checkpointing in `root`: receivers write it, the
/// coordinator prunes what no kept checkpoint needs.
pub fn wal_dir(root: &std::path::Path, source: &str) -> PathBuf {
    root.join("wal").join(source)
}

pub fn manifest_format() -> u32 {
    manifest::FORMAT
}
pub use offsets::{OffsetMark, SourceOffset};
pub use peers::{Peers, clear_uncommitted, merge_offsets};
pub use recover::{Restored, committed, discard, latest, load, mark_committed};

/// Why a checkpoint could not be written or used.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// A file could not be read or written.
    #[error("checkpoint file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file fails its checks.
    #[error("checkpoint file {path} is damaged: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What check failed.
        reason: String,
    },
    /// The directory cannot be resumed from without guessing (a checkpoint was committed but no
    /// manifest is left, or the batch log is damaged).
    #[error(
        "cannot resume from checkpoint directory {root}: {reason}. Restore what is missing or damaged, or run with \
         `--start-over` to discard the directory and start the job from the beginning"
    )]
    Refused {
        /// The checkpoint directory.
        root: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Every committed checkpoint is damaged.
    #[error("no usable checkpoint: {0}")]
    AllDamaged(String),
    /// The checkpoint's state does not fit the job.
    #[error("cannot resume from the checkpoint: {0}")]
    Incompatible(String),
    /// A part's payload does not decode as its stream's state.
    #[error("checkpoint part of stream `{stream}` (worker {worker}) does not decode: {reason}")]
    Decode {
        /// The stream.
        stream: String,
        /// The worker.
        worker: usize,
        /// The decoder's message.
        reason: String,
    },
}
