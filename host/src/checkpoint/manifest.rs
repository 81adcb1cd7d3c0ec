//! The manifest: what one committed checkpoint holds. It is written last, after every part file, so a
//! checkpoint directory without a valid manifest was never committed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::file::{open_json, seal_json, write_atomic};
use super::{CheckpointError, SourceOffset};

/// Manifest format version.
pub const FORMAT: u32 = 1;

/// A plugin as a checkpoint records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginRecord {
    /// The plugin's own name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// SHA-256 of the component file.
    pub hash: String,
}

/// One part file: the state of one stream on one worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    /// Stream whose state it holds.
    pub stream: String,
    /// Worker that wrote it.
    pub worker: usize,
    /// File name inside the checkpoint directory.
    pub file: String,
    /// Length in bytes.
    pub len: u64,
    /// CRC-32 of the file without its last 4 bytes.
    pub crc32: u32,
}

/// A committed checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub format: u32,
    /// Job name.
    pub job: String,
    /// The last batch whose effects the checkpoint holds; the job resumes at the next one.
    pub time: u64,
    /// Batch interval in milliseconds.
    pub interval: u64,
    /// Workers that wrote it.
    pub workers: usize,
    /// The job spec's text.
    pub spec: String,
    /// Plugins by stream.
    pub plugins: BTreeMap<String, PluginRecord>,
    /// Stateful streams and the shape of their state (see `compat.rs`).
    pub state: BTreeMap<String, String>,
    /// Where each stateful stream's keys come from (see `graph/key_origin.rs`); empty in checkpoints
    /// written before keys were recorded, which are then not checked.
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    /// Where each source resumes, by source name.
    pub offsets: BTreeMap<String, SourceOffset>,
    /// Every part file.
    pub parts: Vec<PartRecord>,
    /// Realtime clock: batches already cut (and logged in the batch log) after `time` when this
    /// checkpoint was committed; a resumed job cuts them again at their logged offsets.
    #[serde(default)]
    pub pending: Vec<u64>,
}

impl Manifest {
    /// Writes the manifest into checkpoint directory `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), CheckpointError> {
        let json = serde_json::to_string_pretty(self).expect("a manifest serializes");
        write_atomic(&dir.join("manifest.json"), seal_json(&json).as_bytes())
    }

    /// Reads and checks the manifest of checkpoint directory `dir`.
    pub fn read(dir: &Path) -> Result<Manifest, CheckpointError> {
        let path = dir.join("manifest.json");
        let text =
            std::fs::read_to_string(&path).map_err(|source| CheckpointError::Io { path: path.clone(), source })?;
        let json = open_json(&path, &text)?;
        let m: Manifest = serde_json::from_str(json)
            .map_err(|e| CheckpointError::Corrupt { path: path.clone(), reason: e.to_string() })?;
        if m.format != FORMAT {
            let reason = format!("manifest format {} is not {FORMAT}", m.format);
            return Err(CheckpointError::Corrupt { path, reason });
        }
        Ok(m)
    }
}
