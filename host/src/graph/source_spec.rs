//! Source tables of a job spec: `[sources.NAME]`, one variant per kind, with their defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::grants::Grants;
use super::millis::Millis;
use super::spec::one;

/// The `event_time` of a `kafka` source that names each message's timestamp at the broker (its create
/// or log-append time, as the topic keeps it) rather than a field of the message.
pub const BROKER_TIMESTAMP: &str = "@timestamp";

/// A `[sources.NAME]` table.
#[derive(Debug, Deserialize, Clone)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceSpec {
    /// Text lines from a TCP server (as Spark's `socketTextStream`), reconnecting when it goes away.
    Socket {
        /// Host to connect to (default 127.0.0.1).
        #[serde(default = "localhost")]
        host: String,
        /// Port to connect to.
        port: u16,
        /// Most records per second taken (default: no limit): a faster input waits at the source.
        #[serde(default)]
        max_rate: Option<std::num::NonZeroU64>,
        /// Longer lines go to the dead letters with their first bytes and length (default 1 MiB).
        #[serde(default = "max_record")]
        max_record_bytes: bytesize::ByteSize,
        /// What a line holds (default `text`).
        #[serde(default)]
        format: LineFormat,
        /// With `format = "csv"`: the fields' names, in order.
        #[serde(default)]
        columns: Vec<String>,
        /// With `format = "json"` or `"csv"`: the field holding each record's event time (milliseconds
        /// since the epoch, or an RFC 3339 time in UTC); `a.b` reads a nested field. Default: none, the
        /// record's event time is its batch time.
        #[serde(default)]
        event_time: Option<String>,
    },
    /// Text lines from files that appear (by atomic rename) in a directory; each file is read once.
    Directory {
        /// The directory to watch.
        path: PathBuf,
        /// Also read files already there at start (default false, as Spark).
        #[serde(default)]
        include_existing: bool,
        /// With the manual clock: files per batch (default 1).
        #[serde(default = "one")]
        files_per_batch: usize,
        /// Most records per second taken (default: no limit): a faster input waits at the source.
        #[serde(default)]
        max_rate: Option<std::num::NonZeroU64>,
        /// Longer lines go to the dead letters with their first bytes and length (default 1 MiB).
        #[serde(default = "max_record")]
        max_record_bytes: bytesize::ByteSize,
        /// What a line holds (default `text`).
        #[serde(default)]
        format: LineFormat,
        /// With `format = "csv"`: the fields' names, in order.
        #[serde(default)]
        columns: Vec<String>,
        /// With `format = "json"` or `"csv"`: the field holding each record's event time (milliseconds
        /// since the epoch, or an RFC 3339 time in UTC); `a.b` reads a nested field. Default: none, the
        /// record's event time is its batch time.
        #[serde(default)]
        event_time: Option<String>,
    },
    /// Generated lines of Zipf-distributed words, for demos and benchmarks.
    Generator {
        /// Lines per second (realtime clock) or per batch (manual clock).
        rate: u64,
        /// Words per line (default 10).
        #[serde(default = "ten")]
        words_per_line: usize,
        /// Distinct words `w0..wN` (default 1000).
        #[serde(default = "thousand")]
        vocabulary: usize,
        /// Zipf exponent (default 1.0).
        #[serde(default = "unit")]
        zipf: f64,
        /// Words in sequence `w0, w1, ...` (wrapping at the vocabulary) instead of Zipf-distributed, so
        /// every word appears (default false).
        #[serde(default)]
        sequential: bool,
        /// Stop after this many lines (default: never).
        #[serde(default)]
        limit: Option<u64>,
        /// Random seed (default 42).
        #[serde(default = "seed")]
        seed: u64,
        /// Put before every word, for longer keys: `prefix = "customer-account-"` makes words
        /// `customer-account-w0`, … (default none).
        #[serde(default)]
        prefix: String,
    },
    /// Messages from a Kafka topic, every partition, each message value one line (a build with the
    /// `kafka` feature; see docs/CONNECTORS.md).
    Kafka {
        /// Bootstrap servers, `host:port[,host:port...]`.
        brokers: String,
        /// The topic.
        topic: String,
        /// The consumer group Weir commits its offsets to once its own checkpoint holds them
        /// (default `weir.<job>.<source>`).
        #[serde(default)]
        group: Option<String>,
        /// Where a first start reads from when neither a checkpoint nor the group holds an offset:
        /// `earliest` (default) or `latest`.
        #[serde(default)]
        start: StartAt,
        /// More librdkafka settings, e.g. `{ "security.protocol" = "ssl" }`.
        #[serde(default)]
        options: BTreeMap<String, String>,
        /// Most records per second taken (default: no limit): a faster input waits at the source.
        #[serde(default)]
        max_rate: Option<std::num::NonZeroU64>,
        /// Longer values go to the dead letters with their first bytes and length (default 1 MiB).
        #[serde(default = "max_record")]
        max_record_bytes: bytesize::ByteSize,
        /// What a message value holds (default `text`).
        #[serde(default)]
        format: LineFormat,
        /// With `format = "csv"`: the fields' names, in order.
        #[serde(default)]
        columns: Vec<String>,
        /// With `format = "json"` or `"csv"`: the field holding each record's event time (milliseconds
        /// since the epoch, or an RFC 3339 time in UTC); `a.b` reads a nested field. `"@timestamp"` (any
        /// format): the message's timestamp at the broker. Default: none, the batch time.
        #[serde(default)]
        event_time: Option<String>,
    },
    /// Messages of a NATS JetStream stream, in sequence, each message payload one line (a build with
    /// the `nats` feature; see docs/CONNECTORS.md).
    Nats {
        /// Server URL (default `nats://127.0.0.1:4222`).
        #[serde(default = "nats_url")]
        url: String,
        /// The stream, created (for `subject`) when missing.
        stream: String,
        /// The subject the stream holds, used when creating it.
        subject: String,
        /// The durable consumer Weir reads through and acknowledges on (default `weir-<job>-<source>`).
        #[serde(default)]
        consumer: Option<String>,
        /// Where a first start reads from when neither a checkpoint nor the consumer holds a position:
        /// `earliest` (default) or `latest`.
        #[serde(default)]
        start: StartAt,
        /// Most records per second taken (default: no limit): a faster input waits at the source.
        #[serde(default)]
        max_rate: Option<std::num::NonZeroU64>,
        /// Longer values go to the dead letters with their first bytes and length (default 1 MiB).
        #[serde(default = "max_record")]
        max_record_bytes: bytesize::ByteSize,
        /// What a message payload holds (default `text`).
        #[serde(default)]
        format: LineFormat,
        /// With `format = "csv"`: the fields' names, in order.
        #[serde(default)]
        columns: Vec<String>,
        /// With `format = "json"` or `"csv"`: the field holding each record's event time (milliseconds
        /// since the epoch, or an RFC 3339 time in UTC); `a.b` reads a nested field. Default: none, the
        /// record's event time is its batch time.
        #[serde(default)]
        event_time: Option<String>,
    },
    /// Entries of a Redis stream through a consumer group, one field of each entry one line (a build
    /// with the `redis` feature; see docs/CONNECTORS.md).
    Redis {
        /// Server URL (default `redis://127.0.0.1:6379/`).
        #[serde(default = "redis_url")]
        url: String,
        /// The stream's key, created (empty, with the group) when missing.
        stream: String,
        /// The consumer group (default `weir-<job>-<source>`), created when missing.
        #[serde(default)]
        group: Option<String>,
        /// This reader's name in the group (default `weir`).
        #[serde(default = "weir_name")]
        consumer: String,
        /// The entry field holding the record (default `value`).
        #[serde(default = "value_field")]
        field: String,
        /// Where a new group starts: `earliest` (default, the stream's first entry) or `latest`.
        #[serde(default)]
        start: StartAt,
        /// Most records per second taken (default: no limit): a faster input waits at the source.
        #[serde(default)]
        max_rate: Option<std::num::NonZeroU64>,
        /// Longer values go to the dead letters with their first bytes and length (default 1 MiB).
        #[serde(default = "max_record")]
        max_record_bytes: bytesize::ByteSize,
        /// What the field holds (default `text`).
        #[serde(default)]
        format: LineFormat,
        /// With `format = "csv"`: the fields' names, in order.
        #[serde(default)]
        columns: Vec<String>,
        /// With `format = "json"` or `"csv"`: the field holding each record's event time (milliseconds
        /// since the epoch, or an RFC 3339 time in UTC); `a.b` reads a nested field. Default: none, the
        /// record's event time is its batch time.
        #[serde(default)]
        event_time: Option<String>,
    },
    /// Messages of a RabbitMQ queue, each message body one line, acknowledged after each checkpoint
    /// commits (a build with the `rabbitmq` feature; see docs/CONNECTORS.md).
    Rabbitmq {
        /// Server URL (default `amqp://guest:guest@127.0.0.1:5672/%2f`).
        #[serde(default = "amqp_url")]
        url: String,
        /// The queue, declared durable when missing.
        queue: String,
        /// Most messages the broker sends before they are acknowledged (default 65535; acknowledgements
        /// wait for checkpoints, so this bounds what one checkpoint interval takes).
        #[serde(default = "prefetch")]
        prefetch: u16,
        /// Most records per second taken (default: no limit): a faster input waits at the source.
        #[serde(default)]
        max_rate: Option<std::num::NonZeroU64>,
        /// Longer values go to the dead letters with their first bytes and length (default 1 MiB).
        #[serde(default = "max_record")]
        max_record_bytes: bytesize::ByteSize,
        /// What a message body holds (default `text`).
        #[serde(default)]
        format: LineFormat,
        /// With `format = "csv"`: the fields' names, in order.
        #[serde(default)]
        columns: Vec<String>,
        /// With `format = "json"` or `"csv"`: the field holding each record's event time (milliseconds
        /// since the epoch, or an RFC 3339 time in UTC); `a.b` reads a nested field. Default: none, the
        /// record's event time is its batch time.
        #[serde(default)]
        event_time: Option<String>,
    },
    /// Messages of an MQTT topic filter, each payload one line, taken with QoS 1 in a persistent
    /// session; what is received is kept in the write-ahead log before it is acknowledged, since MQTT
    /// cannot replay (a build with the `mqtt` feature; see docs/CONNECTORS.md).
    Mqtt {
        /// Broker host (default 127.0.0.1).
        #[serde(default = "localhost")]
        host: String,
        /// Broker port (default 1883).
        #[serde(default = "mqtt_port")]
        port: u16,
        /// The topic filter (`+` and `#` wildcards allowed).
        topic: String,
        /// The session's client id (default `weir-<job>-<source>`): the broker keeps what it could
        /// not deliver for it while the job is down.
        #[serde(default)]
        client_id: Option<String>,
        /// Most records per second taken (default: no limit): a faster input waits at the source.
        #[serde(default)]
        max_rate: Option<std::num::NonZeroU64>,
        /// Longer values go to the dead letters with their first bytes and length (default 1 MiB).
        #[serde(default = "max_record")]
        max_record_bytes: bytesize::ByteSize,
        /// What a payload holds (default `text`).
        #[serde(default)]
        format: LineFormat,
        /// With `format = "csv"`: the fields' names, in order.
        #[serde(default)]
        columns: Vec<String>,
        /// With `format = "json"` or `"csv"`: the field holding each record's event time (milliseconds
        /// since the epoch, or an RFC 3339 time in UTC); `a.b` reads a nested field. Default: none, the
        /// record's event time is its batch time.
        #[serde(default)]
        event_time: Option<String>,
    },
    /// A Wasm component implementing the `source` world (docs/CONNECTORS.md, "Plugin sources and sinks").
    Plugin {
        /// The component file, relative to the spec file (on a server: an operator of its registry).
        plugin: PathBuf,
        /// Parameters passed to the plugin's `init`.
        #[serde(default)]
        params: BTreeMap<String, String>,
        /// What the plugin may reach outside its sandbox (default: nothing).
        #[serde(default)]
        grants: Grants,
        /// Most records one `poll` returns (default 8192).
        #[serde(default = "poll_records")]
        poll_records: u32,
        /// Longest one call may take (default 30 s: it may wait on HTTP).
        #[serde(default = "connector_deadline")]
        deadline: Millis,
        /// Most records per second taken (default: no limit): a faster input waits at the source.
        #[serde(default)]
        max_rate: Option<std::num::NonZeroU64>,
    },
    /// A JSON-lines file where line k is the whole of batch k (manual clock only).
    Scripted {
        /// The file.
        path: PathBuf,
        /// Wait between lines (default none): replays the script at the speed of a live source.
        #[serde(default)]
        pace: Option<Millis>,
    },
}

impl SourceSpec {
    /// True for a source that every process of a cluster reads a share of (Kafka: partition `p` on
    /// process `p mod processes`; a directory: each file on the process its name's hash picks); any
    /// other source is read on process 0 only.
    pub fn spreads(&self) -> bool {
        matches!(self, SourceSpec::Kafka { .. } | SourceSpec::Directory { .. })
    }

    /// The source's `max_rate`, if it has one.
    pub fn max_rate(&self) -> Option<std::num::NonZeroU64> {
        match self {
            SourceSpec::Socket { max_rate, .. }
            | SourceSpec::Directory { max_rate, .. }
            | SourceSpec::Kafka { max_rate, .. }
            | SourceSpec::Nats { max_rate, .. }
            | SourceSpec::Redis { max_rate, .. }
            | SourceSpec::Rabbitmq { max_rate, .. }
            | SourceSpec::Mqtt { max_rate, .. }
            | SourceSpec::Plugin { max_rate, .. } => *max_rate,
            SourceSpec::Generator { .. } | SourceSpec::Scripted { .. } => None,
        }
    }
}

/// Where a broker source (Kafka, NATS, Redis) first starts reading when nothing records a position.
#[derive(Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StartAt {
    /// Each partition's oldest message.
    #[default]
    Earliest,
    /// Only messages published after the start.
    Latest,
}

/// What a text source's line holds.
#[derive(Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LineFormat {
    /// A `text` record.
    #[default]
    Text,
    /// A JSON value, a `json` record (expressions read its fields as `value.FIELD`).
    Json,
    /// Comma-separated fields named by `columns`, a `json` object record.
    Csv,
}

fn poll_records() -> u32 {
    8192
}

/// How long one call of a plugin source or sink may take by default: it may wait on HTTP.
pub(super) fn connector_deadline() -> Millis {
    Millis(30_000)
}

pub(super) fn max_record() -> bytesize::ByteSize {
    bytesize::ByteSize::mib(1)
}
pub(super) fn webhook_timeout() -> Millis {
    Millis(10_000)
}

pub(super) fn five() -> u32 {
    5
}

pub(super) fn amqp_url() -> String {
    "amqp://guest:guest@127.0.0.1:5672/%2f".into()
}

pub(super) fn mqtt_port() -> u16 {
    1883
}

fn prefetch() -> u16 {
    u16::MAX
}

pub(super) fn redis_url() -> String {
    "redis://127.0.0.1:6379/".into()
}

fn weir_name() -> String {
    "weir".into()
}

fn value_field() -> String {
    "value".into()
}

pub(super) fn nats_url() -> String {
    "nats://127.0.0.1:4222".into()
}

pub(super) fn localhost() -> String {
    "127.0.0.1".into()
}
pub(super) fn ten() -> usize {
    10
}
fn thousand() -> usize {
    1000
}
fn unit() -> f64 {
    1.0
}
fn seed() -> u64 {
    42
}
