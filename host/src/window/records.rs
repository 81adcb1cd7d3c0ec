//! `window`: every record of the batches a window covers, re-emitted at each multiple of the slide (Spark's
//! `DStream.window`). Each worker windows its own share, so no record crosses workers.

use std::collections::HashMap;
use std::sync::Arc;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::Operator;
use weir_sdk::packed::Batch;

use super::{Window, WindowBuffer};
use crate::batcher::{BatchTimes, Shared};
use crate::checkpoint::{HookExt, HookSlot};
use crate::stream::BatchStream;

/// Extension trait for windows of whole records.
pub trait WindowRecordsExt<'s> {
    /// The records of the batches in `window`, one output batch per due window. The input produces a batch
    /// every `interval` ms from `first_time`.
    ///
    /// ```
    /// // Exercised end to end by tests/golden/window-records; the buffer it uses:
    /// use weir::window::{Window, WindowBuffer};
    /// let mut w = WindowBuffer::new(Some(Window { length: 2000, slide: 1000 }));
    /// assert_eq!(w.add(1000, vec!["a"]), Some(vec![&vec!["a"]]));
    /// ```
    fn window_records(
        self,
        name: &str,
        window: Window,
        first_time: u64,
        interval: u64,
        shared: Arc<Shared>,
        hook: HookSlot,
    ) -> BatchStream<'s>;
}

impl<'s> WindowRecordsExt<'s> for BatchStream<'s> {
    fn window_records(
        self,
        name: &str,
        window: Window,
        first_time: u64,
        interval: u64,
        shared: Arc<Shared>,
        hook: HookSlot,
    ) -> BatchStream<'s> {
        self.unary_frontier(Pipeline, name, move |cap, _info| {
            let mut cap = Some(cap);
            let mut stash: HashMap<u64, Vec<Batch>> = HashMap::new();
            let mut windows: WindowBuffer<Vec<Batch>> = WindowBuffer::new(Some(window));
            let mut hook = hook.open(&mut windows, &shared);
            let mut times = BatchTimes::new(first_time, interval, shared);
            move |(input, frontier), output| {
                input.for_each(|c, data| stash.entry(*c.time()).or_default().append(data));
                for t in times.completed(frontier) {
                    let batches = stash.remove(&t).unwrap_or_default();
                    let out = windows.add(t, batches).map(|parts| {
                        let mut out = Batch::new();
                        for b in parts.into_iter().flatten() {
                            out.append(b);
                        }
                        out
                    });
                    hook.after_batch(t, &windows);
                    if let (Some(c), Some(out)) = (&cap, out.filter(|o| !o.is_empty())) {
                        output.session(&c.delayed(&t)).give(out);
                    }
                }
                hook.at_input_end(frontier.frontier().is_empty(), &windows);
                times.hold(&mut cap, frontier);
            }
        })
    }
}
