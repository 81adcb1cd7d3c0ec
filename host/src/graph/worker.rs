//! The loop each timely worker runs: take this worker's share of each batch from the batcher, feed it to
//! the inputs, advance the inputs past the batch time when the batch closes, and keep stepping.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use timely::dataflow::ProbeHandle;
use timely::worker::Worker;

use super::dataflow::{self, JobContext};
use super::relay::Relay;
use super::spec::ClockMode;
use crate::batcher::Feed;
use crate::event::{JobEvent, StreamFigures};

/// How far (in batches) a worker may run ahead of its slowest sink before it stops taking input.
const MAX_BATCHES_IN_FLIGHT: u64 = 1;

/// Runs one worker until the batcher is done and every batch has reached the sinks. In a cluster,
/// worker 0 of process 0 also moves the other processes' feeds into the `relay`.
pub fn run(worker: &mut Worker, ctx: &JobContext, feed: flume::Receiver<Feed>, mut relay: Option<Relay>) {
    let probe = ProbeHandle::new();
    let mut inputs = worker.dataflow::<u64, _, _>(|scope| dataflow::build(scope, ctx, &probe));
    for input in inputs.iter_mut() {
        input.advance_to(ctx.first_time);
    }
    let interval = ctx.plan.interval;
    let park = Some(Duration::from_millis(1));
    // Worker 0 tells when each closed batch is complete: the probe (the whole job's frontier at the
    // sinks) has passed it.
    let mut closed: VecDeque<(u64, Instant, Option<u64>)> = VecDeque::new();
    let tells = worker.index() == 0;
    let realtime = ctx.plan.clock == ClockMode::Realtime;
    // The batcher sends batch t's close to every worker before batch t + 1's data to any: moving the
    // relay first means no remote worker waits on a close this worker has yet to pass on.
    loop {
        pump(&mut relay);
        while let Some(&done) = closed.front().filter(|(t, ..)| !probe.less_equal(t)) {
            closed.pop_front();
            completed(ctx, done);
        }
        match feed.try_recv() {
            Ok(Feed::Data { source, time, batch }) => {
                // Backpressure: do not queue more work while sinks are far behind.
                let floor = time.saturating_sub(MAX_BATCHES_IN_FLIGHT * interval);
                while probe.less_than(&floor) {
                    pump(&mut relay);
                    worker.step_or_park(park);
                }
                inputs[source].send(batch);
                worker.step();
            }
            Ok(Feed::Close { time }) => {
                // Another process's batcher said so (this one's already did): before the inputs move.
                ctx.shared.closed_through.fetch_max(time, std::sync::atomic::Ordering::SeqCst);
                if tells {
                    let delay = realtime.then(|| wall_ms().saturating_sub(time));
                    closed.push_back((time, Instant::now(), delay));
                }
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
    while pump(&mut relay) {
        worker.step_or_park(park);
    }
    while worker.step_or_park(park) {}
    closed.into_iter().for_each(|done| completed(ctx, done));
}

/// Tells that batch `time`, closed at `at` with scheduling delay `delay`, is complete, with each
/// source's and stream's records (every worker's taps have seen the batch: the probe passed it).
fn completed(ctx: &JobContext, (time, at, delay): (u64, Instant, Option<u64>)) {
    let processing_ms = at.elapsed().as_millis() as u64;
    let seen = ctx.taps.take_counts(time);
    let plan = &ctx.plan;
    let spec_of = |i: &str| plan.streams.iter().find(|(n, _)| n == i).map(|(_, s)| s);
    // A fused input has no tap of its own: what passed it is what passed its input.
    let seen_at = |i: &str| seen.get(i).or_else(|| spec_of(i).and_then(|s| seen.get(s.from())));
    let mut streams = BTreeMap::new();
    for (name, _) in &plan.sources {
        let n = seen.get(name).map_or(0, |s| s.records);
        streams.insert(name.clone(), StreamFigures { records_in: n, records_out: n, ..Default::default() });
    }
    for (name, spec) in &plan.streams {
        let Some(out) = seen.get(name) else { continue };
        let inputs: Vec<_> = spec.inputs().into_iter().filter_map(seen_at).collect();
        let records_in = inputs.iter().map(|s| s.records).sum();
        // From the first input record's arrival to the last output's departure, on any worker.
        let start = inputs.iter().map(|s| s.first).min().unwrap_or(out.first);
        let busy_us = out.last.saturating_duration_since(start).as_micros() as u64;
        let plugin = ctx.meters.get(name).map(|m| m.take());
        streams.insert(name.clone(), StreamFigures { records_in, records_out: out.records, busy_us, plugin });
    }
    // Every event-time operator has folded batch `time` in (the probe passed it).
    let watermark = ctx.watermark.take(time);
    ctx.events.emit(JobEvent::BatchCompleted { time, scheduling_delay_ms: delay, processing_ms, streams, watermark });
}

fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Moves the remote workers' feeds on, when this worker relays them; true while more may come.
fn pump(relay: &mut Option<Relay>) -> bool {
    relay.as_mut().is_some_and(Relay::pump)
}
