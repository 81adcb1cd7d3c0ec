//! The batcher: the batch clock. It gathers what receivers send, cuts it into micro-batches at batch
//! times `t = k × interval`, spreads each batch over the workers and then closes `t` on every worker
//! (the timely epoch for `t` ends). Runs on its own thread so the clock never waits on a tokio task.

mod follow;
mod manual;
mod realtime;
mod times;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use weir_sdk::packed::Batch;

pub use realtime::{first_batch_time as realtime_first_time, now_ms};
pub use times::BatchTimes;

use crate::checkpoint::{Checkpointer, SourceOffset};
use crate::event::{Events, JobEvent};
use crate::operator::dead_letter::DeadLetters;
use crate::receiver::{Envelope, SourceEvent};

/// What the batcher sends a worker (through timely, to another process's worker: so it serializes).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Feed {
    /// This worker's share of source `source`'s records for batch `time`.
    Data {
        /// Source index.
        source: usize,
        /// Batch time.
        time: u64,
        /// Records.
        batch: Batch,
    },
    /// Batch `time` is complete: advance every input past it.
    Close {
        /// Batch time.
        time: u64,
    },
}

/// State shared by the batcher and the workers.
#[derive(Debug, Default)]
pub struct Shared {
    /// The latest batch time closed (0: none yet).
    pub closed_through: AtomicU64,
    /// Set to stop the job at the next batch boundary.
    pub stop: AtomicBool,
    /// Set with `stop` when the job is cancelled: no final checkpoint.
    pub cancelled: AtomicBool,
    /// Sources or state stores that failed, with the reason; the job then ends with an error.
    pub errors: std::sync::Mutex<Vec<String>>,
}

impl Shared {
    /// Logs and records an error; the job will end with it.
    pub fn record_error(&self, reason: String) {
        tracing::error!("{reason}");
        self.errors.lock().unwrap_or_else(|e| e.into_inner()).push(reason);
    }

    /// Records why the job cannot go on and stops it at the next batch boundary.
    pub fn fail(&self, reason: String) {
        self.record_error(reason);
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Work for the next batch boundary, given the time of the first batch after it (a plugin swap): the
/// batcher does it before it hands that batch to any worker.
pub type AtBoundary = Box<dyn FnOnce(u64) + Send>;

/// When the batcher stops on its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Stop after this many batches.
    pub max_batches: Option<u64>,
    /// Stop at the first batch boundary after this instant.
    pub until: Option<Instant>,
}

/// The batcher's settings and channels.
pub struct Batcher {
    /// Batch interval in milliseconds.
    pub interval: u64,
    /// Time of the first batch.
    pub first_time: u64,
    /// Source names, by index.
    pub sources: Vec<String>,
    /// Where records arrive from.
    pub rx: flume::Receiver<Envelope>,
    /// One feed per worker: this process's first, then (on process 0 of several) the other processes'.
    pub feeds: Vec<flume::Sender<Feed>>,
    /// This process's workers: the first of `feeds`.
    pub local_workers: usize,
    /// By source index: read by every process of a cluster, each its share (`SourceSpec::spreads`).
    /// Such a source's records stay on the workers of the process that read them.
    pub spread: Vec<bool>,
    /// Shared progress and stop flag.
    pub shared: Arc<Shared>,
    /// Stop conditions.
    pub limits: Limits,
    /// Refused input.
    pub dead: Arc<DeadLetters>,
    /// The job's checkpoints, which take each checkpointed batch's source offsets.
    pub checkpoint: Option<Arc<Checkpointer>>,
    /// Where each batch cut is told.
    pub events: Events,
    /// Work queued for the next batch boundary.
    pub at_boundary: flume::Receiver<AtBoundary>,
    /// Where each source starts (a resumed job's offsets).
    pub start: Vec<SourceOffset>,
    /// The batch of the checkpoint the job resumed from (0 for none): the first batch cut follows it.
    pub resumed_from: u64,
    /// Realtime clock: batches cut before a crash after the checkpoint resumed from, with the offsets
    /// they were cut at (from the batch log); they are cut again at exactly those offsets.
    pub recut: Vec<(u64, Vec<SourceOffset>)>,
    /// The lag each source that can tell last told, by source index.
    pub lag: std::sync::Mutex<BTreeMap<usize, u64>>,
}

/// The last batch cut and where the sources were when it was cut.
pub(crate) struct Cut {
    time: Option<u64>,
    offsets: Vec<SourceOffset>,
}

impl Batcher {
    /// True when a source, sink or checkpoint failed: the job ends with that error.
    fn failed(&self) -> bool {
        !self.shared.errors.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    fn should_stop(&self, batches: u64) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
            || self.dead.failure().is_some()
            || self.limits.max_batches.is_some_and(|m| batches >= m)
            || self.limits.until.is_some_and(|u| Instant::now() >= u)
    }

    /// Handles a source event that is not data; data goes to `pending`.
    fn absorb(&self, source: usize, event: SourceEvent, pending: &mut Vec<Batch>) -> Option<SourceEvent> {
        match event {
            SourceEvent::Data(b) => {
                if !b.is_empty() {
                    pending.push(b);
                }
                None
            }
            SourceEvent::Marked(b, mark) => {
                if !b.is_empty() {
                    pending.push(b);
                }
                Some(SourceEvent::Mark(mark))
            }
            SourceEvent::Bad { input, reason } => {
                self.dead.raw(&self.sources[source], &input, &reason);
                None
            }
            SourceEvent::Lag(n) => {
                self.lag.lock().unwrap_or_else(|e| e.into_inner()).insert(source, n);
                None
            }
            SourceEvent::Failed(reason) => {
                self.shared.record_error(reason);
                Some(SourceEvent::Finished)
            }
            other => Some(other),
        }
    }

    /// Realtime clock: logs batch `time`, cut right after batch `after`, before it is handed over, so a
    /// resumed job can cut it again.
    /// False (and the job fails) when the log cannot be written.
    fn log_cut(&self, time: u64, after: u64, offsets: &[SourceOffset]) -> bool {
        let Some(ck) = &self.checkpoint else { return true };
        match ck.log_batch(time, after, self.named(offsets)) {
            Ok(()) => true,
            Err(e) => {
                self.shared.fail(format!("batch {time}: {e}"));
                false
            }
        }
    }

    fn named(&self, offsets: &[SourceOffset]) -> BTreeMap<String, SourceOffset> {
        self.named_if(offsets, |_| true)
    }

    /// [`Batcher::named`], of the sources `keep` says. Another process than process 0 gives only its
    /// spread sources': it holds the others at where the job resumed, and process 0 has them now.
    fn named_if(&self, offsets: &[SourceOffset], keep: impl Fn(usize) -> bool) -> BTreeMap<String, SourceOffset> {
        let pairs = self.sources.iter().zip(offsets).enumerate().filter(|(s, _)| keep(*s));
        pairs.map(|(_, (n, o))| (n.clone(), o.clone())).collect()
    }

    /// Sends batch `time`, cut when the sources were at `offsets`, to the workers and closes it. False
    /// when the workers are gone.
    fn emit(&self, time: u64, parts: Vec<Vec<Batch>>, offsets: &[SourceOffset], cut: &mut Cut) -> bool {
        if let Some(ck) = self.checkpoint.as_ref().filter(|ck| ck.due(time)) {
            ck.offsets(time, self.named(offsets));
        }
        let records = parts.iter().map(|chunks| chunks.iter().map(|b| b.len() as u64).sum::<u64>());
        let records: BTreeMap<String, u64> = self.sources.iter().cloned().zip(records).collect();
        self.dead.inputs(records.values().sum());
        let lag = self
            .lag
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(s, n)| (self.sources[*s].clone(), *n))
            .collect();
        self.events.emit(JobEvent::BatchCut { time, records, queued: self.rx.len() as u64, lag });
        self.at_boundary.try_iter().for_each(|work| work(time));
        for (source, chunks) in parts.into_iter().enumerate() {
            let workers = if self.spread[source] { self.local_workers } else { self.feeds.len() };
            for (worker, share) in shares(time, chunks, workers).into_iter().enumerate() {
                if !share.is_empty() && self.feeds[worker].send(Feed::Data { source, time, batch: share }).is_err() {
                    return false;
                }
            }
        }
        self.shared.closed_through.store(time, Ordering::SeqCst);
        cut.time = Some(time);
        cut.offsets.clone_from_slice(offsets);
        self.feeds.iter().all(|f| f.send(Feed::Close { time }).is_ok())
    }

    /// Runs `clock` until the sources finish or a limit is hit (following: until process 0's feed
    /// ends), then has the final checkpoint taken at the last batch. Returns the number of batches cut.
    pub fn run(self, clock: Clock) -> u64 {
        let mut cut = Cut { time: None, offsets: self.start.clone() };
        let follows = matches!(clock, Clock::Follow { .. });
        let batches = match clock {
            Clock::Manual => manual::run(&self, &mut cut),
            Clock::Realtime => realtime::run(&self, &mut cut),
            Clock::Follow { relayed, first_worker } => follow::run(&self, &relayed, first_worker, &mut cut),
        };
        let cancelled = self.shared.cancelled.load(Ordering::SeqCst);
        if let (Some(ck), Some(t), false) = (&self.checkpoint, cut.time, cancelled) {
            let offsets =
                if follows { self.named_if(&cut.offsets, |s| self.spread[s]) } else { self.named(&cut.offsets) };
            ck.finish(t, offsets);
        }
        batches
    }
}

/// What decides when a batch is cut.
pub enum Clock {
    /// The wall clock (`batcher/realtime.rs`).
    Realtime,
    /// Every source's next unit (`batcher/manual.rs`).
    Manual,
    /// Another process than process 0 of a cluster: process 0's closes, with what it sends this
    /// process's workers, arriving through the relay by global worker index (`batcher/follow.rs`).
    Follow {
        /// What the relay delivers.
        relayed: flume::Receiver<(usize, Feed)>,
        /// The global index of this process's first worker.
        first_worker: usize,
    },
}

/// One source's records of batch `time` in `n` shares, records without an event time given the batch's.
fn shares(time: u64, mut chunks: Vec<Batch>, n: usize) -> Vec<Batch> {
    for t in chunks.iter_mut().flat_map(|c| c.event_times.iter_mut()).filter(|t| **t == 0) {
        *t = time as i64;
    }
    split(chunks, n)
}

/// Splits one source's chunks for a batch into `n` contiguous shares of (nearly) equal record counts.
/// A share that is exactly one chunk takes it as it is; any other is copied once, at its exact size, so
/// cutting a batch never regrows or copies it twice.
fn split(chunks: Vec<Batch>, n: usize) -> Vec<Batch> {
    let len: usize = chunks.iter().map(Batch::len).sum();
    let mut pieces: Vec<Vec<(usize, usize, usize)>> = vec![Vec::new(); n];
    let mut base = 0;
    for (c, chunk) in chunks.iter().enumerate() {
        let end = base + chunk.len();
        for (w, p) in pieces.iter_mut().enumerate() {
            let (s, e) = (base.max(w * len / n), end.min((w + 1) * len / n));
            if s < e {
                p.push((c, s - base, e - base));
            }
        }
        base = end;
    }
    let mut chunks: Vec<Option<Batch>> = chunks.into_iter().map(Some).collect();
    let whole = |c: &Option<Batch>, s: usize, e: usize| s == 0 && c.as_ref().is_some_and(|b| b.len() == e);
    pieces
        .into_iter()
        .map(|p| match p.as_slice() {
            [(c, s, e)] if whole(&chunks[*c], *s, *e) => chunks[*c].take().expect("a whole chunk goes to one share"),
            _ => {
                let parts: Vec<(&Batch, usize, usize)> =
                    p.iter().map(|&(c, s, e)| (chunks[c].as_ref().expect("copied chunks stay"), s, e)).collect();
                Batch::concat(&parts)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use weir_sdk::packed::{Batch, ValueRef};

    use super::split;

    fn chunk(from: i64, n: i64) -> Batch {
        let mut b = Batch::new();
        (from..from + n).for_each(|i| b.push(None, ValueRef::I64(i), 0));
        b
    }

    fn values(b: &Batch) -> Vec<i64> {
        b.iter().map(|r| if let ValueRef::I64(i) = r.value { i } else { -1 }).collect()
    }

    #[test]
    fn shares_are_contiguous_balanced_and_keep_every_record_once() {
        for sizes in [vec![7], vec![3, 4], vec![1, 1, 1, 1, 1], vec![4, 4], vec![0, 5, 0], vec![]] {
            let mut chunks = Vec::new();
            let mut next = 0;
            for n in &sizes {
                chunks.push(chunk(next, *n));
                next += n;
            }
            for workers in 1..=3 {
                let shares = split(chunks.clone(), workers);
                assert_eq!(shares.len(), workers);
                let all: Vec<i64> = shares.iter().flat_map(values).collect();
                assert_eq!(all, (0..next).collect::<Vec<_>>(), "{sizes:?} over {workers}");
                let lens: Vec<usize> = shares.iter().map(Batch::len).collect();
                assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1, "{sizes:?}: {lens:?}");
                assert!(shares.iter().all(|s| s.validate().is_ok()));
            }
        }
    }
}
