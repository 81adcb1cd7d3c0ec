//! Which batch times are complete: timely's frontier says "nothing earlier than f will come", and batch
//! times are known multiples of the interval, so every batch time below the frontier is finished —
//! including batches that carried no data, which still get their `Time:` header and their zero count.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use timely::dataflow::operators::Capability;
use timely::progress::frontier::MutableAntichain;

use super::Shared;

/// Walks batch times in order as they complete.
pub struct BatchTimes {
    next: u64,
    interval: u64,
    shared: Arc<Shared>,
}

impl BatchTimes {
    /// Starts at `first`.
    pub fn new(first: u64, interval: u64, shared: Arc<Shared>) -> BatchTimes {
        BatchTimes { next: first, interval, shared }
    }

    /// The progress these times follow.
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// The earliest batch time not yet complete.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Batch times finished since the last call, oldest first.
    pub fn completed(&mut self, frontier: &MutableAntichain<u64>) -> Vec<u64> {
        let closed = self.shared.closed_through.load(Ordering::SeqCst);
        let mut done = Vec::new();
        while self.next <= closed && !frontier.less_equal(&self.next) {
            done.push(self.next);
            self.next += self.interval;
        }
        done
    }

    /// Holds `cap` at the earliest batch time not yet complete, so an operator can still emit for it,
    /// and drops it once the input has ended.
    pub fn hold(&self, cap: &mut Option<Capability<u64>>, frontier: &MutableAntichain<u64>) {
        if frontier.frontier().is_empty() {
            *cap = None;
        } else if let Some(c) = cap.as_mut() {
            c.downgrade(&self.next);
        }
    }
}
