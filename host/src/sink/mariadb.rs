//! `mariadb` (MySQL or MariaDB): each batch goes into a table together with a `(job, sink, batch time)`
//! marker in `weir_sink_commits`, in one transaction, as the PostgreSQL sink does. The marker is
//! `INSERT IGNORE`d: no row inserted means the batch was written before, and nothing is written. Rows
//! are the sink's columns (`columns.rs`; by default `(batch_time BIGINT, key VARCHAR, value JSON)`), sent
//! as text in multi-row inserts of [`ROWS_PER_INSERT`]; the server converts them to the columns' types.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, TxOpts, Value};

use super::SinkError;
use super::columns::{Column, Layout, Part};
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
    layout: Layout,
    io: tokio::runtime::Handle,
    conn: Option<Conn>,
}

impl Mariadb {
    /// Connects and creates the table (keyed for `mode` upsert) and the marker table if they are
    /// missing; an error fails the job before any batch runs.
    pub fn connect(target: &Target<'_>) -> Result<Mariadb, SinkError> {
        let Target { job, sink: name, url, table, mode, layout, create_table, io } = *target;
        let err = |message: String| SinkError::Db { sink: name.into(), message };
        let opts = Opts::from_url(url).map_err(|e| err(format!("bad `url`: {e}")))?;
        let (layout, io) = (layout.clone(), io.clone());
        let mut sink =
            Mariadb { name: name.into(), job: job.into(), opts, table: table.into(), layout, io, conn: None };
        let mut ddl = vec![
            "CREATE TABLE IF NOT EXISTS weir_sink_commits (job VARCHAR(255) NOT NULL, sink VARCHAR(255) NOT NULL, \
             batch_time BIGINT NOT NULL, PRIMARY KEY (job, sink, batch_time))"
                .to_string(),
        ];
        if create_table {
            ddl.push(create_sql(table, &sink.layout, mode));
        }
        sink.conn()?;
        let conn = sink.conn.as_mut().expect("connected above");
        let done: Result<(), mysql_async::Error> = sink.io.block_on(async {
            for statement in &ddl {
                conn.query_drop(statement).await?;
            }
            Ok(())
        });
        done.map_err(|e| fail(name, &format!("cannot create table `{table}`: "), &e))?;
        Ok(sink)
    }

    /// Connects if there is no connection.
    fn conn(&mut self) -> Result<(), SinkError> {
        if self.conn.is_none() {
            let conn = self.io.block_on(Conn::new(self.opts.clone())).map_err(|e| fail(&self.name, "", &e))?;
            self.conn = Some(conn);
        }
        Ok(())
    }
}

/// `e` as sink `sink`'s error, prefixed with `what`: one to wait out when the server could not be
/// reached or dropped the connection (I/O, a closed connection, or the server's own "shutdown in
/// progress" 1053, "connection killed" 1927, "gone away" 2006 and "lost connection" 2013).
fn fail(sink: &str, what: &str, e: &mysql_async::Error) -> SinkError {
    use mysql_async::{DriverError, Error};
    let unreachable = match e {
        Error::Io(_) => true,
        Error::Driver(d) => matches!(d, DriverError::ConnectionClosed | DriverError::PoolDisconnected),
        Error::Server(s) => matches!(s.code, 1053 | 1927 | 2006 | 2013),
        _ => false,
    };
    let (sink, message) = (sink.to_string(), format!("{what}{e}"));
    match unreachable {
        true => SinkError::Unreachable { sink, server: "the MariaDB server".into(), message },
        false => SinkError::Db { sink, message },
    }
}

/// The column's type when the sink creates the table.
fn sql_type(c: &Column) -> &str {
    match (&c.sql_type, &c.part) {
        (Some(t), _) => t,
        (None, Part::Key) => "VARCHAR(700)",
        (None, Part::BatchTime | Part::EventTime) => "BIGINT",
        (None, _) => "JSON",
    }
}

fn quoted<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    names.into_iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

fn create_sql(table: &str, layout: &Layout, mode: WriteMode) -> String {
    let mut defs: Vec<String> = layout.columns.iter().map(|c| format!("`{}` {}", c.name, sql_type(c))).collect();
    if mode == WriteMode::Upsert {
        defs.push(format!("PRIMARY KEY ({})", quoted(&layout.primary_key)));
    }
    format!("CREATE TABLE IF NOT EXISTS {table} ({})", defs.join(", "))
}

/// `INSERT` statements with their parameters for `rows`.
///
/// ```
/// # use weir::graph::spec::WriteMode;
/// # use weir::sink::columns::Layout;
/// let rows = vec![vec![Some("5".into())], vec![Some("a".into())], vec![Some("1".into())]];
/// let s = weir::sink::mariadb::inserts("t", &Layout::fixed(WriteMode::Upsert), WriteMode::Upsert, &rows);
/// assert_eq!(s[0].0, "INSERT INTO t (`batch_time`, `key`, `value`) VALUES (?, ?, ?) \
///     ON DUPLICATE KEY UPDATE `batch_time` = VALUES(`batch_time`), `value` = VALUES(`value`)");
/// ```
pub fn inserts(table: &str, layout: &Layout, mode: WriteMode, rows: &Rows) -> Vec<(String, Vec<Value>)> {
    let cols = &layout.columns;
    let n = rows.first().map_or(0, Vec::len);
    let rest: Vec<String> = cols
        .iter()
        .filter(|c| !layout.primary_key.contains(&c.name))
        .map(|c| format!("`{0}` = VALUES(`{0}`)", c.name))
        .collect();
    let tail = match mode {
        WriteMode::Upsert if rest.is_empty() => {
            format!(" ON DUPLICATE KEY UPDATE `{0}` = `{0}`", layout.primary_key[0])
        }
        WriteMode::Upsert => format!(" ON DUPLICATE KEY UPDATE {}", rest.join(", ")),
        _ => String::new(),
    };
    let one = format!("({})", vec!["?"; cols.len()].join(", "));
    let mut out = Vec::new();
    for start in (0..n).step_by(ROWS_PER_INSERT) {
        let end = (start + ROWS_PER_INSERT).min(n);
        let marks = vec![one.as_str(); end - start].join(", ");
        let sql = format!("INSERT INTO {table} ({}) VALUES {marks}{tail}", quoted(cols.iter().map(|c| &c.name)));
        let mut params = Vec::with_capacity(cols.len() * (end - start));
        for i in start..end {
            params.extend(rows.iter().map(|col| Value::from(col[i].clone())));
        }
        out.push((sql, params));
    }
    out
}

impl Database for Mariadb {
    fn write_once(&mut self, time: u64, rows: &Rows, mode: WriteMode) -> Result<bool, SinkError> {
        let t = time as i64;
        let (job, sink) = (self.job.clone(), self.name.clone());
        let statements = inserts(&self.table, &self.layout, mode, rows);
        let time_column = self.layout.time_column().filter(|_| mode == WriteMode::Replace);
        let delete = time_column.map(|c| format!("DELETE FROM {} WHERE `{c}` = ?", self.table));
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
        done.map_err(|e| fail(&self.name, &format!("batch {time}: "), &e))
    }

    fn reset(&mut self) {
        self.conn = None;
    }

    fn newest_marker(&mut self) -> Result<Option<u64>, SinkError> {
        self.conn()?;
        let conn = self.conn.as_mut().expect("connected above");
        let sql = "SELECT MAX(batch_time) FROM weir_sink_commits WHERE job = ? AND sink = ?";
        let newest = self.io.block_on(conn.exec_first::<Option<i64>, _, _>(sql, (&self.job, &self.name)));
        let newest = newest.map_err(|e| fail(&self.name, "cannot read its markers: ", &e))?;
        Ok(newest.flatten().map(|t| t as u64))
    }
}
