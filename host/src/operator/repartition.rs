//! `repartition`: the same records, dealt round-robin over a fixed number of partitions (Spark's
//! `repartition`), to even out work after a skewed source. Partition `p` lives on worker `p % workers`.

use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::operator::Operator;
use weir_sdk::packed::Batch;

use crate::operator::reduce::{shares, to_workers};
use crate::stream::BatchStream;

/// Extension trait for repartitioning.
pub trait RepartitionExt<'s> {
    /// Deals the records of each batch over `partitions` partitions, continuing the round from batch to
    /// batch so small batches spread too.
    ///
    /// ```
    /// // Exercised end to end by tests/golden/repartition.
    /// use weir::operator::repartition::partition_of;
    /// assert_eq!(partition_of(5, 7, 3), 0);
    /// ```
    fn repartition(self, name: &str, partitions: usize) -> BatchStream<'s>;
}

/// The partition of the `i`-th record dealt after `dealt` earlier ones.
///
/// ```
/// assert_eq!(weir::operator::repartition::partition_of(0, 4, 3), 1);
/// ```
pub fn partition_of(dealt: u64, i: u64, partitions: u64) -> u64 {
    (dealt + i) % partitions
}

impl<'s> RepartitionExt<'s> for BatchStream<'s> {
    fn repartition(self, name: &str, partitions: usize) -> BatchStream<'s> {
        let peers = self.scope().peers() as u64;
        // Start each worker's round at its own index, so workers do not all fill partition 0 first.
        let mut dealt = self.scope().index() as u64;
        let partitions = partitions.max(1) as u64;
        let dealt_out = self.unary(Pipeline, &format!("{name}-deal"), move |_cap, _info| {
            move |input, output| {
                input.for_each(|cap, data| {
                    let mut shares = shares(peers);
                    for b in data.drain(..) {
                        for i in 0..b.len() {
                            let p = partition_of(dealt, i as u64, partitions);
                            shares[(p % peers) as usize].push_from(&b, i);
                        }
                        dealt = (dealt + b.len() as u64) % partitions;
                    }
                    output.session(&cap).give_iterator(to_workers(shares));
                });
            }
        });
        dealt_out.unary(Exchange::new(|x: &(u64, Batch)| x.0), name, |_cap, _info| {
            |input, output| {
                input.for_each(|cap, data| {
                    output.session(&cap).give_iterator(data.drain(..).map(|(_, b)| b));
                });
            }
        })
    }
}
