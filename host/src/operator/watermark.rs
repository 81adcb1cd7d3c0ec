//! The job's watermark: how far event time has surely advanced. After each batch it is the largest event
//! time each source has shown, less `[watermark] delay`, the least over the sources (one without records
//! for `idle_timeout` of batch time does not hold it back), and it never goes back. Each source's stream
//! sends the largest event time of its records in each batch to every worker ([`parts`]), so every
//! worker folds the same parts into the same watermark; a window operator keeps the fold in its
//! checkpointed state, so a resumed job goes on from the very watermark it stopped at.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::Concatenate;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::{Scope, Stream};

use crate::graph::spec::WatermarkSpec;
use crate::stream::BatchStream;

/// The watermark after each batch as the event-time operators folded it, kept until the batch's
/// completed event takes it (operators run ahead of that event, so each batch keeps its own).
#[derive(Debug, Clone, Default)]
pub struct Shown(Arc<Mutex<Noted>>);

/// Watermarks by batch not yet taken, and the last one taken.
type Noted = (BTreeMap<u64, i64>, Option<i64>);

impl Shown {
    /// An operator folded watermark `w` after batch `t` (every worker folds the same one).
    pub fn note(&self, t: u64, w: i64) {
        let mut shown = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let at = shown.0.entry(t).or_insert(w);
        *at = (*at).max(w);
    }

    /// The watermark after batch `t` (the latest noted at or before it), once a record has moved it;
    /// forgets the batches up to `t`.
    ///
    /// ```
    /// let shown = weir::operator::watermark::Shown::default();
    /// shown.note(1000, i64::MIN);
    /// assert_eq!(shown.take(1000), None);
    /// shown.note(2000, 7);
    /// shown.note(3000, 9);
    /// assert_eq!((shown.take(2000), shown.take(3000), shown.take(4000)), (Some(7), Some(9), Some(9)));
    /// ```
    pub fn take(&self, t: u64) -> Option<i64> {
        let mut shown = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let later = shown.0.split_off(&(t + 1));
        let done = std::mem::replace(&mut shown.0, later);
        if let Some((_, w)) = done.last_key_value() {
            shown.1 = Some(*w);
        }
        shown.1.filter(|w| *w != i64::MIN)
    }
}

/// A source's largest event time in one batch on one worker: `(source index, event time)`.
pub type Part = (u32, i64);

/// The stream of every source's parts, on every worker.
pub type PartStream<'s> = Stream<'s, u64, Vec<Part>>;

/// The parts of `sources` (in plan order), broadcast to every worker. A record at event time 0 counts
/// at its batch's time.
pub fn parts<'s>(scope: Scope<'s, u64>, sources: &[BatchStream<'s>]) -> PartStream<'s> {
    let each = sources.iter().enumerate().map(|(i, s)| {
        s.clone().unary(Pipeline, "watermark-part", move |_cap, _info| {
            move |input, output| {
                input.for_each(|cap, data| {
                    let t = *cap.time() as i64;
                    let max = data.iter().flat_map(|b| b.event_times.iter()).map(|&e| if e == 0 { t } else { e }).max();
                    if let Some(max) = max {
                        output.session(&cap).give((i as u32, max));
                    }
                });
            }
        })
    });
    scope.concatenate(each.collect::<Vec<_>>()).broadcast()
}

/// The watermark's fold: what each source has shown, and the watermark itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Watermark {
    /// Per source (by index): the largest event time seen, and the last batch that had a record.
    sources: Vec<Option<(i64, u64)>>,
    /// The watermark after the last batch folded in (`i64::MIN` before any record).
    pub at: i64,
    /// The first batch folded in: a source that never had a record counts as active since then.
    first: Option<u64>,
}

impl Watermark {
    /// A watermark over `sources` sources, before any record.
    pub fn new(sources: usize) -> Watermark {
        Watermark { sources: vec![None; sources], at: i64::MIN, first: None }
    }

    /// Folds in batch `t`'s parts and moves the watermark as `spec` says; returns it.
    ///
    /// ```
    /// use weir::graph::spec::{Millis, WatermarkSpec};
    /// use weir::operator::watermark::Watermark;
    /// let spec = WatermarkSpec { delay: Millis(100), idle_timeout: Some(Millis(3000)) };
    /// let mut w = Watermark::new(2);
    /// assert_eq!(w.advance(1000, &[(0, 5000)], spec), i64::MIN, "source 1 has shown nothing yet");
    /// assert_eq!(w.advance(2000, &[(1, 4000)], spec), 3900, "the least over the sources");
    /// assert_eq!(w.advance(3000, &[(1, 1000)], spec), 3900, "it never goes back");
    /// assert_eq!(w.advance(6000, &[(0, 9000)], spec), 8900, "source 1 is idle: not held back");
    /// ```
    pub fn advance(&mut self, t: u64, parts: &[Part], spec: WatermarkSpec) -> i64 {
        let first = *self.first.get_or_insert(t);
        for &(source, max) in parts {
            if let Some(slot) = self.sources.get_mut(source as usize) {
                let seen = slot.map_or(max, |(m, _)| m.max(max));
                *slot = Some((seen, t));
            }
        }
        let idle = |last: u64| spec.idle_timeout.is_some_and(|i| t.saturating_sub(last) >= i.0);
        let mut least: Option<i64> = None;
        for slot in &self.sources {
            match slot {
                Some((_, last)) if idle(*last) => {}
                Some((max, _)) => least = Some(least.map_or(*max, |l| l.min(*max))),
                // Nothing seen yet: it holds the watermark back until it is idle.
                None if idle(first) => {}
                None => return self.at,
            }
        }
        if let Some(least) = least {
            self.at = self.at.max(least.saturating_sub(spec.delay.0 as i64));
        }
        self.at
    }
}
