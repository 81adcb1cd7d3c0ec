//! Moving keyed records to the worker that owns their key group: every keyed operator starts here. Each
//! worker splits its share of a batch by `key_group(key) % workers`; unkeyed records go to the dead letters.

use std::sync::Arc;

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::operator::Operator;
use weir_sdk::packed::{Batch, HAS_KEY};

use crate::operator::dead_letter::DeadLetters;
use crate::operator::reduce::{key_group, shares, to_workers};
use crate::stream::BatchStream;

/// One worker's share of one input for a batch: (destination worker, input index, records).
pub type Share = (u64, u64, Batch);

/// Splits every batch of input `side` into one share per worker, by key group.
pub fn split_by_key<'s>(
    input: BatchStream<'s>,
    side: u64,
    name: &str,
    dead: &Arc<DeadLetters>,
) -> Stream<'s, u64, Vec<Share>> {
    let peers = input.scope().peers() as u64;
    let (name, dead) = (name.to_string(), dead.clone());
    input.unary(Pipeline, &format!("{name}-split-{side}"), move |_cap, _info| {
        move |input, output| {
            input.for_each(|cap, data| {
                let mut shares = shares(peers);
                for b in data.drain(..) {
                    for i in 0..b.len() {
                        if b.kinds[i] & HAS_KEY == 0 {
                            dead.record(&name, *cap.time(), &b.get(i), &DeadLetters::unkeyed("grouping by key"));
                            continue;
                        }
                        shares[(key_group(b.key_bytes(i)) % peers) as usize].push_from(&b, i);
                    }
                }
                output.session(&cap).give_iterator(to_workers(shares).map(|(dest, b)| (dest, side, b)));
            });
        }
    })
}

/// Extension trait for the keyed exchange.
pub trait ExchangeByKeyExt<'s> {
    /// The same keyed records, each on the worker owning its key group.
    ///
    /// ```
    /// // Exercised end to end by the plugin reducer and state golden cases; the owner of a key:
    /// use weir::operator::reduce::key_group;
    /// let workers = 2;
    /// assert!(key_group(b"k") % workers < workers);
    /// ```
    fn exchange_by_key(self, name: &str, dead: &Arc<DeadLetters>) -> BatchStream<'s>;
}

impl<'s> ExchangeByKeyExt<'s> for BatchStream<'s> {
    fn exchange_by_key(self, name: &str, dead: &Arc<DeadLetters>) -> BatchStream<'s> {
        split_by_key(self, 0, name, dead).unary(Exchange::new(|x: &Share| x.0), name, |_cap, _info| {
            |input, output| {
                input.for_each(|cap, data| {
                    output.session(&cap).give_iterator(data.drain(..).map(|(_, _, b)| b));
                });
            }
        })
    }
}
