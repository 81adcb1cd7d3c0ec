//! Operators: the built-in native ones and the Wasm plugin runtime. Each stateless operator implements
//! [`BatchOperator`] — one required method, one call per batch — and [`apply::ApplyExt`] puts it in the
//! dataflow. Keyed operators live in `reduce.rs`.

pub mod agg;
pub mod apply;
pub mod builtin;
pub mod cogroup;
pub mod dead_letter;
pub mod drop_duplicates;
pub mod event_timeouts;
pub mod event_window;
pub mod exchange;
pub mod expr;
pub mod grouped;
pub mod join_table;
pub mod keyed_state;
pub mod keytable;
pub mod longtable;
pub mod map_with_state;
pub mod native;
pub mod partials;
pub mod plugin_reduce;
pub mod plugin_state;
pub mod reduce;
pub mod repartition;
pub mod tap;
pub mod top;
pub mod update_state;
pub mod wasm;
pub mod watermark;
pub mod watermarked;

use weir_sdk::packed::Batch;

/// A stateless operator over whole batches.
pub trait BatchOperator: 'static {
    /// Processes one batch for batch time `time` and returns what it produced. Problems with single
    /// records go to the dead letters; a failed batch is reported by the operator itself.
    fn process(&mut self, time: u64, input: Batch) -> Batch;

    /// Like [`process`](Self::process), handing each non-empty output batch to `emit`. An operator that
    /// works through a big batch in pieces overrides it, so that no piece waits for the others.
    ///
    /// ```
    /// use weir::operator::BatchOperator;
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// struct Same;
    /// impl BatchOperator for Same {
    ///     fn process(&mut self, _time: u64, input: Batch) -> Batch {
    ///         input
    ///     }
    /// }
    /// let mut b = Batch::new();
    /// b.push(None, ValueRef::I64(1), 0);
    /// let mut out = Vec::new();
    /// Same.process_into(0, b, &mut |o| out.push(o));
    /// Same.process_into(0, Batch::new(), &mut |o| out.push(o));
    /// assert_eq!(out.len(), 1);
    /// ```
    fn process_into(&mut self, time: u64, input: Batch, emit: &mut dyn FnMut(Batch)) {
        let out = self.process(time, input);
        if !out.is_empty() {
            emit(out);
        }
    }
}
