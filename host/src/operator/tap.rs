//! Taps: a running job's stream, seen from outside (`weir job tail`). Every source and stream passes
//! through a tap that, while someone listens, renders each batch's records (at most [`MAX_RECORDS`] per
//! worker and batch) and broadcasts them; with nobody listening it costs one check per batch.

use std::collections::HashMap;
use std::sync::Arc;

use timely::dataflow::operators::Inspect;
use tokio::sync::broadcast;
use weir_sdk::packed::Batch;

use crate::graph::dataflow::BatchStream;
use crate::sink::render;

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

/// The taps of one job, one per source and stream.
#[derive(Clone, Default)]
pub struct Taps {
    by_stream: Arc<HashMap<String, broadcast::Sender<Arc<Tapped>>>>,
}

impl Taps {
    /// Taps for the sources and streams `names`.
    ///
    /// ```
    /// let taps = weir::operator::tap::Taps::new(["lines".to_string()]);
    /// assert!(taps.subscribe("lines").is_some() && taps.subscribe("nope").is_none());
    /// ```
    pub fn new(names: impl IntoIterator<Item = String>) -> Taps {
        Taps { by_stream: Arc::new(names.into_iter().map(|n| (n, broadcast::channel(BACKLOG).0)).collect()) }
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
        let worker = self.scope().index();
        self.inspect_batch(move |time, batches| {
            if tx.receiver_count() > 0 {
                let _ = tx.send(Arc::new(render(*time, worker, batches)));
            }
        })
    }
}
