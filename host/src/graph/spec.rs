//! Job spec v1: the TOML a user writes. Serde refuses unknown fields; `plan.rs` checks the rest.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

pub use super::millis::Millis;
pub use super::sink_spec::{SinkSpec, WriteMode};
pub use super::source_spec::{BROKER_TIMESTAMP, LineFormat, SourceSpec, StartAt};

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
    /// How event time advances: the job's watermark.
    #[serde(default)]
    pub watermark: WatermarkSpec,
}

/// The `[watermark]` table: how far behind the event times seen the job's watermark stays.
#[derive(Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WatermarkSpec {
    /// How late a record may come and still count as on time (default 0): the watermark is the largest
    /// event time seen minus this, the least over the sources.
    #[serde(default)]
    pub delay: Millis,
    /// A source without records for this long (in batch time) stops holding the watermark back
    /// (default: never).
    #[serde(default)]
    pub idle_timeout: Option<Millis>,
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

pub(super) fn default_true() -> bool {
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
    /// Worker threads (default 1); across processes, of each process.
    #[serde(default = "one")]
    pub workers: usize,
    /// Processes the job runs on (default 1). `weir serve` starts them on its machine; `weir cluster
    /// run` takes it as its `--processes`; one process of a cluster is `weir run --process I`.
    #[serde(default = "one")]
    pub processes: usize,
    /// What cuts batches: the wall clock (default) or the sources (`manual`, for tests and benchmarks).
    #[serde(default)]
    pub clock: ClockMode,
    /// Slow the sources to what a lagging sink writes (default false; see `pace.rs`), as Spark's
    /// `spark.streaming.backpressure.enabled`. Without it memory stays bounded all the same.
    #[serde(default)]
    pub backpressure: bool,
}

pub(super) fn one() -> usize {
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

pub use super::streams::{JoinKind, OutputMode, ReducerKind, StreamSpec, TimeoutOn, TopPer, WindowFilter, WindowSpec};
pub use crate::table::{TableFormat, TableSpec};

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
