//! `top`: the `n` records of a batch (or of each event time in it: each event-time window) with the
//! largest values, ties broken by key — Spark's `transform(rdd => rdd.sortBy(_._2, false)).take(n)`.
//! Every record of a batch goes to worker 0, which ranks them once the batch is complete
//! (`render::ranked_order` or `ranked_by_time_order`, the order its sinks write in).

use std::collections::HashMap;

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use weir_sdk::packed::Batch;

use crate::batcher::BatchTimes;
use crate::graph::spec::TopPer;
use crate::render::{ranked_by_time_order, ranked_order};
use crate::stream::BatchStream;

/// Extension trait for `top`.
pub trait TopExt<'s> {
    /// The `n` records of each batch at `times` (or of each event time in it, as `per` says) with the
    /// largest values, largest first, ties by key.
    ///
    /// ```
    /// // Exercised end to end by the `top` golden case; the ranking it keeps the first `n` of:
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// let mut b = Batch::new();
    /// b.push(Some(b"x"), ValueRef::I64(1), 0);
    /// b.push(Some(b"y"), ValueRef::I64(5), 0);
    /// assert_eq!(weir::render::ranked_order(&b)[0], 1);
    /// ```
    fn top(self, name: &str, n: usize, per: TopPer, times: BatchTimes) -> BatchStream<'s>;
}

/// The first `n` records of `batch` in rank order, of the whole batch or of each event time in it.
fn best(batch: &Batch, n: usize, per: TopPer) -> Batch {
    let mut out = Batch::with_capacity(n.min(batch.len()), 0);
    match per {
        TopPer::Batch => ranked_order(batch).iter().take(n).for_each(|&i| out.push_from(batch, i)),
        TopPer::EventTime => {
            let order = ranked_by_time_order(batch);
            for same in order.chunk_by(|&a, &b| batch.event_times[a] == batch.event_times[b]) {
                same.iter().take(n).for_each(|&i| out.push_from(batch, i));
            }
        }
    }
    out
}

impl<'s> TopExt<'s> for BatchStream<'s> {
    fn top(self, name: &str, n: usize, per: TopPer, mut times: BatchTimes) -> BatchStream<'s> {
        self.unary_frontier(Exchange::new(|_: &Batch| 0), name, move |cap, _info| {
            let mut cap = Some(cap);
            let mut stash: HashMap<u64, Batch> = HashMap::new();
            move |(input, frontier), output| {
                input.for_each(|c, data| {
                    let all = stash.entry(*c.time()).or_default();
                    data.drain(..).for_each(|b| all.append(&b));
                });
                for t in times.completed(frontier) {
                    let out = best(&stash.remove(&t).unwrap_or_default(), n, per);
                    if let (Some(c), false) = (&cap, out.is_empty()) {
                        output.session(&c.delayed(&t)).give(out);
                    }
                }
                times.hold(&mut cap, frontier);
            }
        })
    }
}
