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

/// Records per call when a plugin works one record at a time: the call's input and output then stay in
/// the CPU's caches and the plugin's memory stays small, and each slice's output goes downstream alone.
pub const SLICE: usize = 8192;

impl WasmTransform {
    /// One call of the plugin on `input`. On failure its records have gone to the dead letters, and the
    /// reason they were given is returned.
    fn call(&mut self, time: u64, input: Batch, emit: &mut dyn FnMut(Batch)) -> Result<(), String> {
        let slot = &mut self.0;
        let (result, input) = match slot.instance() {
            Ok(inst) => inst.process(time, input),
            Err(failure) => (Err(failure), input),
        };
        match result {
            Ok(out) => {
                slot.refused(time, &out.rejected, |i| input.get(i));
                if !out.records.is_empty() {
                    emit(out.records);
                }
                Ok(())
            }
            Err(failure) => Err(slot.failed(time, failure, input.iter())),
        }
    }
}

impl BatchOperator for WasmTransform {
    fn process(&mut self, time: u64, input: Batch) -> Batch {
        let mut out = Batch::new();
        self.process_into(time, input, &mut |b| out.append(&b));
        out
    }

    /// A one-record-at-a-time plugin gets a big batch in slices of [`SLICE`] records; once a slice
    /// fails, the rest of the batch fails with it (to the dead letters, without calling the plugin).
    fn process_into(&mut self, time: u64, input: Batch, emit: &mut dyn FnMut(Batch)) {
        if !self.0.plugin.per_record || input.len() <= SLICE {
            let _ = self.call(time, input, emit);
            return;
        }
        let mut start = 0;
        while start < input.len() {
            let end = (start + SLICE).min(input.len());
            if let Err(reason) = self.call(time, input.slice(start, end), emit) {
                (end..input.len()).for_each(|i| self.0.dead.record(&self.0.name, time, &input.get(i), &reason));
                return;
            }
            start = end;
        }
    }
}
