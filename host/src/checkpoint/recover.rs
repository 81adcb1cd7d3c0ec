//! Finding the checkpoint to resume from: the newest one whose manifest and parts all check out. A
//! damaged checkpoint is skipped with a warning naming the file, and the one before it is tried; when
//! every checkpoint is damaged the job refuses to start rather than resume from wrong state. So does a
//! directory whose checkpoints are gone but whose logs show it had some: starting afresh there would
//! write again, differently, batches its sinks already hold.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::file::{checkpoint_time, read_part, write_atomic};
use super::{BatchLog, CheckpointError, Manifest};

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
    if !damaged.is_empty() {
        return Err(CheckpointError::AllDamaged(damaged.join("; ")));
    }
    match orphaned(root)? {
        Some(reason) => Err(CheckpointError::Refused { root: root.to_path_buf(), reason }),
        None => Ok(None),
    }
}

/// A file at the root whose presence says a checkpoint was committed there once.
const EVER_COMMITTED: &str = "COMMITTED";

/// Records, once the first manifest of `root` is written, that it holds committed checkpoints. After
/// the manifest, not before: a crash between the two must not leave a mark with no manifest, which a
/// restart would refuse as lost checkpoints. A crash the other way round is mended by the next start,
/// which marks the checkpoint it resumes from.
pub fn mark_committed(root: &Path, time: u64) -> Result<(), CheckpointError> {
    let path = root.join(EVER_COMMITTED);
    if path.exists() { Ok(()) } else { write_atomic(&path, format!("first checkpoint: batch {time}\n").as_bytes()) }
}

/// With no committed checkpoint in `root`: why the directory is not a job that simply never got that
/// far (a crash before the first checkpoint leaves logs a fresh start replays), if it is not.
fn orphaned(root: &Path) -> Result<Option<String>, CheckpointError> {
    if root.join(EVER_COMMITTED).exists() {
        return Ok(Some("it held committed checkpoints and every manifest is gone".into()));
    }
    // Entries before the first batch are pruned only once a checkpoint covers them.
    if let Some((t, after)) = BatchLog::new(root).first()?.filter(|(_, after)| *after != 0) {
        return Ok(Some(format!("its batch log starts at batch {t}, after batch {after}, whose checkpoint is gone")));
    }
    let wal = root.join("wal");
    for source in std::fs::read_dir(&wal).into_iter().flatten().flatten() {
        let segments = crate::receiver::wal::segments(&source.path())
            .map_err(|e| CheckpointError::Io { path: source.path(), source: e })?;
        if let Some((start, path)) = segments.first().filter(|(start, _)| *start > 0) {
            let reason = format!(
                "its write-ahead log {} starts at position {start}, pruned by a checkpoint that is gone",
                path.display()
            );
            return Ok(Some(reason));
        }
    }
    Ok(None)
}

/// Discards everything a job keeps under checkpoint directory `root` (checkpoints, the batch log,
/// write-ahead logs, source records) but its lock, so the job starts from the beginning.
pub fn discard(root: &Path) -> Result<(), CheckpointError> {
    let io = |path: PathBuf| move |source| CheckpointError::Io { path, source };
    let Ok(entries) = std::fs::read_dir(root) else { return Ok(()) };
    for entry in entries {
        let path = entry.map_err(io(root.to_path_buf()))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name == crate::lock::LOCK_FILE {
            continue;
        }
        let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        removed.map_err(io(path.clone()))?;
    }
    tracing::warn!(dir = %root.display(), "--start-over: the checkpoint directory was emptied; the job starts from the beginning");
    Ok(())
}
