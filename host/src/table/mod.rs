//! Static tables a stream joins with (Spark's stream-static join): a CSV or JSON-lines file or a
//! PostgreSQL query, loaded at job start and, with `reload`, again at each multiple of the period.
//! `config.rs` is the spec, `file.rs` and `postgres.rs` load rows, `rows.rs` keys them, and
//! `operator/join_table.rs` joins.

mod config;
mod file;
mod postgres;
mod rows;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use thiserror::Error;

pub use config::{TableFormat, TableSpec};
pub use rows::Table;

/// Why a table could not be loaded.
#[derive(Debug, Error)]
pub enum TableError {
    /// The file could not be read.
    #[error("table `{table}`: cannot read {path}: {source}")]
    Read {
        /// Table name.
        table: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A row of the file is malformed.
    #[error("table `{table}`: {path}:{line}: {message}")]
    Row {
        /// Table name.
        table: String,
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The query failed or returned something that cannot be a table.
    #[error("table `{table}`: {message}")]
    Query {
        /// Table name.
        table: String,
        /// What is wrong.
        message: String,
    },
}

/// Loads the rows of table `name` as `spec` says.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("t.csv");
/// std::fs::write(&path, "id,name\n1,one\n2,two\n").unwrap();
/// let spec = weir::table::TableSpec::File {
///     path, format: None, key: "id".into(), value: Some("name".into()), reload: None,
/// };
/// let io = weir::job::Env::process().unwrap();
/// let table = weir::table::load("t", &spec, io.io()).unwrap();
/// assert_eq!(table.get(b"2"), &[serde_json::json!("two")]);
/// ```
pub fn load(name: &str, spec: &TableSpec, io: &tokio::runtime::Handle) -> Result<Table, TableError> {
    match spec {
        TableSpec::File { path, .. } => file::load(name, path, spec),
        TableSpec::Postgres { url, query, .. } => postgres::load(name, url, query, spec, io),
    }
}

/// How many loaded versions a table keeps, so a worker still on an older batch joins with the version
/// of its own period while another worker has moved on.
const VERSIONS: usize = 4;

/// A table as a running job holds it: the version for each reload period, loaded by the first worker
/// that needs it.
pub struct StaticTable {
    name: String,
    spec: TableSpec,
    /// The runtime a database table is queried on.
    io: tokio::runtime::Handle,
    /// `(period, table)`, oldest first; the period is `batch time / reload`.
    versions: Mutex<Vec<(u64, Arc<Table>)>>,
}

impl StaticTable {
    /// Loads table `name` for a job whose first batch is at `first_time`, querying a database on `io`;
    /// an error refuses the job.
    pub fn open(
        name: &str,
        spec: &TableSpec,
        first_time: u64,
        io: &tokio::runtime::Handle,
    ) -> Result<StaticTable, TableError> {
        let table = load(name, spec, io)?;
        tracing::info!(table = name, rows = table.rows(), keys = table.keys(), from = %spec.origin(), "table loaded");
        let period = spec.reload().map_or(0, |r| first_time / r);
        let versions = Mutex::new(vec![(period, Arc::new(table))]);
        Ok(StaticTable { name: name.into(), spec: spec.clone(), io: io.clone(), versions })
    }

    /// The version of the table batch `time` joins with: reloaded when `time` enters a new period. A
    /// reload that fails keeps the previous version (logged) until the next period.
    pub fn for_batch(&self, time: u64) -> Arc<Table> {
        let mut versions = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        let period = self.spec.reload().map_or(0, |r| time / r);
        let (latest, current) = versions.last().cloned().expect("a table always has a version");
        if period > latest {
            let table = match load(&self.name, &self.spec, &self.io) {
                Ok(t) => {
                    tracing::info!(table = %self.name, rows = t.rows(), batch_time = time, "table reloaded");
                    Arc::new(t)
                }
                Err(e) => {
                    tracing::warn!(batch_time = time, "{e}; keeping the previous version");
                    current
                }
            };
            versions.push((period, table));
            if versions.len() > VERSIONS {
                versions.remove(0);
            }
        }
        let found = versions.iter().rev().find(|(p, _)| *p <= period).or(versions.first());
        found.map(|(_, t)| t.clone()).expect("a table always has a version")
    }
}
