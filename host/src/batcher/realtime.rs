//! The wall clock: batch `t` holds what arrived before wall time `t` (ms since the Unix epoch).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use weir_sdk::packed::Batch;

use super::{Batcher, Cut};
use crate::receiver::SourceEvent;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The first batch time at or after now: a multiple of the interval, as in Spark.
pub fn first_batch_time(interval: u64) -> u64 {
    now_ms().div_ceil(interval) * interval
}

pub(super) fn run(b: &Batcher, cut: &mut Cut) -> u64 {
    let mut offsets = b.start.clone();
    let mut pending: Vec<Vec<Batch>> = (0..b.sources.len()).map(|_| Vec::new()).collect();
    let mut finished = vec![false; b.sources.len()];
    let mut time = b.first_time;
    let mut batches = 0;
    loop {
        let wait = Duration::from_millis(time.saturating_sub(now_ms()));
        let deadline = Instant::now() + wait;
        // A busy channel must not hold a batch open past its time: check the clock before each receive.
        while !finished.iter().all(|f| *f) && !b.should_stop(batches) && Instant::now() < deadline {
            // Wake at least every 100ms so a stop request is seen promptly.
            let step = deadline.min(Instant::now() + Duration::from_millis(100));
            match b.rx.recv_deadline(step) {
                Ok(env) => match b.absorb(env.source, env.event, &mut pending[env.source]) {
                    Some(SourceEvent::Finished) => finished[env.source] = true,
                    Some(SourceEvent::Mark(m)) => offsets[env.source].apply(m),
                    _ => {}
                },
                Err(flume::RecvTimeoutError::Timeout) if Instant::now() >= deadline => break,
                Err(flume::RecvTimeoutError::Timeout) => {}
                Err(flume::RecvTimeoutError::Disconnected) => finished.iter_mut().for_each(|f| *f = true),
            }
        }
        let parts = pending.iter_mut().map(std::mem::take).collect();
        if !b.emit(time, parts, &offsets, cut) {
            return batches;
        }
        batches += 1;
        if finished.iter().all(|f| *f) || b.should_stop(batches) {
            return batches;
        }
        time += b.interval;
    }
}
