//! The registry's index: one JSON file listing every pushed operator, rewritten whole (atomically) on
//! each change: registries hold tens to hundreds of operators, not millions.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// A pushed operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// Registry name.
    pub name: String,
    /// Registry version.
    pub version: String,
    /// SHA-256 of the component, hex.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// The world it implements.
    pub world: String,
    /// Its kind.
    pub kind: String,
    /// The parameters it declares.
    pub params: Vec<String>,
    /// The name and version it describes itself with.
    pub describes_as: String,
    /// When it was pushed (ms since the Unix epoch).
    pub pushed_at_ms: u64,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[derive(Debug, Default)]
pub(super) struct Index {
    ops: Vec<Operator>,
}

impl Index {
    pub(super) fn load(path: &Path) -> std::io::Result<Index> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let ops = serde_json::from_slice(&bytes).map_err(std::io::Error::other)?;
                Ok(Index { ops })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(e),
        }
    }

    pub(super) fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&self.ops).map_err(std::io::Error::other)?)?;
        std::fs::rename(&tmp, path)
    }

    pub(super) fn find(&self, name: &str, version: &str) -> Option<&Operator> {
        self.ops.iter().find(|o| o.name == name && o.version == version)
    }

    pub(super) fn by_digest(&self, digest: &str) -> Option<&Operator> {
        self.ops.iter().find(|o| o.digest == digest)
    }

    /// The most recently pushed version of `name`.
    pub(super) fn newest(&self, name: &str) -> Option<&Operator> {
        self.ops.iter().filter(|o| o.name == name).max_by_key(|o| o.pushed_at_ms)
    }

    pub(super) fn all(&self) -> &[Operator] {
        &self.ops
    }

    pub(super) fn add(&mut self, op: Operator) {
        self.ops.push(op);
        self.ops.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    }

    pub(super) fn remove(&mut self, name: &str, version: &str) {
        self.ops.retain(|o| !(o.name == name && o.version == version));
    }
}
