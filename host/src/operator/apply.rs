//! `apply`: runs a [`BatchOperator`] on every batch of a stream, on the worker that holds the batch.

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::Operator;
use weir_sdk::packed::Batch;

use super::BatchOperator;
use crate::stream::BatchStream;

/// Extension trait putting a stateless operator on a stream.
pub trait ApplyExt<'s> {
    /// Applies `op` to each batch; empty results are not sent on.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use timely::dataflow::operators::ToStream;
    /// use weir::operator::apply::ApplyExt;
    /// use weir::operator::BatchOperator;
    /// use weir_sdk::packed::{Batch, ValueRef};
    ///
    /// struct Double(Arc<AtomicUsize>);
    /// impl BatchOperator for Double {
    ///     fn process(&mut self, _t: u64, mut input: Batch) -> Batch {
    ///         let copy = input.clone();
    ///         input.append(&copy);
    ///         self.0.fetch_add(input.len(), Ordering::SeqCst);
    ///         input
    ///     }
    /// }
    /// let seen = Arc::new(AtomicUsize::new(0));
    /// let counter = seen.clone();
    /// timely::example(move |scope| {
    ///     let mut b = Batch::new();
    ///     b.push(None, ValueRef::Text("x"), 0);
    ///     vec![b].to_stream(scope).apply("double", Double(counter));
    /// });
    /// assert_eq!(seen.load(Ordering::SeqCst), 2);
    /// ```
    fn apply<O: BatchOperator>(self, name: &str, op: O) -> BatchStream<'s>;
}

impl<'s> ApplyExt<'s> for BatchStream<'s> {
    fn apply<O: BatchOperator>(self, name: &str, mut op: O) -> BatchStream<'s> {
        self.unary(Pipeline, name, move |_cap, _info| {
            move |input, output| {
                input.for_each(|cap, data| {
                    let mut session = output.session(&cap);
                    for batch in data.drain(..) {
                        op.process_into(*cap.time(), batch, &mut |out: Batch| session.give(out));
                    }
                });
            }
        })
    }
}
