//! The Wasm plugin runtime: compile once per process (cached by content hash), instantiate per worker,
//! call once per batch under a deadline and a memory cap. A misbehaving plugin fails its batch — with an
//! error naming the operator and batch time — never the host.

pub mod bindings;
pub mod engine;
pub mod instance;
mod slot;
mod stdio;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use weir_sdk::packed::Batch;

pub use engine::{LoadedPlugin, PluginEngine};
pub use instance::{Limits, PluginInstance, Processed, Updated};
pub use slot::PluginSlot;

use super::BatchOperator;

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
pub struct WasmTransform(pub PluginSlot);

impl BatchOperator for WasmTransform {
    fn process(&mut self, time: u64, input: Batch) -> Batch {
        let slot = &mut self.0;
        let (result, input) = match slot.instance() {
            Ok(inst) => inst.process(time, input),
            Err(failure) => (Err(failure), input),
        };
        match result {
            Ok(out) => {
                slot.refused(time, &out.rejected, |i| input.get(i));
                out.records
            }
            Err(failure) => {
                slot.failed(time, failure, input.iter());
                Batch::new()
            }
        }
    }
}
