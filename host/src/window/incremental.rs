//! Incremental windows for reduceByKeyAndWindow with an inverse function (Spark's `invFunc`): the running
//! window adds each new batch's partials and takes out, with the inverse, those of the batch that just
//! left, instead of recomputing from every batch it covers. As in Spark, a key whose value falls back to
//! zero stays in the window (and the output) unless the filter drops it.

use std::collections::BTreeMap;

use super::Window;
use crate::graph::spec::ReducerKind;
use crate::operator::agg::Agg;
use crate::operator::partials::Partials;

/// A window kept up to date batch by batch (saved whole in checkpoints).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct IncrementalWindow {
    window: Window,
    /// The batches still inside the window, to take out when they leave.
    batches: BTreeMap<u64, Partials>,
    running: Partials,
    drop_zero: bool,
}

fn negate(v: Agg) -> Agg {
    match v {
        Agg::I64(i) => Agg::I64(i.wrapping_neg()),
        Agg::F64(f) => Agg::F64(-f),
    }
}

fn is_zero(v: Agg) -> bool {
    match v {
        Agg::I64(i) => i == 0,
        Agg::F64(f) => f == 0.0,
    }
}

impl IncrementalWindow {
    /// A window whose partials add up (sum or count); `drop_zero` is the filter that forgets keys whose
    /// value is back to zero.
    pub fn new(window: Window, drop_zero: bool) -> IncrementalWindow {
        IncrementalWindow { window, batches: BTreeMap::new(), running: Partials::default(), drop_zero }
    }

    /// Adds the partials of batch `t` (batches arrive in time order, every batch, even empty ones) and
    /// takes out the batches that left; returns the window when one is due at `t`.
    ///
    /// ```
    /// use weir::operator::{partials::Partials, reduce::Agg};
    /// use weir::graph::spec::ReducerKind;
    /// use weir::window::{IncrementalWindow, Window};
    /// let one = |k: &[u8]| { let mut p = Partials::default(); p.add(k, Agg::I64(1), ReducerKind::Sum); p };
    /// let mut w = IncrementalWindow::new(Window { length: 2000, slide: 1000 }, false);
    /// assert_eq!(w.add(1000, one(b"a")).unwrap().get(b"a"), Some(Agg::I64(1)));
    /// assert_eq!(w.add(2000, one(b"a")).unwrap().get(b"a"), Some(Agg::I64(2)));
    /// assert_eq!(w.add(3000, Partials::default()).unwrap().get(b"a"), Some(Agg::I64(1)));
    /// assert_eq!(w.add(4000, Partials::default()).unwrap().get(b"a"), Some(Agg::I64(0))); // kept at zero
    /// ```
    pub fn add(&mut self, t: u64, partial: Partials) -> Option<&Partials> {
        partial.for_each(|k, v| self.running.add(k, v, ReducerKind::Sum));
        self.batches.insert(t, partial);
        for gone in super::take_left(&mut self.batches, t, self.window.length) {
            gone.for_each(|k, v| self.running.add(k, negate(v), ReducerKind::Sum));
        }
        if self.drop_zero {
            let mut kept = Partials::default();
            self.running.for_each(|k, v| {
                if !is_zero(v) {
                    kept.add(k, v, ReducerKind::Sum)
                }
            });
            self.running = kept;
        }
        t.is_multiple_of(self.window.slide).then_some(&self.running)
    }
}
