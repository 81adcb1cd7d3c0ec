//! What the database sinks share: a batch as rows of the table's columns (`columns.rs`), and the write
//! loop that retries a failed batch on a fresh connection (`retry.rs`) before it fails the job. Each database writes
//! a batch and its `(job, sink, batch time)` marker in one transaction (`postgres.rs`, `mariadb.rs`).

use weir_sdk::packed::Batch;

use super::columns::{Layout, Part};
use super::retry::{REFUSALS, patiently};
use super::{Sink, SinkError};
use crate::graph::spec::WriteMode;

/// Where a database sink writes: what `postgres` and `mariadb` connect with.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    /// The job's name, in the markers.
    pub job: &'a str,
    /// The sink's name, in the markers and messages.
    pub sink: &'a str,
    /// The server.
    pub url: &'a str,
    /// The table.
    pub table: &'a str,
    /// How rows are written.
    pub mode: WriteMode,
    /// The table's columns.
    pub layout: &'a Layout,
    /// Create the table when it is missing.
    pub create_table: bool,
    /// The runtime the queries run on (the job environment's).
    pub io: &'a tokio::runtime::Handle,
}

/// A batch as the rows a database sink writes: one vector per column, NULL as `None`.
pub type Rows = Vec<Vec<Option<String>>>;

/// One database table written a batch at a time.
pub trait Database: Send + 'static {
    /// Writes `rows` as `mode` says and the marker for `time` in one transaction; `Ok(false)` when the
    /// marker was already there (the batch was written before) and nothing was written. A connection
    /// that failed or was dropped is [`SinkError::Unreachable`], which the sink waits out.
    fn write_once(&mut self, time: u64, rows: &Rows, mode: WriteMode) -> Result<bool, SinkError>;
    /// Drops the connection, so the next attempt makes a new one.
    fn reset(&mut self);
    /// The newest batch time among this sink's markers (`None`: none yet).
    fn newest_marker(&mut self) -> Result<Option<u64>, SinkError>;
}

/// A [`Database`] as a sink: each batch written exactly once, retried as [`patiently`] says.
pub struct DbSink<D> {
    /// The sink's name, for messages.
    pub name: String,
    /// How rows are written (upsert keeps a key's last record).
    pub mode: WriteMode,
    /// The table's columns.
    pub layout: Layout,
    /// The table.
    pub db: D,
    /// The newest batch the table held when the sink started (its newest marker).
    holds: Option<u64>,
}

impl<D: Database> DbSink<D> {
    /// The sink `name` writing to `db` as `mode` says; reads which batches the table already holds.
    pub fn new(name: &str, mode: WriteMode, layout: Layout, mut db: D) -> Result<DbSink<D>, SinkError> {
        let holds = db.newest_marker()?;
        Ok(DbSink { name: name.into(), mode, layout, db, holds })
    }
}

impl<D: Database> Sink for DbSink<D> {
    fn holds_through(&self) -> Option<u64> {
        self.holds
    }

    fn refuses(&self, record: &weir_sdk::packed::RecordRef<'_>) -> Option<String> {
        let by_key =
            self.layout.columns.iter().any(|c| c.part == Part::Key && self.layout.primary_key.contains(&c.name));
        (self.mode == WriteMode::Upsert && by_key && record.key.is_none()).then(|| {
            format!("sink `{}` upserts rows by key, and this record has no key (key it with `map_to_pair`)", self.name)
        })
    }

    fn write_batch(&mut self, time: u64, records: &Batch, order: &[usize]) -> Result<(), SinkError> {
        let rows = self.layout.rows(records, order, self.mode, time);
        let written = patiently(REFUSALS, || {
            let done = self.db.write_once(time, &rows, self.mode);
            if done.is_err() {
                self.db.reset();
            }
            done
        })?;
        if !written {
            tracing::info!(sink = %self.name, batch_time = time, "batch already written; skipped");
        }
        Ok(())
    }
}
