//! The Wasm plugin runtime: compile once per process (cached by content hash), instantiate per worker,
//! call once per batch under a deadline and a memory cap. A misbehaving plugin fails its batch — with an
//! error naming the operator and batch time — never the host.

pub mod bindings;
pub mod connector;
pub mod engine;
pub mod http;
pub mod instance;
mod meter;
mod sandbox;
mod slot;
mod stdio;
mod versions;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use weir_sdk::packed::Batch;

pub use engine::{Description, LoadedPlugin, PluginEngine};
pub use instance::{Limits, PluginInstance, Processed, Updated};
pub use meter::{Meter, Meters};
pub use slot::{PluginSlot, with_model};
pub use versions::Versions;

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
    /// `describe` or `init` failed within the sandbox's limits (a deadline, the memory cap, a trap).
    #[error("operator `{operator}`: plugin failed in `{call}`: {failure}")]
    Start {
        /// Stream name.
        operator: String,
        /// `describe` or `init`.
        call: &'static str,
        /// What stopped it.
        failure: BatchFailure,
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

/// Failed calls a one-record-at-a-time plugin may make on one worker's share of a batch while the
/// records that fail it are isolated. Each costs at most the deadline; isolating one bad record among
/// [`SLICE`] takes about 13. When they run out, the records not yet cleared go to the dead letters.
pub const ISOLATION_CALLS: usize = 32;

impl WasmTransform {
    /// One call of the plugin on `input`, emitting its output. On failure the instance is dropped and
    /// the failure returned with the input (`None`: the call succeeded).
    fn call(&mut self, time: u64, input: Batch, emit: &mut dyn FnMut(Batch)) -> Option<(BatchFailure, Batch)> {
        let slot = &mut self.0;
        let (result, input) = match slot.instance(time) {
            Ok(inst) => inst.process(time, input),
            Err(failure) => (Err(failure), input),
        };
        match result {
            Ok(out) => {
                slot.refused(time, &out.rejected, |i| input.get(i));
                if !out.records.is_empty() {
                    emit(out.records);
                }
                None
            }
            Err(failure) => {
                slot.instance = None;
                Some((failure, input))
            }
        }
    }

    /// Calls the plugin on `input`; when the call fails, calls it again on each half, down to the single
    /// records that fail it, so the good records are processed and only those are dead-lettered, named
    /// as the cause. Spends `budget` failed calls at most.
    fn isolate(&mut self, time: u64, input: Batch, emit: &mut dyn FnMut(Batch), budget: &mut usize) {
        let Some((failure, input)) = self.call(time, input, emit) else { return };
        let hopeless = matches!(failure, BatchFailure::Restart(_));
        if input.len() == 1 || *budget == 0 || hopeless {
            let note = match input.len() {
                1 if !hopeless => "this record alone makes the plugin fail",
                _ if hopeless => "",
                _ => "the records that made it fail were not isolated: too many failed calls in this batch",
            };
            self.0.failed_on(time, failure, input.iter(), note);
            return;
        }
        *budget -= 1;
        let mid = input.len() / 2;
        self.isolate(time, input.slice(0, mid), emit, budget);
        self.isolate(time, input.slice(mid, input.len()), emit, budget);
    }
}

impl BatchOperator for WasmTransform {
    fn process(&mut self, time: u64, input: Batch) -> Batch {
        let mut out = Batch::new();
        self.process_into(time, input, &mut |b| out.append(&b));
        out
    }

    /// A one-record-at-a-time plugin gets a big batch in slices of [`SLICE`] records, and a failed call
    /// is retried on halves until the records that fail it are found ([`ISOLATION_CALLS`]). A plugin that
    /// sees the batch whole fails it whole: its output may depend on every record.
    fn process_into(&mut self, time: u64, input: Batch, emit: &mut dyn FnMut(Batch)) {
        self.0.sync(time);
        if !self.0.plugin.per_record {
            if let Some((failure, input)) = self.call(time, input, emit) {
                self.0.failed_on(time, failure, input.iter(), "");
            }
            return;
        }
        let mut budget = ISOLATION_CALLS;
        let mut start = 0;
        while start < input.len() {
            let end = (start + SLICE).min(input.len());
            self.isolate(time, input.slice(start, end), emit, &mut budget);
            start = end;
        }
    }
}
