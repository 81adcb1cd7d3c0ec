//! Sink tables of a job spec: `[sinks.NAME]`, one variant per kind, with their defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::millis::Millis;
use super::source_spec::{amqp_url, five, localhost, mqtt_port, nats_url, redis_url, ten, webhook_timeout};
use super::spec::default_true;

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
    /// A RabbitMQ queue: each record one persistent message (value as text, key in the `weir-key`
    /// header, message id `job/sink/batch/place`), confirmed by the broker (a build with the
    /// `rabbitmq` feature).
    Rabbitmq {
        /// Input source or stream.
        from: String,
        /// Server URL (default `amqp://guest:guest@127.0.0.1:5672/%2f`).
        #[serde(default = "amqp_url")]
        url: String,
        /// The queue, declared durable when missing.
        queue: String,
    },
    /// An MQTT topic: each record's value (as text) one message, published with QoS 1 and confirmed by
    /// the broker; `{key}` in the topic is replaced by the record's key (a build with the `mqtt`
    /// feature).
    Mqtt {
        /// Input source or stream.
        from: String,
        /// Broker host (default 127.0.0.1).
        #[serde(default = "localhost")]
        host: String,
        /// Broker port (default 1883).
        #[serde(default = "mqtt_port")]
        port: u16,
        /// The topic, without wildcards; `{key}` stands for the record's key.
        topic: String,
        /// The session's client id (default `weir-<job>-<sink>`).
        #[serde(default)]
        client_id: Option<String>,
    },
    /// An HTTP endpoint: one `POST` per batch, the batch as JSON, with an `Idempotency-Key` header;
    /// retried on 5xx and timeouts (a build with the `webhook` feature; see docs/CONNECTORS.md).
    Webhook {
        /// Input source or stream.
        from: String,
        /// The URL (`http://` or `https://`).
        url: String,
        /// More request headers, e.g. `{ Authorization = "Bearer …" }`.
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// How long one request may take (default 10 s).
        #[serde(default = "webhook_timeout")]
        timeout: Millis,
        /// Tries after the first on a 5xx, 408 or 429 answer or none (default 5).
        #[serde(default = "five")]
        retries: u32,
    },
    /// A Wasm component implementing the `sink` world, called with each batch and its batch time
    /// (docs/CONNECTORS.md, "Plugin sources and sinks").
    Plugin {
        /// Input source or stream.
        from: String,
        /// The component file, relative to the spec file (on a server: an operator of its registry).
        plugin: std::path::PathBuf,
        /// Parameters passed to the plugin's `init`.
        #[serde(default)]
        params: BTreeMap<String, String>,
        /// What the plugin may reach outside its sandbox (default: nothing).
        #[serde(default)]
        grants: super::grants::Grants,
        /// Longest one call may take (default 30 s: it may wait on HTTP).
        #[serde(default = "super::source_spec::connector_deadline")]
        deadline: Millis,
    },
    /// The web UI's big screen of the stream (`/jobs/JOB/screen/STREAM` on `--http`): its `top` keys
    /// by numeric value, largest first, updated as each batch completes. Keeps every key's latest
    /// value, so a running total that emits only changed keys still ranks all of them.
    Screen {
        /// Input source or stream.
        from: String,
        /// Keys shown (default 10, at most 100).
        #[serde(default = "ten")]
        top: usize,
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
            | SinkSpec::Rabbitmq { from, .. }
            | SinkSpec::Mqtt { from, .. }
            | SinkSpec::Webhook { from, .. }
            | SinkSpec::Plugin { from, .. }
            | SinkSpec::Screen { from, .. }
            | SinkSpec::Noop { from } => from,
        }
    }
}
