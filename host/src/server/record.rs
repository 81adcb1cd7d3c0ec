//! What the server keeps of a job on disk, beside its spec and checkpoints: what the job should be
//! doing (so a restarted server resumes the jobs that were running), the operators its plugin streams
//! run and the models swapped in (updated by an upgrade, so a restart runs the new version) and its
//! restart count.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// What the server was asked to do with a job, or how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Desired {
    /// Run it, and start it again when the server starts.
    Running,
    /// Stopped or cancelled by a user.
    Stopped,
    /// Ended at the end of its input or a limit.
    Finished,
    /// Failed, past its restart policy.
    Failed,
}

/// A job's record (`record.json` in its folder).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRecord {
    /// What should happen to it.
    pub desired: Desired,
    /// The digest of each plugin stream's operator.
    pub plugins: BTreeMap<String, String>,
    /// When it was submitted (ms since the Unix epoch).
    pub submitted_at_ms: u64,
    /// Times it was started again after a failure or a server restart.
    pub restarts: u32,
    /// Why it failed last.
    #[serde(default)]
    pub last_error: Option<String>,
    /// The streams whose model was swapped (`weir job upgrade --model`): a restart runs them with the
    /// model in the job folder's [`models_file`], not the spec's `model` file.
    #[serde(default)]
    pub models: std::collections::BTreeSet<String>,
}

/// Where job folder `home` keeps the swapped model of `stream`: named by the stream's name in hex, so no
/// stream name (`..`, `/`) reaches outside the folder.
///
/// ```
/// let file = weir::server::record::models_file(std::path::Path::new("/j"), "../x");
/// assert_eq!(file, std::path::Path::new("/j/models/2e2e2f78.json"));
/// ```
pub fn models_file(home: &Path, stream: &str) -> std::path::PathBuf {
    let hex: String = stream.bytes().map(|b| format!("{b:02x}")).collect();
    home.join("models").join(format!("{hex}.json"))
}

/// Keeps `model` as `stream`'s swapped model in job folder `home`, atomically.
pub fn save_model(home: &Path, stream: &str, model: &str) -> std::io::Result<std::path::PathBuf> {
    let file = models_file(home, stream);
    std::fs::create_dir_all(home.join("models"))?;
    let tmp = file.with_extension("json.tmp");
    std::fs::write(&tmp, model)?;
    std::fs::rename(&tmp, &file)?;
    Ok(file)
}

impl JobRecord {
    /// Reads the record in job folder `home`.
    pub fn load(home: &Path) -> std::io::Result<JobRecord> {
        let bytes = std::fs::read(home.join("record.json"))?;
        serde_json::from_slice(&bytes).map_err(std::io::Error::other)
    }

    /// Writes the record into `home` atomically.
    pub fn save(&self, home: &Path) -> std::io::Result<()> {
        // A name of its own per write: two writers never share a temporary file.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = home.join(format!("record.json.{}.{n}.tmp", std::process::id()));
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        std::fs::rename(&tmp, home.join("record.json"))
    }
}
