//! Sinks: where a stream's batches leave Weir. Every batch of a sink's input is gathered on worker 0 and,
//! once the batch is complete, handed to the sink's own thread ([`writer`]), which puts it in canonical
//! order and writes it — empty batches included, as Spark prints a `Time:` header for every batch.

pub mod columns;
pub mod db;
mod files;
mod jsonl;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod mariadb;
#[cfg(feature = "mqtt")]
mod mqtt;
#[cfg(feature = "nats")]
mod nats;
pub mod plugin;
pub mod postgres;
mod print;
#[cfg(feature = "rabbitmq")]
mod rabbitmq;
#[cfg(feature = "redis")]
mod redis;

pub mod retry;
pub mod screen;
#[cfg(feature = "webhook")]
mod webhook;
pub mod writer;
pub mod written;

use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use weir_sdk::packed::{Batch, RecordRef};

use crate::batcher::BatchTimes;
use crate::graph::spec::SinkSpec;
use crate::render;
use crate::stream::BatchStream;

/// Why a sink could not write a batch.
#[derive(Debug, Error)]
pub enum SinkError {
    /// Writing a file failed.
    #[error("sink `{sink}` cannot write {path}: {source}")]
    Io {
        /// Sink name.
        sink: String,
        /// File being written.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A message broker refused a batch or could not be reached (the sinks that do not wait for it).
    #[error("sink `{sink}`: {message}")]
    Broker {
        /// Sink name.
        sink: String,
        /// What went wrong.
        message: String,
    },
    /// The sink's server could not be reached, or dropped the connection: worth waiting for.
    #[error("sink `{sink}` cannot reach {server}: {message}")]
    Unreachable {
        /// Sink name.
        sink: String,
        /// Which server (`the PostgreSQL server`, `NATS at nats://…`).
        server: String,
        /// What went wrong.
        message: String,
    },
    /// A plugin sink's HTTP request went to a host the job does not grant: never retried.
    #[error("sink `{sink}`: {message}")]
    Denied {
        /// Sink name.
        sink: String,
        /// The denial, naming the host and the grants.
        message: String,
    },
    /// A database refused a batch.
    #[error("sink `{sink}`: {message}")]
    Db {
        /// Sink name.
        sink: String,
        /// What went wrong (the server's message when there is one).
        message: String,
    },
}

/// Writes complete batches somewhere.
pub trait Sink: Send + 'static {
    /// Writes batch `time`; `records` are in canonical order.
    fn write_batch(&mut self, time: u64, records: &Batch, order: &[usize]) -> Result<(), SinkError>;

    /// The newest batch the output already holds, when the sink can tell: a resumed job checks it
    /// against the batch log, which records every batch before any sink may write it.
    fn holds_through(&self) -> Option<u64> {
        None
    }

    /// Why this sink can never write `record` (an upsert of a record without a key), if it cannot: the
    /// record goes to the dead letters instead of failing its batch over and over.
    fn refuses(&self, _record: &RecordRef<'_>) -> Option<String> {
        None
    }
}

/// Where a sink's refused records go: `(sink, batch time, record, reason)` (the job's dead letters).
pub type OnRefused = Arc<dyn Fn(&str, u64, &RecordRef<'_>, &str) + Send + Sync>;

/// Builds the sink `name` of job `job` as its spec describes; a `noop` sink has nothing to build.
/// `resume`: the job resumes from a checkpoint, so the output holds batches it will replay. `state`:
/// with checkpoints, a folder of the sink's own beside them (what a Kafka sink has written). Database
/// sinks query on `io`.
#[cfg_attr(
    not(all(
        feature = "kafka",
        feature = "nats",
        feature = "redis",
        feature = "rabbitmq",
        feature = "mqtt",
        feature = "webhook"
    )),
    allow(unused_variables)
)]
pub fn build(
    job: &str,
    name: &str,
    spec: &SinkSpec,
    resume: bool,
    state: Option<&std::path::Path>,
    io: &tokio::runtime::Handle,
) -> Result<Option<Box<dyn Sink>>, SinkError> {
    Ok(Some(match spec {
        SinkSpec::Noop { .. } => return Ok(None),
        SinkSpec::Plugin { .. } => {
            let message = "its plugin was not loaded (the job builds plugin sinks)".into();
            return Err(SinkError::Broker { sink: name.into(), message });
        }
        SinkSpec::Screen { .. } => {
            let message = "a screen reports to the job's events (the job builds screens)".into();
            return Err(SinkError::Broker { sink: name.into(), message });
        }
        SinkSpec::Mariadb { url, table, mode, columns, column_types, primary_key, create_table, .. }
        | SinkSpec::Postgres { url, table, mode, columns, column_types, primary_key, create_table, .. } => {
            let layout = layout(name, columns, column_types, primary_key, *mode)?;
            let (mode, create_table) = (*mode, *create_table);
            let target = db::Target { job, sink: name, url, table, mode, layout: &layout, create_table, io };
            let layout = layout.clone();
            match spec {
                SinkSpec::Postgres { .. } => {
                    Box::new(db::DbSink::new(name, mode, layout, postgres::Postgres::connect(&target)?)?)
                }
                _ => Box::new(db::DbSink::new(name, mode, layout, mariadb::Mariadb::connect(&target)?)?),
            }
        }
        SinkSpec::Print { num, .. } => Box::new(print::Print { num: *num }),
        SinkSpec::Files { prefix, suffix, .. } => {
            Box::new(files::Files { name: name.into(), prefix: prefix.clone(), suffix: suffix.clone() })
        }
        #[cfg(feature = "kafka")]
        SinkSpec::Kafka { brokers, topic, options, .. } => {
            Box::new(kafka::KafkaSink::new(job, name, brokers, topic, options, resume, state)?)
        }
        #[cfg(feature = "nats")]
        SinkSpec::Nats { url, subject, stream, .. } => {
            Box::new(nats::NatsSink::new(job, name, url, subject, stream.as_deref(), io)?)
        }
        #[cfg(feature = "redis")]
        SinkSpec::Redis { url, stream, .. } => Box::new(redis::RedisSink::new(name, url, stream)?),
        #[cfg(feature = "rabbitmq")]
        SinkSpec::Rabbitmq { url, queue, .. } => {
            Box::new(rabbitmq::RabbitSink::new(job, name, url, queue, resume, state, io)?)
        }
        #[cfg(feature = "mqtt")]
        SinkSpec::Mqtt { host, port, topic, client_id, .. } => {
            Box::new(mqtt::MqttSink::new(job, name, host, *port, topic, client_id.as_deref(), resume, state, io)?)
        }
        #[cfg(feature = "webhook")]
        SinkSpec::Webhook { url, headers, timeout, retries, .. } => {
            let timeout = std::time::Duration::from_millis(timeout.0);
            Box::new(webhook::Webhook::new(job, name, url, headers, timeout, *retries, resume, state)?)
        }
        #[cfg(not(all(
            feature = "kafka",
            feature = "nats",
            feature = "redis",
            feature = "rabbitmq",
            feature = "mqtt",
            feature = "webhook"
        )))]
        #[allow(unreachable_patterns)]
        SinkSpec::Kafka { .. }
        | SinkSpec::Nats { .. }
        | SinkSpec::Redis { .. }
        | SinkSpec::Rabbitmq { .. }
        | SinkSpec::Mqtt { .. }
        | SinkSpec::Webhook { .. } => {
            let message = "this weir was built without its connector (cargo feature)".into();
            return Err(SinkError::Broker { sink: name.into(), message });
        }
        SinkSpec::Jsonl { path, .. } if resume => Box::new(jsonl::Jsonl::resume(name, path)?),
        SinkSpec::Jsonl { path, .. } => Box::new(jsonl::Jsonl::create(name, path)?),
    }))
}

/// A database sink's columns: the fixed `(batch_time, key, value)` unless the spec names them.
fn layout(
    sink: &str,
    columns: &std::collections::BTreeMap<String, String>,
    types: &std::collections::BTreeMap<String, String>,
    primary_key: &[String],
    mode: crate::graph::spec::WriteMode,
) -> Result<columns::Layout, SinkError> {
    if columns.is_empty() {
        return Ok(columns::Layout::fixed(mode));
    }
    columns::Layout::from_spec(columns, types, primary_key, mode)
        .map_err(|(field, message)| SinkError::Db { sink: sink.into(), message: format!("`{field}`: {message}") })
}

/// Extension trait attaching a sink to a stream.
pub trait SinkExt<'s> {
    /// Writes every batch of this stream to `sink` from worker 0, each batch in `order`.
    ///
    /// ```
    /// // Exercised by tests/golden.rs through `weir::job::run`.
    /// assert_eq!(weir::render::canonical_order(&weir_sdk::packed::Batch::new()), Vec::<usize>::new());
    /// ```
    fn sink_to(
        self,
        name: &str,
        sink: Option<Box<dyn Sink>>,
        order: render::Order,
        times: BatchTimes,
        reports: writer::Reports,
    );
}

impl<'s> SinkExt<'s> for BatchStream<'s> {
    fn sink_to(
        self,
        name: &str,
        mut sink: Option<Box<dyn Sink>>,
        order: render::Order,
        mut times: BatchTimes,
        reports: writer::Reports,
    ) {
        let shared = times.shared();
        let writer = sink.take().and_then(|s| match writer::SinkWriter::start(name, s, order, shared, reports) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::error!(sink = %name, "cannot start the sink thread: {e}");
                None
            }
        });
        let mut stash: std::collections::HashMap<u64, Batch> = Default::default();
        self.sink(Exchange::new(|_: &Batch| 0), name, move |(input, frontier)| {
            input.for_each(|cap, data| {
                let all = stash.entry(*cap.time()).or_default();
                for b in data.drain(..) {
                    if all.is_empty() {
                        *all = b;
                    } else {
                        all.append(&b);
                    }
                }
            });
            for t in times.completed(frontier) {
                let batch = stash.remove(&t).unwrap_or_default();
                if let Some(w) = &writer {
                    w.write(t, batch);
                }
            }
        });
    }
}
