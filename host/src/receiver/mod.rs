//! Receivers: one tokio task per source, turning outside data into packed text batches and handing them
//! to the batcher through one bounded channel (bounded, so a slow job pushes back on its sources).

mod directory;
mod generator;
#[cfg(feature = "kafka")]
mod kafka;
pub mod lines;
mod logged;
#[cfg(feature = "mqtt")]
mod mqtt;
#[cfg(feature = "nats")]
mod nats;
#[cfg(any(feature = "kafka", feature = "nats", feature = "redis", feature = "rabbitmq", feature = "mqtt"))]
pub mod partitioned;
mod plugin;
mod plugin_thread;
#[cfg(feature = "rabbitmq")]
mod rabbitmq;
#[cfg(feature = "redis")]
pub mod redis;
pub mod scripted;
mod socket;
pub mod source;
pub mod throttle;
pub mod wal;

use std::num::NonZeroU64;
use std::sync::Arc;

use weir_sdk::packed::Batch;

use crate::checkpoint::{OffsetMark, SourceOffset};
use crate::event::Events;
use crate::graph::spec::{CheckpointSpec, ClockMode, SourceSpec};
use crate::pace::Pace;
use lines::Lines;
use source::{Acknowledgers, Source, SourceContext, SourceTask};

/// Lines per chunk sent to the batcher: big enough to amortise the channel, small enough to stay fresh.
pub(crate) const CHUNK_LINES: usize = 8192;

/// What a source tells the batcher.
#[derive(Debug)]
pub enum SourceEvent {
    /// Records received. Records at time 0 get their batch's time.
    Data(Batch),
    /// Records received and how far the source has read with them. One event, so a batch is never cut
    /// between data and its offset: a resumed job can then cut the same batches again (see `batcher`).
    Marked(Batch, OffsetMark),
    /// Manual clock: everything sent since the last unit end makes up this source's part of one batch.
    UnitEnd,
    /// Input the source could not turn into records, with the reason (goes to the dead letters).
    Bad {
        /// The raw input.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// How far the source has read, covering the data sent before it (see `checkpoint::offsets`).
    Mark(OffsetMark),
    /// How many records the source knows are waiting for it past what it has read (a Kafka consumer's
    /// lag), told now and then; it changes no batch.
    Lag(u64),
    /// The source has no more data.
    Finished,
    /// The source cannot go on (its input cannot be read): it is finished, and the job fails with `reason`.
    Failed(String),
}

/// A source event tagged with the source's index in the plan.
#[derive(Debug)]
pub struct Envelope {
    /// Index of the source.
    pub source: usize,
    /// The event.
    pub event: SourceEvent,
}

/// Set to true when the job drains: receivers hand over what they have already received, then finish.
pub type Drain = tokio::sync::watch::Receiver<bool>;

/// The sending side a receiver writes to, the job's drain signal, which text lines it takes and how
/// fast its records may go.
#[derive(Clone)]
pub struct Outbox {
    source: usize,
    tx: flume::Sender<Envelope>,
    drain: Drain,
    lines: Lines,
    flow: Flow,
}

/// How fast a source's records may go: at most `max_rate`, and at most its share of the job's pace.
#[derive(Clone, Default)]
struct Flow {
    max_rate: Option<NonZeroU64>,
    pace: Arc<Pace>,
    /// The job's sources: each takes an even share of the pace.
    sources: u64,
    throttle: Arc<throttle::Throttle>,
}

impl Flow {
    /// The rate the source is held to now, if any.
    fn rate(&self) -> Option<NonZeroU64> {
        let share =
            self.pace.rate().and_then(|p| NonZeroU64::new(p.get() / self.sources.max(1)).or(NonZeroU64::new(1)));
        self.max_rate.into_iter().chain(share).min()
    }
}

impl Outbox {
    /// An outbox for source `source`, taking text lines of any length, at any rate.
    pub fn new(source: usize, tx: flume::Sender<Envelope>, drain: Drain) -> Outbox {
        Outbox { source, tx, drain, lines: Lines::default(), flow: Flow::default() }
    }

    /// This outbox, reading lines as `lines` says.
    pub fn with_lines(self, lines: Lines) -> Outbox {
        Outbox { lines, ..self }
    }

    /// This outbox, letting through at most `max_rate` records a second (none: no limit of its own),
    /// and at most its share of `pace` among the job's `sources`.
    pub fn with_rate(self, max_rate: Option<NonZeroU64>, pace: Arc<Pace>, sources: usize) -> Outbox {
        let flow = Flow { max_rate, pace, sources: sources as u64, throttle: Default::default() };
        Outbox { flow, ..self }
    }

    /// Lines per chunk for a chunk of at most `limit`: fewer under a low `max_rate`, so batches fill
    /// evenly.
    pub fn chunk_lines(&self, limit: usize) -> usize {
        self.flow.max_rate.map_or(limit, |r| throttle::chunk_lines(r, limit))
    }

    /// How this source reads its lines.
    pub fn lines(&self) -> &Lines {
        &self.lines
    }

    /// True once the job drains.
    pub fn draining(&self) -> bool {
        *self.drain.borrow()
    }

    /// Resolves when the job drains (never, if the job ends first).
    pub async fn drained(&self) {
        let mut drain = self.drain.clone();
        if drain.wait_for(|d| *d).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Sends an event, once `max_rate` lets its records go; false when the job is shutting down and the
    /// receiver should stop.
    pub async fn send(&self, event: SourceEvent) -> bool {
        if let SourceEvent::Data(b) | SourceEvent::Marked(b, _) = &event {
            match self.flow.rate() {
                Some(rate) => self.flow.throttle.admit(b.len(), rate).await,
                None => self.flow.throttle.reset(),
            }
        }
        self.tx.send_async(Envelope { source: self.source, event }).await.is_ok()
    }
}

/// Packs text lines into batches of at most `limit` lines.
pub(crate) struct LineChunker {
    batch: Batch,
    limit: usize,
}

impl LineChunker {
    /// A chunker for `out`'s lines, in chunks of at most [`CHUNK_LINES`] (fewer under a low `max_rate`).
    pub(crate) fn new(out: &Outbox) -> LineChunker {
        LineChunker { batch: Batch::new(), limit: out.chunk_lines(CHUNK_LINES) }
    }

    /// A chunker for the lines of `text`, in chunks of at most `limit` lines, with room for the first:
    /// its lines and bytes are counted up to the `limit`-th newline, not through the whole text.
    pub(crate) fn for_text(text: &[u8], limit: usize) -> LineChunker {
        let (mut lines, mut bytes) = (1, text.len());
        for end in memchr::memchr_iter(b'\n', text) {
            if lines == limit {
                bytes = end;
                break;
            }
            lines += 1;
        }
        LineChunker { batch: Batch::with_capacity(lines, bytes), limit }
    }

    /// Adds one line (without its newline; a trailing `\r` is dropped). Returns a full chunk to send.
    pub(crate) fn push(&mut self, line: &[u8]) -> Option<Batch> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        self.push_value(weir_sdk::packed::Kind::Text, line, 0)
    }

    /// Adds one record of kind `kind` with value bytes `value` at event time `time` (0: its batch's).
    /// Returns a full chunk to send.
    pub(crate) fn push_value(&mut self, kind: weir_sdk::packed::Kind, value: &[u8], time: i64) -> Option<Batch> {
        self.batch.push_raw(None, kind, value, time);
        (self.batch.len() >= self.limit).then(|| self.take())
    }

    /// The lines gathered so far. The next chunk starts with the room this one needed, so a steady
    /// stream of lines fills its chunks without regrowing them.
    pub(crate) fn take(&mut self) -> Batch {
        let room = Batch::with_capacity(self.batch.len(), self.batch.values.len());
        std::mem::replace(&mut self.batch, room)
    }

    /// True when no line is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }
}

/// Sends the lines of `bytes` from byte `from` on in chunks of at most `limit` lines, each followed by
/// the mark `mark` makes of the byte it reached (the start of the next line).
pub(crate) async fn send_lines(
    bytes: &[u8],
    from: usize,
    limit: usize,
    mark: impl Fn(u64) -> OffsetMark,
    out: &Outbox,
) -> bool {
    let text = &bytes[from.min(bytes.len())..];
    let mut chunker = LineChunker::for_text(text, out.chunk_lines(limit));
    // Valid text is the rule: one check of the whole text, and a line is checked alone only when the
    // text holds something that is not UTF-8 (or the line is too long).
    let valid = out.lines.plain() && std::str::from_utf8(text).is_ok();
    let mut refused = false;
    let mut pos = from;
    while pos < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
        let next = (end + 1).min(bytes.len());
        let line = &bytes[pos..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let full = if valid && line.len() <= out.lines.max_record_bytes {
            chunker.push(line)
        } else {
            match out.lines.read(line) {
                Ok((kind, value, time)) => chunker.push_value(kind, &value, time),
                Err(bad) => {
                    refused = true;
                    if !out.send(bad.into()).await {
                        return false;
                    }
                    None
                }
            }
        };
        if let Some(full) = full
            && !out.send(SourceEvent::Marked(full, mark(next as u64))).await
        {
            return false;
        }
        pos = next;
    }
    // A refused last line still moves the offset past it.
    (chunker.is_empty() && !refused) || out.send(SourceEvent::Marked(chunker.take(), mark(bytes.len() as u64))).await
}

/// Where a receiver starts: the job, the source, where the checkpoint resumed it and the batches
/// logged before a crash.
pub struct Start<'a> {
    /// The job's name.
    pub job: &'a str,
    /// The source's index in the plan.
    pub index: usize,
    /// The source's name.
    pub name: &'a str,
    /// Where the source resumes.
    pub offset: SourceOffset,
    /// The offsets at which batches logged before a crash ended (see `checkpoint::BatchLog`); the
    /// receiver replays up to each with a mark exactly there, so the batcher can cut those batches again.
    pub cuts: Vec<SourceOffset>,
    /// The job's pace, which holds the sources back while a sink lags.
    pub pace: Arc<Pace>,
    /// How many sources the job has (each takes an even share of the pace).
    pub sources: usize,
    /// A plugin source's component, loaded and checked by the job.
    pub connector: Option<crate::operator::wasm::connector::Connector>,
    /// This process among the job's: a spread source reads only its share.
    pub peers: crate::checkpoint::Peers,
}

/// Starts the receiver of `start.name` on `rt`. `checkpoint`: the job's checkpoints, under which
/// sources keep what a resumed job needs (the socket's write-ahead log, the files a directory found at
/// the first start). `events`: where the source hears of committed checkpoints; `acks`: where its
/// acknowledging task is kept until the job ends.
#[allow(clippy::too_many_arguments)]
pub fn spawn(
    rt: &tokio::runtime::Handle,
    start: Start<'_>,
    spec: &SourceSpec,
    clock: ClockMode,
    checkpoint: Option<&CheckpointSpec>,
    events: &Events,
    acks: &Acknowledgers,
    tx: flume::Sender<Envelope>,
    drain: Drain,
) -> tokio::task::JoinHandle<()> {
    use tracing::Instrument;
    let out = Outbox::new(start.index, tx, drain).with_lines(Lines::of(spec).unwrap_or_default()).with_rate(
        spec.max_rate(),
        start.pace.clone(),
        start.sources,
    );
    let mut ctx = SourceContext::new(start.job, start.name, start.offset, events, acks);
    ctx.cuts = start.cuts;
    ctx.peers = start.peers;
    ctx.manual = clock == ClockMode::Manual;
    ctx.state_dir = checkpoint.map(|c| c.dir.join("sources").join(start.name));
    let source = match (start.connector, spec) {
        (Some(connector), SourceSpec::Plugin { params, poll_records, .. }) => {
            let (params, poll_records) = (params.clone(), *poll_records);
            Box::new(plugin::PluginSource { connector, params, poll_records })
        }
        _ => build(start.name, spec, checkpoint),
    };
    rt.spawn(source.run(ctx, out).in_current_span())
}

/// The source `spec` describes (a plugin source is made from its loaded component, in [`spawn`]).
fn build(name: &str, spec: &SourceSpec, checkpoint: Option<&CheckpointSpec>) -> Box<dyn Source> {
    let name = name.to_string();
    match spec.clone() {
        SourceSpec::Plugin { .. } => Box::new(move |_: SourceContext, out: Outbox| -> SourceTask {
            Box::pin(async move {
                out.send(SourceEvent::Failed(format!("source `{name}`: its plugin was not loaded"))).await;
            })
        }),
        SourceSpec::Socket { host, port, .. } => {
            let wal_dir = checkpoint.filter(|c| c.write_ahead_log).map(|c| crate::checkpoint::wal_dir(&c.dir, &name));
            Box::new(move |ctx: SourceContext, out: Outbox| -> SourceTask {
                let wal = wal_dir.map(|dir| logged::Replay::new(dir, &ctx.start, &ctx.cuts));
                Box::pin(socket::run(name, host, port, wal, out))
            })
        }
        SourceSpec::Directory { path, include_existing, files_per_batch, .. } => {
            Box::new(move |ctx: SourceContext, out: Outbox| -> SourceTask {
                let cfg = directory::Config {
                    path,
                    include_existing,
                    files_per_batch,
                    manual: ctx.manual,
                    // Each process records what it skips itself: the others may list a moment later.
                    existing_record: ctx.state_dir.map(|d| ctx.peers.own_dir(&d).join("existing.json")),
                    peers: ctx.peers,
                };
                Box::pin(directory::run(name, cfg, ctx.start, ctx.cuts, out))
            })
        }
        SourceSpec::Generator { rate, words_per_line, vocabulary, zipf, sequential, limit, seed, prefix } => {
            Box::new(move |ctx: SourceContext, out: Outbox| -> SourceTask {
                let cfg = generator::Config {
                    rate,
                    words_per_line,
                    vocabulary,
                    zipf,
                    sequential,
                    limit,
                    seed,
                    prefix,
                    manual: ctx.manual,
                };
                let cuts = ctx.cuts.iter().map(SourceOffset::units).collect();
                Box::pin(generator::run(cfg, ctx.start.units(), cuts, out))
            })
        }
        SourceSpec::Scripted { path, pace } => Box::new(move |ctx: SourceContext, out: Outbox| -> SourceTask {
            let pace = std::time::Duration::from_millis(pace.map_or(0, |p| p.0));
            // Lines already cut into logged batches are replayed without the pace.
            let unpaced = ctx.cuts.last().map_or(0, SourceOffset::units);
            Box::pin(scripted::run(name, path, ctx.start.units(), unpaced, pace, out))
        }),
        #[cfg(feature = "kafka")]
        SourceSpec::Kafka { brokers, topic, group, start, options, .. } => {
            Box::new(kafka::KafkaSource { brokers, topic, group, start, options })
        }
        #[cfg(feature = "nats")]
        SourceSpec::Nats { url, stream, subject, consumer, start, .. } => {
            Box::new(nats::NatsSource { url, stream, subject, consumer, start })
        }
        #[cfg(feature = "redis")]
        SourceSpec::Redis { url, stream, group, consumer, field, start, .. } => {
            Box::new(redis::RedisSource { url, stream, group, consumer, field, start })
        }
        #[cfg(feature = "rabbitmq")]
        SourceSpec::Rabbitmq { url, queue, prefetch, .. } => Box::new(rabbitmq::RabbitSource { url, queue, prefetch }),
        #[cfg(feature = "mqtt")]
        SourceSpec::Mqtt { host, port, topic, client_id, .. } => {
            // MQTT cannot replay: with checkpoints it always logs, whatever `write_ahead_log` says.
            let wal = checkpoint.map(|c| crate::checkpoint::wal_dir(&c.dir, &name));
            Box::new(mqtt::MqttSource { host, port, topic, client_id, wal })
        }
        #[cfg(not(all(
            feature = "kafka",
            feature = "nats",
            feature = "redis",
            feature = "rabbitmq",
            feature = "mqtt"
        )))]
        #[allow(unreachable_patterns)]
        SourceSpec::Kafka { .. }
        | SourceSpec::Nats { .. }
        | SourceSpec::Redis { .. }
        | SourceSpec::Rabbitmq { .. }
        | SourceSpec::Mqtt { .. } => Box::new(move |_: SourceContext, out: Outbox| -> SourceTask {
            Box::pin(async move {
                let why = format!("source `{name}`: this weir was built without its connector (cargo feature)");
                out.send(SourceEvent::Failed(why)).await;
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use weir_sdk::packed::ValueRef;

    use super::LineChunker;

    fn chunks(text: &[u8], limit: usize) -> Vec<Vec<String>> {
        let mut chunker = LineChunker::for_text(text, limit);
        let mut out = Vec::new();
        let lines = text.split(|&b| b == b'\n');
        let mut take = |b: weir_sdk::packed::Batch| {
            out.push(b.iter().map(|r| if let ValueRef::Text(t) = r.value { t.to_string() } else { panic!() }).collect())
        };
        for line in lines {
            if let Some(full) = chunker.push(line) {
                take(full);
            }
        }
        if !chunker.is_empty() {
            take(chunker.take());
        }
        out
    }

    #[test]
    fn a_text_goes_out_in_chunks_of_at_most_the_limit_and_whole_under_it() {
        assert_eq!(chunks(b"a\nbb\r\nc\nd\ne", 2), [vec!["a", "bb"], vec!["c", "d"], vec!["e"]]);
        assert_eq!(chunks(b"a\nbb\r\nc\nd\ne", 1 << 20), [vec!["a", "bb", "c", "d", "e"]]);
        let whole = LineChunker::for_text(b"a\nbb\nccc", 1 << 20);
        assert!(whole.batch.kinds.capacity() >= 3 && whole.batch.values.capacity() >= 6);
    }
}
