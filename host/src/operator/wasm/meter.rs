//! What a plugin stream's calls cost, over all its workers' instances: counted as each call ends, and
//! taken into the batch-completed event (`graph/worker.rs`), from which the metrics and the UI read.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::BatchFailure;
use crate::event::PluginFigures;

/// One plugin stream's calls since they were last taken.
#[derive(Debug, Default)]
pub struct Meter {
    calls: AtomicU64,
    busy_us: AtomicU64,
    traps: AtomicU64,
    deadline_hits: AtomicU64,
    memory_cap_hits: AtomicU64,
    memory_peak: AtomicU64,
}

/// The meters of a job's plugin streams, by stream.
pub type Meters = Arc<HashMap<String, Arc<Meter>>>;

impl Meter {
    /// Counts one call that took `took`, failed with `failure` if it did, its instance holding
    /// `memory` bytes of linear memory at most.
    ///
    /// ```
    /// use weir::operator::wasm::{BatchFailure, Meter};
    /// let m = Meter::default();
    /// m.record(std::time::Duration::from_micros(40), None, 1 << 16);
    /// m.record(std::time::Duration::from_micros(2), Some(&BatchFailure::Trap("unreachable".into())), 1 << 17);
    /// let f = m.take();
    /// assert_eq!((f.calls, f.busy_us, f.traps, f.memory_peak), (2, 42, 1, 1 << 17));
    /// assert_eq!((m.take().calls, m.take().memory_peak), (0, 1 << 17), "the peak is kept");
    /// ```
    pub fn record(&self, took: Duration, failure: Option<&BatchFailure>, memory: usize) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.busy_us.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        let counter = match failure {
            None => None,
            Some(BatchFailure::Deadline(_)) => Some(&self.deadline_hits),
            Some(BatchFailure::MemoryCap(_)) => Some(&self.memory_cap_hits),
            Some(_) => Some(&self.traps),
        };
        if let Some(c) = counter {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.memory_peak.fetch_max(memory as u64, Ordering::Relaxed);
    }

    /// The figures since the last take (the memory peak since the start).
    pub fn take(&self) -> PluginFigures {
        let take = |c: &AtomicU64| c.swap(0, Ordering::Relaxed);
        PluginFigures {
            calls: take(&self.calls),
            busy_us: take(&self.busy_us),
            traps: take(&self.traps),
            deadline_hits: take(&self.deadline_hits),
            memory_cap_hits: take(&self.memory_cap_hits),
            memory_peak: self.memory_peak.load(Ordering::Relaxed),
        }
    }
}
