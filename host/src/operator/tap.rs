//! Taps: a running job's stream, seen from outside. Every source and stream passes through a tap that
//! counts each batch's records and notes when they passed (for the batch-completed event's per-stream
//! figures) and, while someone
//! listens (`weir job tail`), renders them (at most [`MAX_RECORDS`] per worker and batch) and
//! broadcasts them; with nobody listening it costs a count and one lock per batch.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use timely::dataflow::operators::Inspect;
use tokio::sync::broadcast;
use weir_sdk::packed::Batch;

use crate::render;
use crate::stream::BatchStream;

/// Records rendered per worker and batch; the rest are counted.
pub const MAX_RECORDS: usize = 1000;

/// Batches a slow listener may fall behind before it loses the oldest.
const BACKLOG: usize = 64;

/// One worker's part of a batch on a tapped stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Tapped {
    /// The batch.
    pub time: u64,
    /// The worker.
    pub worker: usize,
    /// Its records, as the jsonl sink writes them.
    pub records: Vec<serde_json::Value>,
    /// Records beyond [`MAX_RECORDS`], not rendered.
    pub omitted: usize,
}

/// What the taps saw of one source or stream in one batch, over all workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Records out.
    pub records: u64,
    /// When its first part passed.
    pub first: Instant,
    /// When its last part passed.
    pub last: Instant,
}

/// What the taps saw, by batch time, then by source or stream.
type Counts = BTreeMap<u64, BTreeMap<String, Seen>>;

/// The taps of one job, one per source and stream.
#[derive(Clone, Default)]
pub struct Taps {
    by_stream: Arc<HashMap<String, broadcast::Sender<Arc<Tapped>>>>,
    counts: Arc<Mutex<Counts>>,
}

impl Taps {
    /// Taps for the sources and streams `names`.
    ///
    /// ```
    /// let taps = weir::operator::tap::Taps::new(["lines".to_string()]);
    /// assert!(taps.subscribe("lines").is_some() && taps.subscribe("nope").is_none());
    /// ```
    pub fn new(names: impl IntoIterator<Item = String>) -> Taps {
        let by_stream = names.into_iter().map(|n| (n, broadcast::channel(BACKLOG).0)).collect();
        Taps { by_stream: Arc::new(by_stream), counts: Arc::default() }
    }

    /// Records out of each source and stream at batch `time`, on every worker; forgets them and any
    /// earlier batch's (a batch completes after every earlier one).
    ///
    /// ```
    /// let taps = weir::operator::tap::Taps::new(["lines".to_string()]);
    /// assert!(taps.take_counts(1000).is_empty());
    /// ```
    pub fn take_counts(&self, time: u64) -> BTreeMap<String, Seen> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let later = counts.split_off(&(time + 1));
        let mut done = std::mem::replace(&mut *counts, later);
        done.remove(&time).unwrap_or_default()
    }

    fn count(&self, time: u64, name: &str, records: u64) {
        let now = Instant::now();
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let by_stream = counts.entry(time).or_default();
        let seen = by_stream.entry(name.to_string()).or_insert(Seen { records: 0, first: now, last: now });
        seen.records += records;
        seen.last = now;
    }

    /// The batches of `stream` from now on, if the job has such a source or stream.
    pub fn subscribe(&self, stream: &str) -> Option<broadcast::Receiver<Arc<Tapped>>> {
        self.by_stream.get(stream).map(broadcast::Sender::subscribe)
    }
}

/// Extension trait for tapping a stream.
pub trait TapExt<'s> {
    /// Passes the stream on unchanged, showing its batches to `taps`' listeners of `name`.
    fn tap(self, name: &str, taps: &Taps) -> BatchStream<'s>;
}

fn render(time: u64, worker: usize, batches: &[Batch]) -> Tapped {
    let total: usize = batches.iter().map(Batch::len).sum();
    let records = batches.iter().flat_map(|b| (0..b.len()).map(move |i| render::json(&b.get(i))));
    let records: Vec<_> = records.take(MAX_RECORDS).collect();
    Tapped { time, worker, omitted: total - records.len(), records }
}

impl<'s> TapExt<'s> for BatchStream<'s> {
    fn tap(self, name: &str, taps: &Taps) -> BatchStream<'s> {
        let Some(tx) = taps.by_stream.get(name).cloned() else { return self };
        let (worker, taps, name) = (self.scope().index(), taps.clone(), name.to_string());
        self.inspect_batch(move |time, batches| {
            taps.count(*time, &name, batches.iter().map(|b| b.len() as u64).sum());
            if tx.receiver_count() > 0 {
                let _ = tx.send(Arc::new(render(*time, worker, batches)));
            }
        })
    }
}
