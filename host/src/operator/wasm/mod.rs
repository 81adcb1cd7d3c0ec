//! The Wasm plugin runtime: compile once per process (cached by content hash), instantiate per worker,
//! call once per batch under a deadline and a memory cap. A misbehaving plugin fails its batch — with an
//! error naming the operator and batch time — never the host.

pub mod engine;
pub mod instance;
mod stdio;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use weir_sdk::packed::Batch;

pub use engine::{LoadedPlugin, PluginEngine};
pub use instance::{Limits, PluginInstance};

use super::BatchOperator;
use super::dead_letter::DeadLetters;

/// Why a plugin could not be used.
#[derive(Debug, Error)]
pub enum PluginError {
    /// The wasmtime engine could not be set up.
    #[error("plugin engine: {0}")]
    Engine(String),
    /// The component file could not be loaded.
    #[error("cannot load plugin {path}: {message}")]
    Load {
        /// The component file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The component could not be instantiated.
    #[error("operator `{operator}`: cannot instantiate plugin: {message}")]
    Instantiate {
        /// Stream name.
        operator: String,
        /// What went wrong.
        message: String,
    },
    /// `init` refused the parameters.
    #[error("operator `{operator}`: plugin refused its parameters: {message}")]
    Init {
        /// Stream name.
        operator: String,
        /// The plugin's message.
        message: String,
    },
}

impl PluginError {
    pub(crate) fn engine(e: wasmtime::Error) -> PluginError {
        PluginError::Engine(format!("{e:#}"))
    }
}

/// Why one batch failed in a plugin.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum BatchFailure {
    /// The call ran past its deadline and was interrupted.
    #[error("deadline of {0:?} exceeded; the plugin was stopped")]
    Deadline(Duration),
    /// The plugin tried to grow its memory past the cap.
    #[error("memory cap of {} reached", bytesize::ByteSize(*.0 as u64))]
    MemoryCap(usize),
    /// The plugin trapped.
    #[error("plugin trapped: {0}")]
    Trap(String),
    /// The plugin reported a fatal error.
    #[error("plugin reported a fatal error: {0}")]
    Fatal(String),
    /// The plugin returned a malformed batch.
    #[error("plugin returned malformed output: {0}")]
    BadOutput(String),
    /// A new instance could not be made after an earlier failure.
    #[error("{0}")]
    Restart(String),
}

/// The batch times a plugin failed, shared by every worker of a job.
pub type FailedBatches = Arc<std::sync::Mutex<std::collections::BTreeSet<u64>>>;

/// A Wasm transform in the dataflow: one instance per worker, made anew after a failed batch.
pub struct WasmTransform {
    /// Stream name.
    pub name: String,
    /// Job name.
    pub job: String,
    /// The compiled plugin.
    pub plugin: Arc<LoadedPlugin>,
    /// Parameters for `init`.
    pub params: BTreeMap<String, String>,
    /// Instance limits.
    pub limits: Limits,
    /// Refused records.
    pub dead: Arc<DeadLetters>,
    /// Times of failed batches, job-wide (a batch failing on two workers counts once).
    pub failures: FailedBatches,
    /// The live instance, if any.
    pub instance: Option<PluginInstance>,
}

impl WasmTransform {
    fn instance(&mut self) -> Result<&mut PluginInstance, BatchFailure> {
        if self.instance.is_none() {
            let mut inst = PluginInstance::new(&self.plugin, self.limits, &self.job, &self.name)
                .map_err(|e| BatchFailure::Restart(e.to_string()))?;
            inst.init(&self.params).map_err(|e| BatchFailure::Restart(e.to_string()))?;
            self.instance = Some(inst);
        }
        Ok(self.instance.as_mut().expect("instance just made"))
    }
}

impl BatchOperator for WasmTransform {
    fn process(&mut self, time: u64, input: Batch) -> Batch {
        let (result, input) = match self.instance() {
            Ok(inst) => inst.process(time, input),
            Err(failure) => (Err(failure), input),
        };
        match result {
            Ok(out) => {
                for (i, reason) in &out.rejected {
                    self.dead.record(&self.name, time, &input.get(*i as usize), reason);
                }
                out.records
            }
            Err(failure) => {
                self.instance = None;
                self.failures.lock().unwrap_or_else(|e| e.into_inner()).insert(time);
                let reason = format!("operator `{}` failed batch {time} ms: {failure}", self.name);
                tracing::error!(job = %self.job, operator = %self.name, batch_time = time, "{reason}");
                for r in input.iter() {
                    self.dead.record(&self.name, time, &r, &reason);
                }
                Batch::new()
            }
        }
    }
}
