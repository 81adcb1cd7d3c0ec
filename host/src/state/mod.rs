//! Durable keyed state: one sled database per job, one tree per stateful stream (named and versioned,
//! `state/<stream>/v2`), keys prefixed by their key group so a worker scans only its own groups and a
//! job can later be rescaled group by group. A bounded cache sits in front of each tree (`store.rs`).

mod initial;
mod pages;
mod snapshot;
mod store;
mod value;

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::lock::DirLock;

pub use initial::load_initial;
pub use snapshot::KeyedPart;
pub use store::KeyedState;
pub use value::StateValue;

/// Why state could not be read or written.
#[derive(Debug, Error)]
pub enum StateError {
    /// sled failed.
    #[error("state store at {path}: {source}")]
    Store {
        /// The database directory.
        path: PathBuf,
        /// sled's error.
        source: sled::Error,
    },
    /// Another process has the database open.
    #[error(transparent)]
    InUse(#[from] crate::lock::LockError),
    /// A temporary directory could not be made.
    #[error("cannot create a temporary state directory: {0}")]
    Temp(std::io::Error),
    /// An initial-state file is unreadable or has a bad line.
    #[error("initial state {path}:{line}: {message}")]
    Initial {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when the file cannot be read at all).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A stored value does not decode (the database is damaged or from another format).
    #[error("state of stream `{stream}` holds a value that does not decode")]
    Corrupt {
        /// The stream.
        stream: String,
    },
}

/// The job's state database.
pub struct StateDb {
    db: sled::Db,
    path: PathBuf,
    cache: usize,
    // One process per directory. A temporary one is locked too, so a later job can tell it was left
    // behind by a killed process and remove it (`sweep_abandoned`).
    _lock: DirLock,
    // Removed when the job ends, when no directory was given.
    _temp: Option<tempfile::TempDir>,
}

/// The prefix of temporary state directories.
const TEMP_PREFIX: &str = "weir-state-";

/// Removes the temporary state directories that killed jobs left behind: those whose lock no live
/// process holds. A directory without a lock is not touched (its process may be making it).
fn sweep_abandoned() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = entry.file_name().to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX));
        if ours && DirLock::abandoned(&path) {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => tracing::info!(dir = %path.display(), "removed the state directory of a job that was killed"),
                Err(e) => tracing::warn!(dir = %path.display(), "cannot remove an abandoned state directory: {e}"),
            }
        }
    }
}

impl StateDb {
    /// Opens (or creates) the database in `dir`, or in a fresh temporary directory. `cache` is how many
    /// keys each stream keeps in memory per worker.
    ///
    /// ```
    /// let db = weir::state::StateDb::open(None, 1000).unwrap();
    /// let mut s = db.keyed("counts").unwrap();
    /// s.put(3, b"k", weir::state::StateValue::int(7, 1000));
    /// s.flush().unwrap();
    /// assert_eq!(s.get(3, b"k").unwrap().unwrap().as_i64(), Some(7));
    /// ```
    pub fn open(dir: Option<&Path>, cache: usize) -> Result<StateDb, StateError> {
        let (path, temp) = match dir {
            Some(d) => (d.to_path_buf(), None),
            None => {
                sweep_abandoned();
                let t = tempfile::Builder::new().prefix(TEMP_PREFIX).tempdir().map_err(StateError::Temp)?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let lock = DirLock::acquire(&path, "state directory")?;
        // sled's own page cache is bounded too; Weir's key cache sits in front of it.
        let db = sled::Config::new()
            .path(&path)
            .cache_capacity(64 << 20)
            .open()
            .map_err(|source| StateError::Store { path: path.clone(), source })?;
        Ok(StateDb { db, path, cache, _lock: lock, _temp: temp })
    }

    /// The directory the database lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The state of stream `stream`, with this job's cache bound.
    pub fn keyed(&self, stream: &str) -> Result<KeyedState, StateError> {
        KeyedState::open(&self.db, &self.path, stream, self.cache)
    }

    /// The names of the streams that hold state here.
    pub fn streams(&self) -> Vec<String> {
        let names = self.db.tree_names();
        let names = names.iter().filter_map(|n| std::str::from_utf8(n).ok());
        names.filter_map(|n| n.strip_prefix("state/")?.strip_suffix(store::VERSION).map(str::to_string)).collect()
    }

    /// Writes everything to disk.
    pub fn sync(&self) -> Result<(), StateError> {
        self.db.flush().map(|_| ()).map_err(|source| StateError::Store { path: self.path.clone(), source })
    }
}
