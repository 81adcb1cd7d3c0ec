//! The environment jobs run in, built once per process and shared by every job started in it: one
//! wasmtime engine with its epoch ticker (made when the first job needs a plugin), and one tokio
//! runtime for all I/O — receivers, database sinks and tables — so no job builds runtimes of its own
//! or calls `block_on` where a caller's runtime (a gRPC handler) would make it panic.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::operator::wasm::{PluginEngine, PluginError};

use super::JobError;

/// Threads of the I/O runtime: receivers and database clients wait far more than they compute.
const IO_THREADS: usize = 2;

/// The process-wide environment of jobs.
pub struct Env {
    io: tokio::runtime::Runtime,
    plugins: OnceLock<PluginEngine>,
    cache_dir: Option<PathBuf>,
}

impl Env {
    /// A new environment with its own I/O runtime.
    pub fn new() -> Result<Arc<Env>, JobError> {
        Env::build(None)
    }

    /// [`Env::new`], keeping precompiled plugins in `cache_dir`.
    pub fn with_plugin_cache(cache_dir: PathBuf) -> Result<Arc<Env>, JobError> {
        Env::build(Some(cache_dir))
    }

    fn build(cache_dir: Option<PathBuf>) -> Result<Arc<Env>, JobError> {
        let io = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(IO_THREADS)
            .thread_name("weir-io")
            .enable_all()
            .build()
            .map_err(|e| JobError::Runtime(e.to_string()))?;
        Ok(Arc::new(Env { io, plugins: OnceLock::new(), cache_dir }))
    }

    /// The environment of this process, made at first use: what [`super::run`] and the CLI use.
    ///
    /// ```
    /// let env = weir::job::Env::process().unwrap();
    /// assert!(std::sync::Arc::ptr_eq(&env, &weir::job::Env::process().unwrap()));
    /// ```
    pub fn process() -> Result<Arc<Env>, JobError> {
        static PROCESS: OnceLock<Arc<Env>> = OnceLock::new();
        if let Some(env) = PROCESS.get() {
            return Ok(env.clone());
        }
        let env = Env::new()?;
        Ok(PROCESS.get_or_init(|| env).clone())
    }

    /// The I/O runtime.
    pub fn io(&self) -> &tokio::runtime::Handle {
        self.io.handle()
    }

    /// The plugin engine, made the first time a job needs it.
    pub fn plugins(&self) -> Result<&PluginEngine, PluginError> {
        if let Some(engine) = self.plugins.get() {
            return Ok(engine);
        }
        let engine = match &self.cache_dir {
            Some(dir) => PluginEngine::with_cache_dir(dir.clone())?,
            None => PluginEngine::new()?,
        };
        Ok(self.plugins.get_or_init(|| engine))
    }
}
