//! The loop each timely worker runs: take this worker's share of each batch from the batcher, feed it to
//! the inputs, advance the inputs past the batch time when the batch closes, and keep stepping.

use std::time::Duration;

use timely::dataflow::ProbeHandle;
use timely::worker::Worker;

use super::dataflow::{self, JobContext};
use crate::batcher::Feed;

/// How far (in batches) a worker may run ahead of its slowest sink before it stops taking input.
const MAX_BATCHES_IN_FLIGHT: u64 = 1;

/// Runs one worker until the batcher is done and every batch has reached the sinks.
pub fn run(worker: &mut Worker, ctx: &JobContext, feed: flume::Receiver<Feed>) {
    let probe = ProbeHandle::new();
    let mut inputs = worker.dataflow::<u64, _, _>(|scope| dataflow::build(scope, ctx, &probe));
    for input in inputs.iter_mut() {
        input.advance_to(ctx.first_time);
    }
    let interval = ctx.plan.interval;
    let park = Some(Duration::from_millis(1));
    loop {
        match feed.try_recv() {
            Ok(Feed::Data { source, time, batch }) => {
                // Backpressure: do not queue more work while sinks are far behind.
                let floor = time.saturating_sub(MAX_BATCHES_IN_FLIGHT * interval);
                while probe.less_than(&floor) {
                    worker.step_or_park(park);
                }
                inputs[source].send(batch);
                worker.step();
            }
            Ok(Feed::Close { time }) => {
                for input in inputs.iter_mut() {
                    input.advance_to(time + interval);
                }
                worker.step();
            }
            Err(flume::TryRecvError::Empty) => {
                worker.step_or_park(park);
            }
            Err(flume::TryRecvError::Disconnected) => break,
        }
    }
    drop(inputs);
    while worker.step_or_park(park) {}
}
