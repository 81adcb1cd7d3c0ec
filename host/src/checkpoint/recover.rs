//! Finding the checkpoint to resume from: the newest one whose manifest and parts all check out. A
//! damaged checkpoint is skipped with a warning naming the file, and the one before it is tried; when
//! every checkpoint is damaged the job refuses to start rather than resume from wrong state.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::file::{checkpoint_time, read_part};
use super::{CheckpointError, Manifest};

/// A checkpoint read back and checked.
pub struct Restored {
    /// Its directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// Part payloads by stream and worker.
    pub parts: HashMap<(String, usize), Vec<u8>>,
}

/// Reads and checks one checkpoint directory.
pub fn load(dir: &Path) -> Result<Restored, CheckpointError> {
    let manifest = Manifest::read(dir)?;
    let mut parts = HashMap::new();
    for p in &manifest.parts {
        let payload = read_part(&dir.join(&p.file), p.len, p.crc32)?;
        parts.insert((p.stream.clone(), p.worker), payload);
    }
    Ok(Restored { dir: dir.to_path_buf(), manifest, parts })
}

/// Committed checkpoint directories under `root` (with a manifest file), newest first.
pub fn committed(root: &Path) -> Result<Vec<(u64, PathBuf)>, CheckpointError> {
    let io = |source| CheckpointError::Io { path: root.to_path_buf(), source };
    let mut found = Vec::new();
    if !root.exists() {
        return Ok(found);
    }
    for entry in std::fs::read_dir(root).map_err(io)? {
        let entry = entry.map_err(io)?;
        let Some(t) = entry.file_name().to_str().and_then(checkpoint_time) else { continue };
        if entry.path().join("manifest.json").exists() {
            found.push((t, entry.path()));
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    Ok(found)
}

/// The newest good checkpoint under `root`, `None` when there is none yet.
pub fn latest(root: &Path) -> Result<Option<Restored>, CheckpointError> {
    let mut damaged = Vec::new();
    for (t, dir) in committed(root)? {
        match load(&dir) {
            Ok(r) => {
                if !damaged.is_empty() {
                    tracing::warn!(batch_time = t, "resuming from an older checkpoint: {}", damaged.join("; "));
                }
                return Ok(Some(r));
            }
            Err(e) => {
                tracing::warn!(batch_time = t, "checkpoint unusable, trying the one before: {e}");
                damaged.push(e.to_string());
            }
        }
    }
    if damaged.is_empty() { Ok(None) } else { Err(CheckpointError::AllDamaged(damaged.join("; "))) }
}
