//! Another process than process 0 runs no batch clock of its own: process 0's close of each batch
//! reaches it through the relay, with process 0's records for this process's workers. It still cuts
//! its spread sources (its Kafka partitions): when the close of batch `t` first arrives, what they have
//! sent is this process's share of batch `t`. That share is logged in this process's batch log and given
//! to its checkpoint before any worker sees the close, and each local worker gets its part just before
//! its own close, so no worker closes `t` without it.

use std::collections::BTreeMap;

use super::realtime::Received;
use super::{Batcher, Cut, Feed, shares};

/// Most records a follower holds uncut before it stops taking from its sources until the next close.
const HOLD: usize = 1 << 20;

/// What the follower waits on.
enum Got {
    Source(Result<crate::receiver::Envelope, flume::RecvError>),
    Relayed(Result<(usize, Feed), flume::RecvError>),
}

/// Passes process 0's feed on to this process's workers and cuts the spread sources at its closes,
/// until that feed ends. `first_worker`: the global index of this process's worker 0. Returns the
/// number of batches cut.
pub(super) fn run(b: &Batcher, relayed: &flume::Receiver<(usize, Feed)>, first_worker: usize, cut: &mut Cut) -> u64 {
    let mut r = Received::new(b, |s| b.spread[s]);
    // Whether this process reads any source at all: only then does it log its cuts.
    let reads = b.spread.iter().any(|s| *s);
    let mut sources_open = reads;
    let mut recut = b.recut.iter().peekable();
    // Per batch cut and not yet closed on every local worker: each worker's share still to hand over,
    // and how many workers have not had their close.
    let mut held: BTreeMap<u64, (Vec<Vec<Feed>>, usize)> = BTreeMap::new();
    let mut batches = 0;
    loop {
        let mut select = flume::Selector::new().recv(relayed, Got::Relayed);
        // Process 0's clock holds back when the job is behind; then its closes stop coming, and what
        // this process's sources read waits in them (a Kafka consumer's bounded queue), not here. A
        // source that has replayed up to the end of the next logged batch waits there for its close,
        // so it cannot run past it.
        let at_logged_end = recut.peek().is_some_and(|(_, target)| r.at(target));
        if sources_open && r.held() < HOLD && !at_logged_end {
            select = select.recv(&b.rx, Got::Source);
        }
        match select.wait() {
            Got::Source(Ok(env)) => r.take(b, Ok(env)),
            Got::Source(Err(_)) => sources_open = false,
            Got::Relayed(Ok((worker, feed))) => {
                let local = worker - first_worker;
                let Feed::Close { time } = feed else {
                    if b.feeds[local].send(feed).is_err() {
                        return batches;
                    }
                    continue;
                };
                if cut.time.is_none_or(|c| c < time) {
                    // A batch logged before a crash is cut again at its logged offsets, and its entry
                    // is kept as it is, as on process 0.
                    while recut.next_if(|(t, _)| *t < time).is_some() {}
                    let logged = recut.next_if(|(t, _)| *t == time);
                    if let Some((_, target)) = logged {
                        r.replay(b, time, target);
                    }
                    if reads && logged.is_none() && !b.log_cut(time, cut.time.unwrap_or(b.resumed_from), &r.offsets) {
                        return batches;
                    }
                    held.insert(time, (cut_share(b, time, &mut r, cut), b.feeds.len()));
                    batches += 1;
                }
                let Some((parts, left)) = held.get_mut(&time) else { continue };
                for data in parts[local].drain(..).chain([Feed::Close { time }]) {
                    if b.feeds[local].send(data).is_err() {
                        return batches;
                    }
                }
                *left -= 1;
                if *left == 0 {
                    held.remove(&time);
                }
            }
            Got::Relayed(Err(_)) => return batches,
        }
    }
}

/// Cuts this process's share of batch `time`: gives its offsets to the checkpoint when the batch is
/// checkpointed, and returns each local worker's records.
fn cut_share(b: &Batcher, time: u64, r: &mut Received, cut: &mut Cut) -> Vec<Vec<Feed>> {
    if let Some(ck) = b.checkpoint.as_ref().filter(|ck| ck.due(time)) {
        ck.offsets(time, b.named_if(&r.offsets, |s| b.spread[s]));
    }
    let mut parts: Vec<Vec<Feed>> = (0..b.feeds.len()).map(|_| Vec::new()).collect();
    for (source, chunks) in r.cut().into_iter().enumerate() {
        b.dead.inputs(chunks.iter().map(|c| c.len() as u64).sum());
        for (worker, batch) in shares(time, chunks, b.feeds.len()).into_iter().enumerate() {
            if !batch.is_empty() {
                parts[worker].push(Feed::Data { source, time, batch });
            }
        }
    }
    cut.time = Some(time);
    cut.offsets.clone_from_slice(&r.offsets);
    parts
}
