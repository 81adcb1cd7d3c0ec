//! Kafka source: every partition of one topic, read by one consumer that Weir assigns the partitions
//! to itself (as Spark's direct stream does), so a batch's offsets are Weir's to keep: they go into
//! its checkpoint, and are committed to the consumer group only after that checkpoint commits. A
//! resumed job seeks every partition to its checkpointed offset and cuts the batches logged before a
//! crash again at exactly their logged offsets. The batcher spreads each batch over the workers. In a
//! cluster every process reads the partitions it owns (`Peers::owns_partition`) with its own consumer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::statistics::Statistics;
use rdkafka::{Message as _, Offset, TopicPartitionList};

use super::partitioned::{Fetch, Message, Positions, RETRY, Reader, positions, reporting};
use super::source::{Commits, Source, SourceContext, SourceTask};
use super::{Outbox, SourceEvent};
use crate::graph::spec::StartAt;

/// Timeout of the broker queries made at start (metadata, watermarks, committed offsets).
const QUERY: Duration = Duration::from_secs(10);

/// How often librdkafka reports its statistics, from which the source's lag is told.
const LAG_EVERY: Duration = Duration::from_secs(1);

/// The consumer, with the statistics callback that reads its lag.
type KafkaConsumer = StreamConsumer<LagContext>;

/// Reads, from librdkafka's statistics, how many messages of the topic's partitions the job has not
/// taken yet: each partition's last stable offset less the offset after the last message handed to
/// Weir (or, before the first, where Weir started it). `-1` until the first statistics arrive.
struct LagContext {
    topic: String,
    behind: Arc<AtomicI64>,
    /// Where each partition was started, once assigned.
    starts: Arc<std::sync::Mutex<Positions>>,
}

impl ClientContext for LagContext {
    fn stats(&self, stats: Statistics) {
        let Some(topic) = stats.topics.get(&self.topic) else { return };
        // Partition -1 is librdkafka's own (unassigned messages).
        let starts = self.starts.lock().unwrap_or_else(|e| e.into_inner());
        if starts.is_empty() {
            return;
        }
        let lags = topic.partitions.values().filter(|p| p.partition >= 0).filter_map(|p| {
            let end = if p.ls_offset >= 0 { p.ls_offset } else { p.hi_offset };
            let read = if p.app_offset >= 0 { Some(p.app_offset) } else { starts.get(&p.partition).copied() };
            read.filter(|_| end >= 0).map(|read| (end - read).max(0))
        });
        self.behind.store(lags.sum(), Ordering::Relaxed);
    }
}

impl ConsumerContext for LagContext {}

/// The source's settings, from its spec.
#[derive(Clone)]
pub struct KafkaSource {
    pub brokers: String,
    pub topic: String,
    pub group: Option<String>,
    pub start: StartAt,
    pub options: BTreeMap<String, String>,
}

impl Source for KafkaSource {
    fn run(self: Box<Self>, ctx: SourceContext, out: Outbox) -> SourceTask {
        Box::pin(async move {
            let name = ctx.name.clone();
            reporting(&name, &out, self.read(ctx, &out)).await;
        })
    }
}

impl KafkaSource {
    fn consumer(&self, ctx: &SourceContext, lag: LagContext) -> Result<KafkaConsumer, String> {
        let group = self.group.clone().unwrap_or_else(|| format!("weir.{}.{}", ctx.job, ctx.name));
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("session.timeout.ms", "6000")
            // What librdkafka fetches ahead while the job is slower than the topic: 16 MiB, not its
            // default 64 MiB; when that is full it stops fetching (flow control, docs/CONNECTORS.md).
            .set("queued.max.messages.kbytes", "16384")
            .set("statistics.interval.ms", LAG_EVERY.as_millis().to_string());
        for (k, v) in &self.options {
            config.set(k, v);
        }
        config.create_with_context(lag).map_err(|e| format!("cannot make a Kafka consumer: {e}"))
    }

    /// Where each partition starts: the checkpoint's offset, else the group's committed one, else the
    /// `start` policy, made a number at once so the first checkpoint holds every partition exactly.
    fn starting(&self, consumer: &KafkaConsumer, parts: &[i32], resumed: &Positions) -> Result<Positions, String> {
        let mut tpl = TopicPartitionList::new();
        for p in parts {
            tpl.add_partition(&self.topic, *p);
        }
        let committed = consumer.committed_offsets(tpl, QUERY).map_err(|e| format!("committed offsets: {e}"))?;
        let mut at = Positions::new();
        for &p in parts {
            if let Some(o) = resumed.get(&p) {
                at.insert(p, *o);
                continue;
            }
            let group = committed.find_partition(&self.topic, p).and_then(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            });
            let (low, high) =
                consumer.fetch_watermarks(&self.topic, p, QUERY).map_err(|e| format!("partition {p}: {e}"))?;
            let policy = if self.start == StartAt::Earliest { low } else { high };
            at.insert(p, group.unwrap_or(policy).max(low));
        }
        Ok(at)
    }

    async fn read(self, mut ctx: SourceContext, out: &Outbox) -> Result<(), String> {
        let (behind, starts) = (Arc::new(AtomicI64::new(-1)), Arc::<std::sync::Mutex<Positions>>::default());
        let lag = LagContext { topic: self.topic.clone(), behind: behind.clone(), starts: starts.clone() };
        let consumer = Arc::new(self.consumer(&ctx, lag)?);
        let Some(all) = self.partitions(&consumer, &ctx.name, out).await else {
            out.send(SourceEvent::Finished).await;
            return Ok(());
        };
        // In a cluster each process reads its own partitions; the others read the rest.
        let parts: Vec<i32> = all.iter().copied().filter(|p| ctx.peers.owns_partition(*p)).collect();
        if parts.is_empty() {
            tracing::info!(source = %ctx.name, topic = %self.topic, "no partition of {} is this process's", all.len());
            out.send(SourceEvent::Finished).await;
            return Ok(());
        }
        let resumed = positions(&ctx.start).unwrap_or_default();
        let this = self.clone();
        let at = blocking(&consumer, move |c| this.starting(c, &parts, &resumed)).await?;
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &at {
            tpl.add_partition_offset(&self.topic, *p, Offset::Offset(*o)).map_err(|e| e.to_string())?;
        }
        consumer.assign(&tpl).map_err(|e| format!("cannot assign the partitions: {e}"))?;
        *starts.lock().unwrap_or_else(|e| e.into_inner()) = at.clone();
        let of = all.len();
        tracing::info!(source = %ctx.name, topic = %self.topic, partitions = at.len(), "reading from {at:?} ({of} in all)");
        let (committer, topic, name) = (consumer.clone(), self.topic.clone(), ctx.name.clone());
        ctx.acknowledge(|commits| commit_loop(committer, topic, name, commits));
        let telling = tokio::spawn(tell_lag(behind, out.clone()));
        Reader::new(KafkaFetch(consumer), at, out).run(&ctx.cuts, out).await;
        telling.abort();
        Ok(())
    }

    /// The topic's partitions, waiting (and saying so) while it does not exist or the brokers cannot be
    /// reached; `None` when the job drains meanwhile.
    async fn partitions(&self, consumer: &Arc<KafkaConsumer>, name: &str, out: &Outbox) -> Option<Vec<i32>> {
        loop {
            let topic = self.topic.clone();
            let found = blocking(consumer, move |c| {
                let meta = c.fetch_metadata(Some(&topic), QUERY).map_err(|e| e.to_string())?;
                let t = meta.topics().iter().find(|t| t.name() == topic).ok_or("not in the metadata")?;
                match t.error() {
                    Some(e) => Err(format!("{e:?}")),
                    None => Ok(t.partitions().iter().map(|p| p.id()).collect::<Vec<_>>()),
                }
            })
            .await;
            match found {
                Ok(parts) if !parts.is_empty() => return Some(parts),
                Ok(_) => tracing::warn!(source = %name, topic = %self.topic, "waiting for the topic to exist"),
                Err(e) => {
                    tracing::warn!(source = %name, topic = %self.topic, brokers = %self.brokers, "waiting for Kafka: {e}")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                _ = out.drained() => return None,
            }
        }
    }
}

/// Tells the batcher the consumer's lag every [`LAG_EVERY`] until the job drains.
async fn tell_lag(behind: Arc<AtomicI64>, out: Outbox) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(LAG_EVERY) => {}
            _ = out.drained() => return,
        }
        let lag = behind.load(Ordering::Relaxed);
        if lag >= 0 && !out.send(SourceEvent::Lag(lag as u64)).await {
            return;
        }
    }
}

/// Runs a blocking librdkafka call off the async threads.
async fn blocking<T: Send + 'static>(
    consumer: &Arc<KafkaConsumer>,
    f: impl FnOnce(&KafkaConsumer) -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let c = consumer.clone();
    tokio::task::spawn_blocking(move || f(&c)).await.map_err(|e| e.to_string())?
}

/// Commits to the group each offset a checkpoint holds, once it has committed, until the job ends.
async fn commit_loop(consumer: Arc<KafkaConsumer>, topic: String, name: String, mut commits: Commits) {
    while let Some((time, offset)) = commits.next().await {
        let Some(at) = positions(&offset) else { continue };
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &at {
            let _ = tpl.add_partition_offset(&topic, *p, Offset::Offset(*o));
        }
        // A synchronous commit, off the async threads: the job's last one must land before it ends.
        let committed = blocking(&consumer, move |c| c.commit(&tpl, CommitMode::Sync).map_err(|e| e.to_string()));
        match committed.await {
            Ok(()) => tracing::debug!(source = %name, batch_time = time, "committed {at:?} to the group"),
            Err(e) => tracing::warn!(source = %name, batch_time = time, "cannot commit offsets to the group: {e}"),
        }
    }
}

/// Messages from the consumer, as the shared reader takes them.
struct KafkaFetch(Arc<KafkaConsumer>);

impl Fetch for KafkaFetch {
    async fn next(&mut self) -> Message {
        loop {
            match self.0.recv().await {
                Ok(m) => {
                    let time = m.timestamp().to_millis();
                    return (m.partition(), m.offset(), m.payload().map(<[u8]>::to_vec), time);
                }
                // librdkafka reconnects and retries by itself; what it reports is for the log.
                Err(e) => tracing::warn!("kafka: {e}"),
            }
        }
    }
}
