//! Directory locks: one weir process at a time in a checkpoint or state directory. The lock is an
//! advisory `flock` on a `LOCK` file in the directory, held for as long as the [`DirLock`] lives; the
//! kernel drops it when the process dies (even by `kill -9`), so a stale lock never needs clearing by
//! hand. The file holds the holder's process id, so a refusal can name it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Why a directory could not be locked.
#[derive(Debug, Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error("{what} {dir} is in use by another weir process{holder}")]
    Held {
        /// What the directory is, e.g. "checkpoint directory".
        what: &'static str,
        /// The directory.
        dir: PathBuf,
        /// " (pid N)" when the holder wrote its pid.
        holder: String,
    },
    /// The lock file could not be made or locked.
    #[error("cannot lock {what} {dir}: {source}")]
    Io {
        /// What the directory is.
        what: &'static str,
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A held directory lock; dropping it releases the lock.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// The lock file's name inside a locked directory.
pub const LOCK_FILE: &str = "LOCK";

impl DirLock {
    /// Locks `dir` (creating it), or says who holds it. `what` names the directory in errors.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let held = weir::lock::DirLock::acquire(dir.path(), "checkpoint directory").unwrap();
    /// let again = weir::lock::DirLock::acquire(dir.path(), "checkpoint directory").unwrap_err();
    /// assert!(again.to_string().contains("is in use by another weir process (pid"), "{again}");
    /// drop(held);
    /// assert!(weir::lock::DirLock::acquire(dir.path(), "checkpoint directory").is_ok());
    /// ```
    pub fn acquire(dir: &Path, what: &'static str) -> Result<DirLock, LockError> {
        let io = |source| LockError::Io { what, dir: dir.to_path_buf(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK_FILE))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                let holder = if pid.is_empty() { String::new() } else { format!(" (pid {pid})") };
                return Err(LockError::Held { what, dir: dir.to_path_buf(), holder });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .map_err(io)?;
        Ok(DirLock { _file: file })
    }

    /// True when `dir` holds a lock file that no live process holds (its holder died or ended). A lock
    /// file without a pid is being made (the pid is written once the lock is held): not abandoned.
    pub fn abandoned(dir: &Path) -> bool {
        let Ok(mut file) = OpenOptions::new().read(true).write(true).open(dir.join(LOCK_FILE)) else { return false };
        let mut pid = String::new();
        file.read_to_string(&mut pid).is_ok() && !pid.trim().is_empty() && file.try_lock().is_ok()
    }
}
