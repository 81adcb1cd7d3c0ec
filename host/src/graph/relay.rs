//! In a cluster only process 0 runs the batch clock, so the workers of the other processes get their
//! feed (their share of each batch, and each batch's close) through timely itself: a small dataflow,
//! built on every worker before the job's, into which worker 0 of process 0 puts each remote worker's
//! feed and which hands it, in order, to that worker's loop. One sender and one channel per receiver
//! keep the order the batcher sent in: a worker never sees a batch's close before its data. On the
//! other processes every worker's deliveries go, tagged with the worker's global index, to one channel,
//! which that process's follower (`batcher/follow.rs`) passes on with its own sources' records.

use timely::dataflow::InputHandleVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::worker::Worker;

use crate::batcher::Feed;

/// One feed on its way, to the worker with this global index.
pub type Routed = (usize, Feed);

/// Worker 0 of process 0's end: the remote workers' feeds from the batcher, and the input they go into.
pub struct Relay {
    input: Option<InputHandleVec<u64, Routed>>,
    from: Vec<(usize, flume::Receiver<Feed>)>,
}

impl Relay {
    /// Moves everything the batcher has sent the remote workers into the dataflow; once the batcher has
    /// finished and all is moved, closes the input, which ends the remote workers' feeds. True while the
    /// batcher may still send.
    pub fn pump(&mut self) -> bool {
        let Some(input) = self.input.as_mut() else { return false };
        let (mut open, mut moved) = (false, false);
        for (worker, rx) in &self.from {
            loop {
                match rx.try_recv() {
                    Ok(feed) => {
                        input.send((*worker, feed));
                        moved = true;
                    }
                    Err(flume::TryRecvError::Empty) => {
                        open = true;
                        break;
                    }
                    Err(flume::TryRecvError::Disconnected) => break,
                }
            }
        }
        // An input (and its exchange) holds what it is sent until its buffer fills or its time moves
        // on; a batch's close must not wait for that. The relay's own times mean nothing else.
        if moved {
            let next = *input.time() + 1;
            input.advance_to(next);
        }
        if !open {
            self.input = None;
        }
        open
    }
}

/// Builds the relay dataflow on `worker`. `remote` is the batcher's feeds to the other processes'
/// workers, on worker 0 of process 0 only; `deliver`, on the other processes' workers, is where the feed
/// arriving for this worker goes. Returns worker 0 of process 0's [`Relay`].
pub fn build(
    worker: &mut Worker,
    remote: Option<Vec<(usize, flume::Receiver<Feed>)>>,
    deliver: Option<flume::Sender<Routed>>,
) -> Option<Relay> {
    let input = worker.dataflow::<u64, _, _>(|scope| {
        let mut input = InputHandleVec::new();
        let mut tx = deliver;
        input.to_stream(scope).sink(Exchange::new(|r: &Routed| r.0 as u64), "relay", move |(input, frontier)| {
            input.for_each(|_cap, data| {
                for routed in data.drain(..) {
                    if let Some(tx) = &tx {
                        let _ = tx.send(routed);
                    }
                }
            });
            // Worker 0 of process 0 has closed its input: the batcher is done.
            if frontier.is_empty() {
                tx = None;
            }
        });
        input
    });
    remote.map(|from| Relay { input: Some(input), from })
}
