//! Operators: the built-in native ones and the Wasm plugin runtime. Each stateless operator implements
//! [`BatchOperator`] — one required method, one call per batch — and [`apply::ApplyExt`] puts it in the
//! dataflow. Keyed operators live in `reduce.rs`.

pub mod apply;
pub mod builtin;
pub mod cogroup;
pub mod dead_letter;
pub mod exchange;
pub mod expr;
pub mod grouped;
pub mod join_table;
pub mod keyed_state;
pub mod keytable;
pub mod map_with_state;
pub mod native;
pub mod partials;
pub mod plugin_reduce;
pub mod plugin_state;
pub mod reduce;
pub mod repartition;
pub mod update_state;
pub mod wasm;

use weir_sdk::packed::Batch;

/// A stateless operator over whole batches.
pub trait BatchOperator: 'static {
    /// Processes one batch for batch time `time` and returns what it produced. Problems with single
    /// records go to the dead letters; a failed batch is reported by the operator itself.
    fn process(&mut self, time: u64, input: Batch) -> Batch;
}
