//! The wall clock: batch `t` holds what arrived before wall time `t` (ms since the Unix epoch).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use weir_sdk::packed::Batch;

use super::{Batcher, Cut};
use crate::checkpoint::SourceOffset;
use crate::receiver::{Envelope, SourceEvent};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The first batch time at or after now: a multiple of the interval, as in Spark.
pub fn first_batch_time(interval: u64) -> u64 {
    now_ms().div_ceil(interval) * interval
}

/// What the sources have sent so far and not yet cut into a batch.
pub(super) struct Received {
    pub(super) offsets: Vec<SourceOffset>,
    pending: Vec<Vec<Batch>>,
    finished: Vec<bool>,
}

impl Received {
    /// Nothing received yet from `b`'s sources; those not read here (`read`) count as finished.
    pub(super) fn new(b: &Batcher, read: impl Fn(usize) -> bool) -> Received {
        let n = b.sources.len();
        let finished = (0..n).map(|s| !read(s)).collect();
        Received { offsets: b.start.clone(), pending: (0..n).map(|_| Vec::new()).collect(), finished }
    }

    fn done(&self) -> bool {
        self.finished.iter().all(|f| *f)
    }

    /// Records received and not yet cut.
    pub(super) fn held(&self) -> usize {
        self.pending.iter().flatten().map(Batch::len).sum()
    }

    /// Takes in one event, or notes that every source is gone.
    pub(super) fn take(&mut self, b: &Batcher, got: Result<Envelope, flume::RecvTimeoutError>) {
        match got {
            Ok(env) => match b.absorb(env.source, env.event, &mut self.pending[env.source]) {
                Some(SourceEvent::Finished) => self.finished[env.source] = true,
                Some(SourceEvent::Mark(m)) => self.offsets[env.source].apply(m),
                _ => {}
            },
            Err(flume::RecvTimeoutError::Disconnected) => self.finished.iter_mut().for_each(|f| *f = true),
            Err(flume::RecvTimeoutError::Timeout) => {}
        }
    }

    /// True when every source is exactly at `target` or has finished.
    pub(super) fn at(&self, target: &[SourceOffset]) -> bool {
        (0..target.len()).all(|s| self.finished[s] || self.offsets[s] == target[s])
    }

    /// True once every source has reached `target` (or finished), setting out from `from`. A source that
    /// went past it, or that stays silent for [`STALL`], cannot be cut exactly: the batch is cut as it
    /// is, with a warning.
    pub(super) fn reached(
        &self,
        b: &Batcher,
        time: u64,
        from: &[SourceOffset],
        target: &[SourceOffset],
        quiet: Instant,
    ) -> bool {
        let open: Vec<usize> =
            (0..target.len()).filter(|&s| !self.finished[s] && self.offsets[s] != target[s]).collect();
        if open.is_empty() {
            return true;
        }
        let passed = open.iter().find(|&&s| self.offsets[s].passed(&from[s], &target[s]));
        if passed.is_some() || quiet.elapsed() >= STALL {
            let s = passed.copied().unwrap_or(open[0]);
            tracing::warn!(
                batch_time = time,
                source = %b.sources[s],
                "cannot cut the logged batch again at its offsets (logged {:?}, now {:?}); cutting it as it is",
                target[s],
                self.offsets[s]
            );
            return true;
        }
        false
    }

    pub(super) fn cut(&mut self) -> Vec<Vec<Batch>> {
        self.pending.iter_mut().map(std::mem::take).collect()
    }

    /// Receives until every source has replayed up to `target`, the offsets batch `time` was logged
    /// at (or has finished, or cannot get there; see [`Received::reached`]), or the job fails.
    pub(super) fn replay(&mut self, b: &Batcher, time: u64, target: &[SourceOffset]) {
        let mut quiet = Instant::now();
        let from = self.offsets.clone();
        while !self.done() && !b.failed() && !self.reached(b, time, &from, target, quiet) {
            let got = b.rx.recv_timeout(Duration::from_millis(100));
            // A source telling its lag has not moved toward the logged offsets.
            if got.as_ref().is_ok_and(|e| !matches!(e.event, SourceEvent::Lag(_))) {
                quiet = Instant::now();
            }
            self.take(b, got);
        }
    }
}

/// How long a source replaying toward a logged batch may stay silent before the batch is cut anyway.
const STALL: Duration = Duration::from_secs(10);

pub(super) fn run(b: &Batcher, cut: &mut Cut) -> u64 {
    let mut r = Received::new(b, |_| true);
    let mut batches = 0;
    // Batches logged before a crash: each is cut once every source has replayed up to its logged end.
    // A stop (a limit, a signal) waits until every one is cut again: stopping half way would cut a
    // logged batch short and put the rest of its data in a later batch. Only a failure ends it early,
    // and then without cutting the batch being replayed.
    for (time, target) in &b.recut {
        r.replay(b, *time, target);
        if b.failed() || !b.emit(*time, r.cut(), &r.offsets, cut) {
            return batches;
        }
        batches += 1;
    }
    if !b.recut.is_empty() && (r.done() || b.should_stop(batches)) {
        return batches;
    }
    let mut time = b.recut.last().map_or(b.first_time, |(t, _)| t + b.interval);
    loop {
        let wait = Duration::from_millis(time.saturating_sub(now_ms()));
        let deadline = Instant::now() + wait;
        // A busy channel must not hold a batch open past its time: check the clock before each receive.
        while !r.done() && !b.should_stop(batches) && Instant::now() < deadline {
            // Wake at least every 100ms so a stop request is seen promptly.
            let step = deadline.min(Instant::now() + Duration::from_millis(100));
            r.take(b, b.rx.recv_deadline(step));
        }
        if !b.log_cut(time, cut.time.unwrap_or(b.resumed_from), &r.offsets) || !b.emit(time, r.cut(), &r.offsets, cut) {
            return batches;
        }
        batches += 1;
        if r.done() || b.should_stop(batches) {
            return batches;
        }
        time += b.interval;
    }
}
