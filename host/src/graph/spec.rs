//! Job spec v1: the TOML a user writes. Serde refuses unknown fields; `plan.rs` checks the rest.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

pub use super::millis::Millis;

/// A whole job spec file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Name, batch interval, workers, clock.
    pub job: JobSection,
    /// Default plugin limits.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// Named sources.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceSpec>,
    /// Named streams as written, each derived from a source or another stream.
    #[serde(default, rename = "streams")]
    pub stream_tables: BTreeMap<String, StreamTable>,
    /// The streams' operators ([`JobSpec::split_streams`] takes them out of `stream_tables`).
    #[serde(skip)]
    pub streams: BTreeMap<String, StreamSpec>,
    /// What each stream does with a record it refuses.
    #[serde(skip)]
    pub on_error: BTreeMap<String, OnError>,
    /// Named sinks, each reading a source or stream.
    #[serde(default)]
    pub sinks: BTreeMap<String, SinkSpec>,
    /// Where refused records go (default: the log).
    #[serde(default)]
    pub dead_letter: Option<DeadLetterSpec>,
    /// Where keyed state lives.
    #[serde(default)]
    pub state: StateSpec,
    /// What `weir serve` does when the job fails.
    #[serde(default)]
    pub restart: super::restart::RestartSpec,
    /// Static tables streams join with.
    #[serde(default)]
    pub tables: BTreeMap<String, TableSpec>,
    /// Checkpoints (none by default).
    #[serde(default)]
    pub checkpoint: Option<CheckpointSpec>,
}

/// The `[checkpoint]` table: where and how often the job saves what it needs to resume after a crash.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSpec {
    /// Directory of the checkpoints, relative to the spec file. A job started on a directory that holds
    /// a checkpoint resumes from it.
    pub dir: PathBuf,
    /// Checkpoint every this many batches (default 1); `every × batch_interval` must be a multiple of
    /// every windowed stream's slide.
    #[serde(default = "default_every")]
    pub every: u64,
    /// Committed checkpoints kept (default 3); older ones are pruned.
    #[serde(default = "default_keep")]
    pub keep: usize,
    /// Log what non-replayable sources (the socket) receive before it enters a batch, so received data
    /// is never lost (Spark's `receiver.writeAheadLog.enable`; default true).
    #[serde(default = "default_true")]
    pub write_ahead_log: bool,
}

impl CheckpointSpec {
    /// A checkpoint every `every` batches, with the other defaults; its `dir` is set by the caller.
    pub fn every(every: u64) -> CheckpointSpec {
        CheckpointSpec { dir: PathBuf::new(), every, keep: default_keep(), write_ahead_log: true }
    }
}

fn default_every() -> u64 {
    1
}

fn default_keep() -> usize {
    3
}

fn default_true() -> bool {
    true
}

/// The `[state]` table.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct StateSpec {
    /// Directory of the state database, relative to the spec file (default: a temporary directory,
    /// removed when the job ends).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Keys each stateful stream keeps in memory per worker (default 100000); the rest stay in sled.
    #[serde(default = "default_cache")]
    pub cache: usize,
    /// Keep state in a temporary directory that a restart forgets, on purpose (tests, demos). Without
    /// it, a job with `update_state_by_key` or `map_with_state` needs `dir` or a `[checkpoint]`.
    #[serde(default)]
    pub ephemeral: bool,
}

fn default_cache() -> usize {
    100_000
}

impl Default for StateSpec {
    fn default() -> Self {
        StateSpec { dir: None, cache: default_cache(), ephemeral: false }
    }
}

/// The `[job]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSection {
    /// Job name, used in logs and dead letters.
    pub name: String,
    /// Micro-batch interval.
    pub batch_interval: Millis,
    /// Worker threads (default 1).
    #[serde(default = "one")]
    pub workers: usize,
    /// What cuts batches: the wall clock (default) or the sources (`manual`, for tests and benchmarks).
    #[serde(default)]
    pub clock: ClockMode,
}

fn one() -> usize {
    1
}

/// What cuts batches.
#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ClockMode {
    /// A batch closes every interval of wall-clock time; batch times are multiples of the interval.
    #[default]
    Realtime,
    /// A batch closes when every source has delivered its next unit (a scripted line, N files, N lines);
    /// batch k (from 1) has time k × interval. Deterministic.
    Manual,
}

/// Limits applied to every plugin instance.
#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Longest a plugin may spend on one batch (default 5s).
    #[serde(default = "default_deadline")]
    pub deadline: Millis,
    /// Most linear memory one plugin instance may hold (default 256 MiB).
    #[serde(default = "default_memory")]
    pub memory: bytesize::ByteSize,
}

fn default_deadline() -> Millis {
    Millis(5000)
}

fn default_memory() -> bytesize::ByteSize {
    bytesize::ByteSize::mib(256)
}

impl Default for LimitsSpec {
    fn default() -> Self {
        LimitsSpec { deadline: default_deadline(), memory: default_memory() }
    }
}

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
        /// Longer lines go to the dead letters with their first bytes and length (default 1 MiB).
        #[serde(default = "max_record")]
        max_record_bytes: bytesize::ByteSize,
        /// What a line holds (default `text`).
        #[serde(default)]
        format: LineFormat,
        /// With `format = "csv"`: the fields' names, in order.
        #[serde(default)]
        columns: Vec<String>,
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
        /// Longer lines go to the dead letters with their first bytes and length (default 1 MiB).
        #[serde(default = "max_record")]
        max_record_bytes: bytesize::ByteSize,
        /// What a line holds (default `text`).
        #[serde(default)]
        format: LineFormat,
        /// With `format = "csv"`: the fields' names, in order.
        #[serde(default)]
        columns: Vec<String>,
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
        start: KafkaStart,
        /// More librdkafka settings, e.g. `{ "security.protocol" = "ssl" }`.
        #[serde(default)]
        options: BTreeMap<String, String>,
        /// Longer values go to the dead letters with their first bytes and length (default 1 MiB).
        #[serde(default = "max_record")]
        max_record_bytes: bytesize::ByteSize,
        /// What a message value holds (default `text`).
        #[serde(default)]
        format: LineFormat,
        /// With `format = "csv"`: the fields' names, in order.
        #[serde(default)]
        columns: Vec<String>,
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
        start: KafkaStart,
        /// Longer values go to the dead letters with their first bytes and length (default 1 MiB).
        #[serde(default = "max_record")]
        max_record_bytes: bytesize::ByteSize,
        /// What a message payload holds (default `text`).
        #[serde(default)]
        format: LineFormat,
        /// With `format = "csv"`: the fields' names, in order.
        #[serde(default)]
        columns: Vec<String>,
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
        start: KafkaStart,
        /// Longer values go to the dead letters with their first bytes and length (default 1 MiB).
        #[serde(default = "max_record")]
        max_record_bytes: bytesize::ByteSize,
        /// What the field holds (default `text`).
        #[serde(default)]
        format: LineFormat,
        /// With `format = "csv"`: the fields' names, in order.
        #[serde(default)]
        columns: Vec<String>,
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

/// Where a Kafka source's first start reads from.
#[derive(Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KafkaStart {
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

fn max_record() -> bytesize::ByteSize {
    bytesize::ByteSize::mib(1)
}
fn redis_url() -> String {
    "redis://127.0.0.1:6379/".into()
}

fn weir_name() -> String {
    "weir".into()
}

fn value_field() -> String {
    "value".into()
}

fn nats_url() -> String {
    "nats://127.0.0.1:4222".into()
}

fn localhost() -> String {
    "127.0.0.1".into()
}
fn ten() -> usize {
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

pub use super::streams::{JoinKind, ReducerKind, StreamSpec, WindowFilter, WindowSpec};
pub use crate::table::{TableFormat, TableSpec};

/// A `[sinks.NAME]` table.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkSpec {
    /// Prints each batch as Spark does: a `Time: <t> ms` header and the first `num` records.
    Print {
        /// Input source or stream.
        from: String,
        /// Records shown per batch (default 10).
        #[serde(default = "ten")]
        num: usize,
    },
    /// One text file per batch, `<prefix>-<t>.<suffix>`, written atomically.
    Files {
        /// Input source or stream.
        from: String,
        /// Path prefix, relative to the spec file.
        prefix: PathBuf,
        /// File suffix (default `txt`).
        #[serde(default = "txt")]
        suffix: String,
    },
    /// One JSON line per batch: `{"time": t, "records": [...]}`.
    Jsonl {
        /// Input source or stream.
        from: String,
        /// Output file, relative to the spec file.
        path: PathBuf,
    },
    /// A PostgreSQL table, each batch written with a `(job, sink, batch time)` marker in one transaction,
    /// so a batch written again is skipped.
    Postgres {
        /// Input source or stream.
        from: String,
        /// Connection string, e.g. `postgres://postgres@127.0.0.1:5432/test`.
        url: String,
        /// The table (`name` or `schema.name`), created if missing as `columns` say, or else as
        /// `(batch_time, key, value)`.
        table: String,
        /// `insert` (default), `upsert` (by `primary_key`) or `replace` (the batch's rows).
        #[serde(default)]
        mode: WriteMode,
        /// Named columns: column → `key`, `value`, `value.<field>` (of a JSON value) or `batch_time`.
        #[serde(default)]
        columns: BTreeMap<String, String>,
        /// SQL types of columns (default: text for the key, BIGINT for the batch time, JSON for values).
        #[serde(default)]
        column_types: BTreeMap<String, String>,
        /// The columns that identify a row for `upsert` (default: those holding the key).
        #[serde(default)]
        primary_key: Vec<String>,
        /// Create the table when it is missing (default true).
        #[serde(default = "default_true")]
        create_table: bool,
    },
    /// A MySQL or MariaDB table, written as the `postgres` sink writes (marker table included).
    Mariadb {
        /// Input source or stream.
        from: String,
        /// Connection string, e.g. `mysql://root@127.0.0.1:3306/test`.
        url: String,
        /// The table (`name` or `schema.name`), created if missing as `columns` say, or else as
        /// `(batch_time, key, value)`.
        table: String,
        /// `insert` (default), `upsert` (by `primary_key`) or `replace` (the batch's rows).
        #[serde(default)]
        mode: WriteMode,
        /// Named columns: column → `key`, `value`, `value.<field>` (of a JSON value) or `batch_time`.
        #[serde(default)]
        columns: BTreeMap<String, String>,
        /// SQL types of columns (default: text for the key, BIGINT for the batch time, JSON for values).
        #[serde(default)]
        column_types: BTreeMap<String, String>,
        /// The columns that identify a row for `upsert` (default: those holding the key).
        #[serde(default)]
        primary_key: Vec<String>,
        /// Create the table when it is missing (default true).
        #[serde(default = "default_true")]
        create_table: bool,
    },
    /// A Kafka topic: each record's key and value (as text) become a message's key and value, and
    /// every message carries its batch time and place in the batch, so a batch written again after a
    /// crash adds only what is missing (a build with the `kafka` feature; see docs/CONNECTORS.md).
    Kafka {
        /// Input source or stream.
        from: String,
        /// Bootstrap servers, `host:port[,host:port...]`.
        brokers: String,
        /// The topic.
        topic: String,
        /// More librdkafka settings, e.g. `{ "compression.type" = "lz4" }`.
        #[serde(default)]
        options: BTreeMap<String, String>,
    },
    /// A NATS JetStream subject: each record's value (as text) one message, its key in the `weir-key`
    /// header, published with a message id of job, sink, batch and place, so the stream drops one
    /// written again within its duplicate window (a build with the `nats` feature).
    Nats {
        /// Input source or stream.
        from: String,
        /// Server URL (default `nats://127.0.0.1:4222`).
        #[serde(default = "nats_url")]
        url: String,
        /// The subject to publish to.
        subject: String,
        /// The stream holding `subject`, created when missing (default: it must exist).
        #[serde(default)]
        stream: Option<String>,
    },
    /// A Redis stream of its own: each record one entry (`value`, and `key` when it has one) with the id
    /// `<batch time>-<place>`, so a batch written again adds only what is missing (a build with the
    /// `redis` feature).
    Redis {
        /// Input source or stream.
        from: String,
        /// Server URL (default `redis://127.0.0.1:6379/`).
        #[serde(default = "redis_url")]
        url: String,
        /// The stream's key.
        stream: String,
    },
    /// Runs the stream and discards its records on the worker that holds them, as Spark's `noop`
    /// format: for benchmarks, and for streams kept only for their state.
    Noop {
        /// Input source or stream.
        from: String,
    },
}

/// How a database sink writes a batch's rows.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// Append every record.
    #[default]
    Insert,
    /// One row per key, replaced by the key's latest value.
    Upsert,
    /// Delete the rows of the batch's time, then insert.
    Replace,
}

fn txt() -> String {
    "txt".into()
}

impl SinkSpec {
    /// The name of this sink's input.
    pub fn from(&self) -> &str {
        match self {
            SinkSpec::Print { from, .. }
            | SinkSpec::Files { from, .. }
            | SinkSpec::Jsonl { from, .. }
            | SinkSpec::Postgres { from, .. }
            | SinkSpec::Mariadb { from, .. }
            | SinkSpec::Kafka { from, .. }
            | SinkSpec::Nats { from, .. }
            | SinkSpec::Redis { from, .. }
            | SinkSpec::Noop { from } => from,
        }
    }
}

/// A `[streams.NAME]` table: the operator, and what to do with the records it refuses.
#[derive(Debug, Deserialize)]
pub struct StreamTable {
    /// The operator (`op`) and its fields.
    #[serde(flatten)]
    pub op: StreamSpec,
    /// What happens to a record the stream refuses (default `dead_letter`).
    #[serde(default)]
    pub on_error: OnError,
}

/// What a stream does with a record it refuses (a bad record, a plugin failure).
#[derive(Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Send it to the dead letters and go on.
    #[default]
    DeadLetter,
    /// Count it and go on, writing no dead letter.
    Skip,
    /// Send it to the dead letters and fail the job at the end of the batch (exit 1).
    Fail,
}

impl JobSpec {
    /// Moves the streams' operators and error policies out of the tables they were written in.
    pub fn split_streams(&mut self) {
        for (name, table) in std::mem::take(&mut self.stream_tables) {
            self.on_error.insert(name.clone(), table.on_error);
            self.streams.insert(name, table.op);
        }
    }
}

/// The `[dead_letter]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterSpec {
    /// A JSON-lines file receiving refused records with their reasons, relative to the spec file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Fail the job once more records than this went to the dead letters (default: no limit).
    #[serde(default)]
    pub max: Option<u64>,
    /// Fail the job once more than this fraction (0 to 1) of its input went to the dead letters,
    /// counted over the run from its 100th input on (default: no limit).
    #[serde(default)]
    pub max_fraction: Option<f64>,
}
