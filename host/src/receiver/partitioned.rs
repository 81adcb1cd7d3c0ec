//! What broker sources share: reading a log of messages numbered per partition (Kafka's partitions and
//! offsets, a NATS stream's sequence as partition 0) into chunks, each marked with the next offset of
//! every partition, cutting logged batches again at exactly their offsets, and skipping a message
//! already taken (a redelivery).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::lines::Refused;
use super::{LineChunker, Outbox, SourceEvent};
use crate::checkpoint::{OffsetMark, SourceOffset};

/// How long a chunk of messages may wait for more before it is handed to the batcher.
const LINGER: Duration = Duration::from_millis(20);
/// Wait between tries while a broker cannot be reached.
pub const RETRY: Duration = Duration::from_secs(2);

/// Runs a broker source's `read`; an error it returns finishes the source and fails the job, naming
/// the source.
pub async fn reporting(name: &str, out: &Outbox, read: impl Future<Output = Result<(), String>>) {
    if let Err(why) = read.await {
        out.send(SourceEvent::Failed(format!("source `{name}`: {why}"))).await;
    }
}

/// Tries `connect` every [`RETRY`] until it succeeds, logging each failure as waiting for `what`;
/// `None` (after telling the batcher the source has finished) when the job drains first.
pub async fn until_connected<T, E: std::fmt::Display, Fut: Future<Output = Result<T, E>>>(
    name: &str,
    what: &str,
    out: &Outbox,
    mut connect: impl FnMut() -> Fut,
) -> Option<T> {
    loop {
        match connect().await {
            Ok(c) => return Some(c),
            Err(e) => tracing::warn!(source = %name, "waiting for {what}: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            _ = out.drained() => {
                out.send(SourceEvent::Finished).await;
                return None;
            }
        }
    }
}

/// Next offset to read, per partition: a broker source's own offset.
pub type Positions = BTreeMap<i32, i64>;

/// The mark of `p`.
pub fn to_offset(p: &Positions) -> OffsetMark {
    OffsetMark::Own(serde_json::to_value(p).unwrap_or_default())
}

/// The positions in `o`, when it is a broker source's offset.
///
/// ```
/// use weir::checkpoint::SourceOffset;
/// use weir::receiver::partitioned::positions;
/// let own = SourceOffset::Own(serde_json::json!({"0": 12, "2": 40}));
/// assert_eq!(positions(&own), Some([(0, 12), (2, 40)].into()));
/// assert_eq!(positions(&SourceOffset::Units(3)), None);
/// ```
pub fn positions(o: &SourceOffset) -> Option<Positions> {
    match o {
        SourceOffset::Own(v) => serde_json::from_value(v.clone()).ok(),
        _ => None,
    }
}

/// For sources that acknowledge "everything up to here" with one message's acknowledger (JetStream's
/// `AckPolicy::All`, AMQP's `multiple`): per mark (the next offset of partition 0), the acknowledger of
/// the last message before it.
pub struct Ackers<A>(std::sync::Arc<std::sync::Mutex<BTreeMap<i64, A>>>);

impl<A> Clone for Ackers<A> {
    fn clone(&self) -> Self {
        Ackers(self.0.clone())
    }
}

impl<A> Default for Ackers<A> {
    fn default() -> Self {
        Ackers(Default::default())
    }
}

impl<A> Ackers<A> {
    /// Keeps `acker`, the last message's before mark `next`.
    pub fn keep(&self, next: i64, acker: A) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(next, acker);
    }

    /// The newest acknowledger a checkpoint at `next` covers; older ones are dropped (acknowledging
    /// the newest acknowledges them).
    ///
    /// ```
    /// use weir::receiver::partitioned::Ackers;
    /// let a = Ackers::default();
    /// a.keep(10, "tag 9");
    /// a.keep(20, "tag 19");
    /// a.keep(30, "tag 29");
    /// assert_eq!(a.newest_through(25), Some("tag 19"));
    /// assert_eq!(a.newest_through(25), None);
    /// assert_eq!(a.newest_through(30), Some("tag 29"));
    /// ```
    pub fn newest_through(&self, next: i64) -> Option<A> {
        let mut a = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let newer = a.split_off(&(next + 1));
        std::mem::replace(&mut *a, newer).pop_last().map(|(_, acker)| acker)
    }
}

/// One message: its partition, its offset, its value (`None`: a message without one) and its timestamp
/// at the broker in milliseconds, when the broker keeps one.
pub type Message = (i32, i64, Option<Vec<u8>>, Option<i64>);

/// Where messages come from.
pub trait Fetch: Send {
    /// The next message; waits for one.
    fn next(&mut self) -> impl Future<Output = Message> + Send;

    /// A chunk ending at `at` was handed over: a source that acknowledges per message keeps what it
    /// needs to acknowledge up to there once a checkpoint holds it.
    fn marked(&mut self, _at: &Positions) {}
}

/// Reads messages into chunks, tracking the next offset of each partition.
pub struct Reader<F> {
    fetch: F,
    at: Positions,
    /// Messages read past the end of the logged batch being cut again, for the batches after it.
    held: VecDeque<Message>,
    chunk: LineChunker,
}

impl<F: Fetch> Reader<F> {
    /// A reader of `fetch` whose partitions start at `at`, chunking as `out` says.
    pub fn new(fetch: F, at: Positions, out: &Outbox) -> Reader<F> {
        Reader { fetch, at, held: VecDeque::new(), chunk: LineChunker::new(out) }
    }

    /// Marks where every partition starts, so the first checkpoint holds each exactly; then cuts the
    /// logged batches again (`cuts`) and reads live messages until the job drains or goes away.
    pub async fn run(mut self, cuts: &[SourceOffset], out: &Outbox) {
        if !out.send(SourceEvent::Mark(to_offset(&self.at))).await {
            return;
        }
        for cut in cuts.iter().filter_map(positions) {
            if !self.replay_to(&cut, out).await {
                return;
            }
        }
        self.live(out).await;
    }

    /// Takes one message into the chunk (or the dead letters); false when the job is gone. A message
    /// before its partition's position was taken already (a redelivery) and is skipped.
    async fn take(&mut self, (part, offset, value, stamp): Message, out: &Outbox) -> bool {
        if self.at.get(&part).is_some_and(|next| offset < *next) {
            return true;
        }
        self.at.insert(part, offset + 1);
        let lines = out.lines();
        let bad = match value.as_deref().map(|v| lines.read(v)) {
            // A message without a timestamp takes its batch's time (0), as a line without an event time.
            Some(Ok((kind, bytes, time))) => {
                match self.chunk.push_value(kind, &bytes, if lines.broker_time { stamp.unwrap_or(0) } else { time }) {
                    Some(full) => return self.send(full, out).await,
                    None => return true,
                }
            }
            Some(Err(refused)) => refused,
            None => Refused { input: String::new(), reason: "a message without a value".into() },
        };
        let reason = format!("partition {part} offset {offset}: {}", bad.reason);
        out.send(SourceEvent::Bad { input: bad.input, reason }).await
    }

    async fn send(&mut self, chunk: weir_sdk::packed::Batch, out: &Outbox) -> bool {
        self.fetch.marked(&self.at);
        out.send(SourceEvent::Marked(chunk, to_offset(&self.at))).await
    }

    /// Hands over the chunk with the offsets reached; false when the job is gone.
    async fn flush(&mut self, out: &Outbox) -> bool {
        let chunk = self.chunk.take();
        self.send(chunk, out).await
    }

    /// Reads up to exactly `cut` (a logged batch's end) and marks it; false when the job is gone.
    async fn replay_to(&mut self, cut: &Positions, out: &Outbox) -> bool {
        let reached = |at: &Positions| cut.iter().all(|(p, o)| at.get(p).is_some_and(|a| a >= o));
        let mut waiting = std::mem::take(&mut self.held);
        while !reached(&self.at) {
            let m = match waiting.pop_front() {
                Some(m) => m,
                None => self.fetch.next().await,
            };
            if cut.get(&m.0).is_some_and(|end| m.1 >= *end) {
                self.held.push_back(m);
            } else if !self.take(m, out).await {
                return false;
            }
        }
        self.held.extend(waiting);
        self.flush(out).await
    }

    /// Reads live messages until the job drains or goes away.
    async fn live(mut self, out: &Outbox) {
        for m in std::mem::take(&mut self.held) {
            if !self.take(m, out).await {
                return;
            }
        }
        loop {
            let empty = self.chunk.is_empty();
            let linger = async move {
                if empty {
                    std::future::pending::<()>().await
                }
                tokio::time::sleep(LINGER).await
            };
            let m = tokio::select! {
                m = self.fetch.next() => m,
                _ = linger => {
                    if !self.flush(out).await {
                        return;
                    }
                    continue;
                }
                _ = out.drained() => {
                    if self.flush(out).await {
                        out.send(SourceEvent::Finished).await;
                    }
                    return;
                }
            };
            if !self.take(m, out).await {
                return;
            }
        }
    }
}
