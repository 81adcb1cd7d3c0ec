//! What the database sinks share: a batch as rows of key text and value JSON, and the write loop that
//! retries a failed batch on a fresh connection before it fails the job. Each database writes a batch
//! and its `(job, sink, batch time)` marker in one transaction (`postgres.rs`, `mariadb.rs`).

use std::time::Duration;

use weir_sdk::packed::{Batch, HAS_KEY};

use super::{Sink, SinkError, render};
use crate::graph::spec::WriteMode;

/// Attempts per batch before the sink gives up (and the job fails): a restarted server is picked up.
const ATTEMPTS: u32 = 5;

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
    /// The runtime the queries run on (the job environment's).
    pub io: &'a tokio::runtime::Handle,
}

/// A batch as the rows a database sink writes.
pub struct Rows {
    /// Each row's key text (`None` for a record without a key).
    pub keys: Vec<Option<String>>,
    /// Each row's value as JSON text.
    pub values: Vec<String>,
}

impl Rows {
    /// The records of `records` in `order`; with upsert, only the last record of each key (a statement
    /// may touch a key once).
    ///
    /// ```
    /// use weir::graph::spec::WriteMode;
    /// use weir::sink::db::Rows;
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// let mut b = Batch::new();
    /// b.push(Some(b"a"), ValueRef::I64(1), 0);
    /// b.push(Some(b"a"), ValueRef::I64(2), 0);
    /// let rows = Rows::of(&b, &[0, 1], WriteMode::Upsert);
    /// assert_eq!((rows.keys, rows.values), (vec![Some("a".to_string())], vec!["2".to_string()]));
    /// ```
    pub fn of(records: &Batch, order: &[usize], mode: WriteMode) -> Rows {
        let mut rows = Rows { keys: Vec::with_capacity(order.len()), values: Vec::with_capacity(order.len()) };
        for (n, &i) in order.iter().enumerate() {
            let keyed = records.kinds[i] & HAS_KEY != 0;
            let next_same = order.get(n + 1).is_some_and(|&j| records.key_bytes(j) == records.key_bytes(i));
            if mode == WriteMode::Upsert && next_same {
                continue;
            }
            rows.keys.push(keyed.then(|| render::lossy(records.key_bytes(i)).into_owned()));
            rows.values.push(render::value_json_text(&records.get(i).value));
        }
        rows
    }
}

/// One database table written a batch at a time.
pub trait Database: Send + 'static {
    /// Writes `rows` as `mode` says and the marker for `time` in one transaction; `Ok(false)` when the
    /// marker was already there (the batch was written before) and nothing was written.
    fn write_once(&mut self, time: u64, rows: &Rows, mode: WriteMode) -> Result<bool, SinkError>;
    /// Drops the connection, so the next attempt makes a new one.
    fn reset(&mut self);
    /// The newest batch time among this sink's markers (`None`: none yet).
    fn newest_marker(&mut self) -> Result<Option<u64>, SinkError>;
}

/// A [`Database`] as a sink: each batch written exactly once, retried with a doubling wait.
pub struct DbSink<D> {
    /// The sink's name, for messages.
    pub name: String,
    /// How rows are written (upsert keeps a key's last record).
    pub mode: WriteMode,
    /// The table.
    pub db: D,
    /// The newest batch the table held when the sink started (its newest marker).
    holds: Option<u64>,
}

impl<D: Database> DbSink<D> {
    /// The sink `name` writing to `db` as `mode` says; reads which batches the table already holds.
    pub fn new(name: &str, mode: WriteMode, mut db: D) -> Result<DbSink<D>, SinkError> {
        let holds = db.newest_marker()?;
        Ok(DbSink { name: name.into(), mode, db, holds })
    }
}

impl<D: Database> Sink for DbSink<D> {
    fn holds_through(&self) -> Option<u64> {
        self.holds
    }

    fn refuses(&self, record: &weir_sdk::packed::RecordRef<'_>) -> Option<String> {
        (self.mode == WriteMode::Upsert && record.key.is_none()).then(|| {
            format!("sink `{}` upserts rows by key, and this record has no key (key it with `map_to_pair`)", self.name)
        })
    }

    fn write_batch(&mut self, time: u64, records: &Batch, order: &[usize]) -> Result<(), SinkError> {
        let rows = Rows::of(records, order, self.mode);
        let mut wait = Duration::from_millis(100);
        let mut attempt = 1;
        loop {
            match self.db.write_once(time, &rows, self.mode) {
                Ok(written) => {
                    if !written {
                        tracing::info!(sink = %self.name, batch_time = time, "batch already written; skipped");
                    }
                    return Ok(());
                }
                Err(e) if attempt >= ATTEMPTS => return Err(e),
                Err(e) => {
                    tracing::warn!("{e}; retrying in {wait:?}");
                    self.db.reset();
                    std::thread::sleep(wait);
                    wait *= 2;
                    attempt += 1;
                }
            }
        }
    }
}
