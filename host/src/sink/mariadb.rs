//! `mariadb` (MySQL or MariaDB): each batch goes into a table together with a `(job, sink, batch time)`
//! marker in `weir_sink_commits`, in one transaction, as the PostgreSQL sink does. The marker is
//! `INSERT IGNORE`d: no row inserted means the batch was written before, and nothing is written. Rows
//! are `(batch_time BIGINT, key VARCHAR, value JSON)`, sent in multi-row inserts of [`ROWS_PER_INSERT`].

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, TxOpts, Value};

use super::SinkError;
use super::db::{Database, Rows, Target};
use crate::graph::spec::WriteMode;

/// Rows per `INSERT` statement: few round trips, statements well under `max_allowed_packet`.
const ROWS_PER_INSERT: usize = 500;

/// A MySQL or MariaDB table written batch by batch, exactly once per batch time.
pub struct Mariadb {
    name: String,
    job: String,
    opts: Opts,
    table: String,
    io: tokio::runtime::Handle,
    conn: Option<Conn>,
}

impl Mariadb {
    /// Connects and creates the table (keyed for `mode` upsert) and the marker table if they are
    /// missing; an error fails the job before any batch runs.
    pub fn connect(target: &Target<'_>) -> Result<Mariadb, SinkError> {
        let Target { job, sink: name, url, table, mode, io } = *target;
        let err = |message: String| SinkError::Db { sink: name.into(), message };
        let opts = Opts::from_url(url).map_err(|e| err(format!("bad `url`: {e}")))?;
        let mut sink =
            Mariadb { name: name.into(), job: job.into(), opts, table: table.into(), io: io.clone(), conn: None };
        let key = if mode == WriteMode::Upsert { "`key` VARCHAR(700) PRIMARY KEY" } else { "`key` VARCHAR(700)" };
        let ddl = [
            format!("CREATE TABLE IF NOT EXISTS {table} (batch_time BIGINT NOT NULL, {key}, value JSON)"),
            "CREATE TABLE IF NOT EXISTS weir_sink_commits (job VARCHAR(255) NOT NULL, sink VARCHAR(255) NOT NULL, \
             batch_time BIGINT NOT NULL, PRIMARY KEY (job, sink, batch_time))"
                .to_string(),
        ];
        sink.conn()?;
        let conn = sink.conn.as_mut().expect("connected above");
        let done: Result<(), mysql_async::Error> = sink.io.block_on(async {
            for statement in &ddl {
                conn.query_drop(statement).await?;
            }
            Ok(())
        });
        done.map_err(|e| err(format!("cannot create table `{table}`: {e}")))?;
        Ok(sink)
    }

    /// Connects if there is no connection.
    fn conn(&mut self) -> Result<(), SinkError> {
        if self.conn.is_none() {
            let conn = self
                .io
                .block_on(Conn::new(self.opts.clone()))
                .map_err(|e| SinkError::Db { sink: self.name.clone(), message: format!("cannot connect: {e}") })?;
            self.conn = Some(conn);
        }
        Ok(())
    }
}

/// `INSERT` statements with their parameters for `rows` at batch time `t`.
fn inserts(table: &str, mode: WriteMode, t: i64, rows: &Rows) -> Vec<(String, Vec<Value>)> {
    let upsert = " ON DUPLICATE KEY UPDATE value = VALUES(value), batch_time = VALUES(batch_time)";
    let mut out = Vec::new();
    for start in (0..rows.keys.len()).step_by(ROWS_PER_INSERT) {
        let end = (start + ROWS_PER_INSERT).min(rows.keys.len());
        let marks = vec!["(?, ?, ?)"; end - start].join(", ");
        let tail = if mode == WriteMode::Upsert { upsert } else { "" };
        let sql = format!("INSERT INTO {table} (batch_time, `key`, value) VALUES {marks}{tail}");
        let mut params = Vec::with_capacity(3 * (end - start));
        for i in start..end {
            params.extend([Value::from(t), Value::from(rows.keys[i].clone()), Value::from(rows.values[i].clone())]);
        }
        out.push((sql, params));
    }
    out
}

impl Database for Mariadb {
    fn write_once(&mut self, time: u64, rows: &Rows, mode: WriteMode) -> Result<bool, SinkError> {
        let t = time as i64;
        let (job, sink) = (self.job.clone(), self.name.clone());
        let statements = inserts(&self.table, mode, t, rows);
        let delete = (mode == WriteMode::Replace).then(|| format!("DELETE FROM {} WHERE batch_time = ?", self.table));
        self.conn()?;
        let conn = self.conn.as_mut().expect("connected above");
        let done: Result<bool, mysql_async::Error> = self.io.block_on(async {
            let mut tx = conn.start_transaction(TxOpts::default()).await?;
            let mark = "INSERT IGNORE INTO weir_sink_commits (job, sink, batch_time) VALUES (?, ?, ?)";
            tx.exec_drop(mark, (job, sink, t)).await?;
            if tx.affected_rows() == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            if let Some(delete) = delete {
                tx.exec_drop(delete, (t,)).await?;
            }
            for (sql, params) in statements {
                tx.exec_drop(sql, params).await?;
            }
            tx.commit().await?;
            Ok(true)
        });
        done.map_err(|e| SinkError::Db { sink: self.name.clone(), message: format!("batch {time}: {e}") })
    }

    fn reset(&mut self) {
        self.conn = None;
    }

    fn newest_marker(&mut self) -> Result<Option<u64>, SinkError> {
        self.conn()?;
        let conn = self.conn.as_mut().expect("connected above");
        let sql = "SELECT MAX(batch_time) FROM weir_sink_commits WHERE job = ? AND sink = ?";
        let newest = self.io.block_on(conn.exec_first::<Option<i64>, _, _>(sql, (&self.job, &self.name)));
        let newest = newest
            .map_err(|e| SinkError::Db { sink: self.name.clone(), message: format!("cannot read its markers: {e}") })?;
        Ok(newest.flatten().map(|t| t as u64))
    }
}
