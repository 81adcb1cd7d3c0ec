//! The operator registry of `weir serve`: components pushed once, kept by content (SHA-256) under the
//! server's data dir, indexed by `name@version`, described and precompiled when pushed. Jobs name them
//! as `name@version`, `name` (the newest version) or `sha256:<digest>`. Versions are immutable.

mod index;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use thiserror::Error;

use index::Index;
pub use index::Operator;
pub(crate) use index::now_ms;

use crate::operator::wasm::PluginEngine;
use crate::operator::wasm::engine::check_header;

/// Why the registry refused a request.
#[derive(Debug, Error)]
pub enum RegistryError {
    /// The name, version or reference is malformed.
    #[error("{0}")]
    BadName(String),
    /// Not a component Weir can run.
    #[error("not a Weir operator: {0}")]
    Invalid(String),
    /// No operator answers to the reference.
    #[error("no operator `{0}` in the registry (push it with `weir op push`)")]
    NotFound(String),
    /// `name@version` is already taken by other bytes.
    #[error(
        "operator `{name}@{version}` exists with other content (digest {digest}); versions are immutable, push a new version"
    )]
    Exists {
        /// Name.
        name: String,
        /// Version.
        version: String,
        /// The digest it has.
        digest: String,
    },
    /// A job uses the operator.
    #[error("operator `{operator}` is used by job `{job}`")]
    InUse {
        /// The operator.
        operator: String,
        /// The job.
        job: String,
    },
    /// The registry's files could not be read or written.
    #[error("operator registry at {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io { path: path.to_path_buf(), source }
}

/// Names and versions: letters, digits, `.`, `-`, `_`, and `+` in versions; at most 64 characters.
fn check_part(what: &str, s: &str, extra: &[char]) -> Result<(), RegistryError> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c) || extra.contains(&c);
    if s.is_empty() || s.len() > 64 || !s.chars().all(ok) || s.starts_with('.') {
        return Err(RegistryError::BadName(format!(
            "operator {what} `{s}`: use 1 to 64 letters, digits, `-`, `_` or `.`"
        )));
    }
    Ok(())
}

/// The registry, in `dir`.
pub struct Registry {
    dir: PathBuf,
    index: Mutex<Index>,
}

impl Registry {
    /// Opens (or makes) the registry in `dir`.
    pub fn open(dir: &Path) -> Result<Registry, RegistryError> {
        std::fs::create_dir_all(dir.join("blobs")).map_err(io(dir))?;
        let index = Index::load(&dir.join("index.json")).map_err(io(dir))?;
        Ok(Registry { dir: dir.to_path_buf(), index: Mutex::new(index) })
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The file of the component with `digest`.
    pub fn blob(&self, digest: &str) -> PathBuf {
        self.dir.join("blobs").join(format!("{digest}.wasm"))
    }

    /// Adds `bytes` as `name@version`: checks it is a component of a Weir world, has `engine` compile
    /// (and cache) it and describe itself. Pushing the same bytes again under the same name is a no-op.
    pub fn push(
        &self,
        name: &str,
        version: &str,
        bytes: &[u8],
        engine: &PluginEngine,
    ) -> Result<Operator, RegistryError> {
        check_part("name", name, &[])?;
        check_part("version", version, &['+'])?;
        check_header(bytes).map_err(RegistryError::Invalid)?;
        let digest = hex::encode(Sha256::digest(bytes));
        if let Some(have) = self.index().find(name, version) {
            if have.digest == digest {
                return Ok(have.clone());
            }
            let digest = have.digest.clone();
            return Err(RegistryError::Exists { name: name.into(), version: version.into(), digest });
        }
        let blob = self.blob(&digest);
        if !blob.is_file() {
            let tmp = blob.with_extension(format!("{}.{:x}.tmp", std::process::id(), rand::random::<u64>()));
            std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
            std::fs::rename(&tmp, &blob).map_err(io(&blob))?;
        }
        let d = engine.describe(&blob).map_err(|e| {
            let message = match e {
                crate::operator::wasm::PluginError::Load { message, .. } => message,
                other => other.to_string(),
            };
            RegistryError::Invalid(message)
        })?;
        let op = Operator {
            name: name.into(),
            version: version.into(),
            digest,
            size: bytes.len() as u64,
            world: d.world.into(),
            kind: d.kind.into(),
            params: d.params,
            describes_as: format!("{}@{}", d.name, d.version),
            pushed_at_ms: index::now_ms(),
        };
        let mut index = self.index();
        // Another push of the same name and version may have finished while this one compiled.
        if let Some(have) = index.find(name, version) {
            if have.digest == op.digest {
                return Ok(have.clone());
            }
            let digest = have.digest.clone();
            return Err(RegistryError::Exists { name: name.into(), version: version.into(), digest });
        }
        index.add(op.clone());
        index.save(&self.dir.join("index.json")).map_err(io(&self.dir))?;
        Ok(op)
    }

    /// The operator `reference` names: `name@version`, `name` (its newest version) or `sha256:<hex>`.
    pub fn resolve(&self, reference: &str) -> Result<Operator, RegistryError> {
        let index = self.index();
        let found = match reference.split_once('@') {
            _ if reference.starts_with("sha256:") => index.by_digest(&reference["sha256:".len()..]),
            Some((name, version)) => index.find(name, version),
            None => index.newest(reference),
        };
        found.cloned().ok_or_else(|| RegistryError::NotFound(reference.to_string()))
    }

    /// Every operator, by name and version.
    pub fn list(&self) -> Vec<Operator> {
        self.index().all().to_vec()
    }

    /// Removes the operator `reference` names unless `used_by` names a job using its digest. Its
    /// component file goes when no other version has the same content.
    pub fn delete(&self, reference: &str, used_by: impl Fn(&str) -> Option<String>) -> Result<Operator, RegistryError> {
        let op = self.resolve(reference)?;
        if let Some(job) = used_by(&op.digest) {
            return Err(RegistryError::InUse { operator: format!("{}@{}", op.name, op.version), job });
        }
        let mut index = self.index();
        index.remove(&op.name, &op.version);
        index.save(&self.dir.join("index.json")).map_err(io(&self.dir))?;
        if index.by_digest(&op.digest).is_none() {
            let _ = std::fs::remove_file(self.blob(&op.digest));
        }
        Ok(op)
    }
}
