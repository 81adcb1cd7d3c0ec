//! Windows over per-batch partial results. The window at batch time `t` covers batches `(t − length, t]`;
//! it is emitted only when `t` is a multiple of the slide; early windows are partial (Spark's semantics).
//! Without an inverse function the window is recomputed from the per-batch partials it still holds;
//! with one (`incremental.rs`) it is updated batch by batch.

mod incremental;
mod records;

use std::collections::BTreeMap;

pub use incremental::IncrementalWindow;
pub use records::WindowRecordsExt;

/// Window length and slide in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Window {
    /// Window length.
    pub length: u64,
    /// Slide.
    pub slide: u64,
}

/// Removes and returns, oldest first, the entries of `batches` (keyed by batch time) that a window of
/// `length` ending at `t` no longer covers.
///
/// ```
/// use std::collections::BTreeMap;
/// let mut b: BTreeMap<u64, &str> = [(1000, "a"), (2000, "b"), (3000, "c")].into();
/// assert_eq!(weir::window::take_left(&mut b, 3000, 2000), vec!["a"]);
/// assert_eq!(b.len(), 2);
/// ```
pub fn take_left<P>(batches: &mut BTreeMap<u64, P>, t: u64, length: u64) -> Vec<P> {
    let oldest_inside = t.saturating_sub(length);
    let mut left = Vec::new();
    while let Some(entry) = batches.first_entry() {
        if *entry.key() > oldest_inside {
            break;
        }
        left.push(entry.remove());
    }
    left
}

/// Per-batch partials awaiting the windows that cover them (saved whole in checkpoints).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct WindowBuffer<P> {
    window: Option<Window>,
    partials: BTreeMap<u64, P>,
    /// The last partial dropped, handed out again by [`WindowBuffer::spare`].
    #[serde(skip)]
    spare: Option<P>,
}

impl<P> WindowBuffer<P> {
    /// A buffer for `window`; `None` passes every batch straight through.
    pub fn new(window: Option<Window>) -> Self {
        WindowBuffer { window, partials: BTreeMap::new(), spare: None }
    }

    /// A partial that no window needs any more, to be cleared and filled again (a batch's partial
    /// tables are sized for a batch, so each new one would otherwise grow from empty).
    ///
    /// ```
    /// use weir::window::WindowBuffer;
    /// let mut w = WindowBuffer::new(None);
    /// assert_eq!(w.spare(), None);
    /// w.add(1000, vec![1]);
    /// w.add(2000, vec![2]);
    /// assert_eq!(w.spare(), Some(vec![1]));
    /// assert_eq!(w.spare(), None);
    /// ```
    pub fn spare(&mut self) -> Option<P> {
        self.spare.take()
    }

    /// Adds the partial result of batch `t` (batches arrive in time order). Returns the partials that
    /// make up the window ending at `t`, oldest first, when a window is due at `t`.
    ///
    /// ```
    /// use weir::window::{Window, WindowBuffer};
    /// let mut w = WindowBuffer::new(Some(Window { length: 3000, slide: 2000 }));
    /// assert_eq!(w.add(1000, 1), None);               // 1000 is not a multiple of the slide
    /// assert_eq!(w.add(2000, 2), Some(vec![&1, &2]));  // early window: partial
    /// assert_eq!(w.add(3000, 3), None);
    /// assert_eq!(w.add(4000, 4), Some(vec![&2, &3, &4])); // (1000, 4000]
    /// ```
    pub fn add(&mut self, t: u64, partial: P) -> Option<Vec<&P>> {
        let Some(w) = self.window else {
            self.spare = std::mem::take(&mut self.partials).into_values().next();
            self.partials.insert(t, partial);
            return Some(self.partials.values().collect());
        };
        self.partials.insert(t, partial);
        // Keep only what a window ending at or after the next multiple of the slide can still need.
        let next_due = t.div_ceil(w.slide) * w.slide;
        let oldest_needed = next_due.saturating_sub(w.length);
        while let Some(oldest) = self.partials.first_entry().filter(|e| *e.key() <= oldest_needed) {
            self.spare = Some(oldest.remove());
        }
        if !t.is_multiple_of(w.slide) {
            return None;
        }
        let from = t.saturating_sub(w.length);
        Some(self.partials.range(from + 1..=t).map(|(_, p)| p).collect())
    }
}
