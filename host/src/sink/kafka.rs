//! Kafka sink: each record becomes a message (key → key, value → value as text) produced with
//! idempotence on. Every message carries headers naming the sink (`weir-sink`: job/sink), its batch
//! time (`weir-batch`) and its place in the batch's canonical order (`weir-seq`). With checkpoints, the
//! sink records after each batch that it is written whole and where the partitions ended ([`super::written`]).
//! A resumed job writes the batches after its checkpoint again: those recorded are skipped, and before
//! the first other one the sink reads back what the topic holds past the recorded ends and produces
//! only the messages still missing. So a batch written again after a crash adds no duplicate, and a
//! batch cut short by the crash is completed. It does not rely on Kafka transactions, which Tansu 0.6
//! does not fence (see docs/CONNECTORS.md).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use weir_sdk::packed::Batch;

use super::written::Record;
use super::{Sink, SinkError};
use crate::render;

/// How long a batch may take to be acknowledged by the brokers.
const DELIVERY: Duration = Duration::from_secs(60);
/// Timeout of each query made when reading back a resumed topic.
const QUERY: Duration = Duration::from_secs(10);

/// Records the first failed delivery of a batch, and where each partition's acknowledged messages end.
#[derive(Default)]
struct Deliveries {
    failed: Mutex<Option<String>>,
    ends: Mutex<BTreeMap<i32, i64>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => {
                let mut ends = self.ends.lock().unwrap_or_else(|p| p.into_inner());
                let end = ends.entry(m.partition()).or_default();
                *end = (*end).max(m.offset() + 1);
            }
            Err((e, _)) => {
                self.failed.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// A Kafka topic written batch by batch.
pub struct KafkaSink {
    name: String,
    /// `job/sink`: which messages of the topic are this sink's.
    id: String,
    topic: String,
    config: ClientConfig,
    producer: BaseProducer<Deliveries>,
    /// A resumed job's sink, before its first batch: the topic must be read back first.
    resuming: bool,
    /// With checkpoints: the record of what is written, and where it is kept.
    written: Record,
    /// Messages the topic already held from the batches written again: (batch time, place).
    held: HashSet<(u64, u64)>,
}

impl KafkaSink {
    /// A sink of job `job` named `name` writing to `topic` on `brokers`; `resume`: the job resumes.
    /// `state`: with checkpoints, the folder where the sink records what it has written.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        job: &str,
        name: &str,
        brokers: &str,
        topic: &str,
        options: &BTreeMap<String, String>,
        resume: bool,
        state: Option<&Path>,
    ) -> Result<KafkaSink, SinkError> {
        let err = |message: String| SinkError::Broker { sink: name.into(), message };
        let written = Record::open(state, resume).map_err(err)?;
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", brokers);
        for (k, v) in options {
            config.set(k, v);
        }
        let mut producing = config.clone();
        producing.set("enable.idempotence", "true").set("linger.ms", "5");
        let producer = producing
            .create_with_context(Deliveries::default())
            .map_err(|e| err(format!("cannot make a Kafka producer: {e}")))?;
        Ok(KafkaSink {
            name: name.into(),
            id: format!("{job}/{name}"),
            topic: topic.into(),
            config,
            producer,
            resuming: resume,
            written,
            held: HashSet::new(),
        })
    }

    fn err(&self, message: String) -> SinkError {
        SinkError::Broker { sink: self.name.clone(), message }
    }

    /// Reads back what the topic holds past where the last batch written whole ended (from the start
    /// when none was), and keeps this sink's messages of batch `from` and later ones.
    fn read_back(&mut self, from: u64) -> Result<(), SinkError> {
        let mut config = self.config.clone();
        config
            .set("group.id", format!("weir.readback.{}", self.id))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true");
        let consumer: BaseConsumer = config.create().map_err(|e| self.err(format!("cannot read the topic: {e}")))?;
        let meta = consumer.fetch_metadata(Some(&self.topic), QUERY).map_err(|e| self.err(e.to_string()))?;
        let mut open: Vec<i32> = meta.topics().iter().flat_map(|t| t.partitions().iter().map(|p| p.id())).collect();
        let ends = self.written.ends();
        let mut tpl = TopicPartitionList::new();
        for p in &open {
            let at = ends.get(p).map_or(Offset::Beginning, |o| Offset::Offset(*o));
            tpl.add_partition_offset(&self.topic, *p, at).map_err(|e| self.err(e.to_string()))?;
        }
        consumer.assign(&tpl).map_err(|e| self.err(e.to_string()))?;
        let deadline = Instant::now() + DELIVERY;
        while !open.is_empty() {
            if Instant::now() > deadline {
                return Err(self.err(format!("could not read partitions {open:?} back to their end")));
            }
            let m = match consumer.poll(Duration::from_millis(200)) {
                None => continue,
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    open.retain(|o| *o != p);
                    continue;
                }
                Some(got) => got.map_err(|e| self.err(format!("reading the topic back: {e}")))?,
            };
            let Some(h) = m.headers() else { continue };
            let get = |key: &str| h.iter().find(|x| x.key == key).and_then(|x| x.value);
            let num = |key: &str| get(key).and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok());
            if get("weir-sink") == Some(self.id.as_bytes())
                && let (Some(t), Some(seq)) = (num("weir-batch"), num("weir-seq"))
                && t >= from
            {
                self.held.insert((t, seq));
            }
        }
        tracing::info!(sink = %self.name, messages = self.held.len(), "read back what the topic holds of the batches written again");
        Ok(())
    }

    /// Records that batch `time` is written whole, with where the partitions now end.
    fn record(&mut self, time: u64) -> Result<(), SinkError> {
        let ends = self.producer.context().ends.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let done = self.written.done(time, ends);
        done.map_err(|e| self.err(e))
    }
}

impl Sink for KafkaSink {
    fn write_batch(&mut self, time: u64, records: &Batch, order: &[usize]) -> Result<(), SinkError> {
        if self.written.holds(time) {
            return Ok(());
        }
        if std::mem::take(&mut self.resuming) {
            self.read_back(time)?;
        }
        let batch = time.to_string();
        for (seq, &i) in order.iter().enumerate() {
            if self.held.remove(&(time, seq as u64)) {
                continue;
            }
            let r = records.get(i);
            let value = render::value_text(&r.value);
            let seq = seq.to_string();
            let headers = OwnedHeaders::new()
                .insert(Header { key: "weir-sink", value: Some(self.id.as_str()) })
                .insert(Header { key: "weir-batch", value: Some(batch.as_str()) })
                .insert(Header { key: "weir-seq", value: Some(seq.as_str()) });
            let mut record = BaseRecord::to(&self.topic).payload(value.as_str()).headers(headers);
            if let Some(k) = r.key {
                record = record.key(k);
            }
            // A full local queue empties as the brokers acknowledge: wait for room, then retry.
            while let Err((e, back)) = self.producer.send(record) {
                match e {
                    KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => {
                        self.producer.poll(Duration::from_millis(50));
                        record = back;
                    }
                    e => return Err(self.err(format!("batch {time}: {e}"))),
                }
            }
        }
        self.producer.flush(DELIVERY).map_err(|e| self.err(format!("batch {time} not acknowledged: {e}")))?;
        let failed = self.producer.context().failed.lock().unwrap_or_else(|p| p.into_inner()).take();
        match failed {
            Some(e) => Err(self.err(format!("batch {time}: a message was not delivered: {e}"))),
            None => self.record(time),
        }
    }
}
