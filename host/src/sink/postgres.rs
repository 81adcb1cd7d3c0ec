//! `postgres`: each batch goes into a table together with a `(job, sink, batch time)` marker in
//! `weir_sink_commits`, in one transaction. A batch whose marker is already there is skipped, so a
//! batch written again (the job run again over the same input, or replayed after a crash) never
//! doubles rows. The columns are the sink's (`columns.rs`; by default `(batch_time BIGINT, key TEXT,
//! value JSONB)`); the batch is sent as one text array per column in one statement, cast in SQL, on the
//! job environment's I/O runtime from the sink's thread.

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use super::SinkError;
use super::columns::{Column, Layout, Part};
use super::db::{Database, Rows, Target};
use crate::graph::spec::WriteMode;
use crate::pg::{self, message as db_message};

/// A PostgreSQL table written batch by batch, exactly once per batch time.
pub struct Postgres {
    name: String,
    job: String,
    url: String,
    table: String,
    insert: String,
    delete: Option<String>,
    io: tokio::runtime::Handle,
    client: Option<Client>,
}

impl Postgres {
    /// Connects and creates the table (keyed for `mode` upsert) and the marker table if they are
    /// missing; an error fails the job before any batch runs.
    pub fn connect(target: &Target<'_>) -> Result<Postgres, SinkError> {
        let Target { job, sink: name, url, table, mode, layout, create_table, io } = *target;
        let (insert, delete) = (insert_sql(table, layout, mode), delete_sql(table, layout, mode));
        let (name, job, url, table, io) = (name.into(), job.into(), url.into(), table.into(), io.clone());
        let mut sink = Postgres { name, job, url, table, insert, delete, io, client: None };
        let table = sink.table.clone();
        let create = if create_table { create_sql(&table, layout, mode) } else { String::new() };
        let ddl = format!(
            "{create}
             CREATE TABLE IF NOT EXISTS weir_sink_commits (job TEXT NOT NULL, sink TEXT NOT NULL,
                 batch_time BIGINT NOT NULL, PRIMARY KEY (job, sink, batch_time));"
        );
        sink.client()?;
        let client = sink.client.as_ref().expect("connected above");
        let mut done = sink.io.block_on(client.batch_execute(&ddl));
        // Two sinks creating the same table at once: one of them loses PostgreSQL's catalog race
        // (unique_violation or duplicate_table) even with IF NOT EXISTS; by now the table exists.
        if let Err(e) = &done
            && e.code().is_some_and(|c| *c == SqlState::UNIQUE_VIOLATION || *c == SqlState::DUPLICATE_TABLE)
        {
            done = sink.io.block_on(client.batch_execute(&ddl));
        }
        done.map_err(|e| sink.fail(&format!("cannot create table `{table}`: "), &e))?;
        Ok(sink)
    }

    /// `e` as the sink's error, prefixed with `what`: one to wait out when the server is unreachable.
    fn fail(&self, what: &str, e: &tokio_postgres::Error) -> SinkError {
        let (sink, message) = (self.name.clone(), format!("{what}{}", db_message(e)));
        match pg::unreachable(e) {
            true => SinkError::Unreachable { sink, server: "the PostgreSQL server".into(), message },
            false => SinkError::Db { sink, message },
        }
    }

    /// Connects anew if there is no connection or the server closed it.
    fn client(&mut self) -> Result<(), SinkError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let client = self.io.block_on(pg::connect(&self.url)).map_err(|e| self.fail("", &e))?;
            self.client = Some(client);
        }
        Ok(())
    }
}

/// The column's type when the sink creates the table.
fn sql_type(c: &Column) -> &str {
    match (&c.sql_type, &c.part) {
        (Some(t), _) => t,
        (None, Part::Key) => "TEXT",
        (None, Part::BatchTime | Part::EventTime) => "BIGINT",
        (None, _) => "JSONB",
    }
}

fn quoted(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    names.into_iter().map(|n| format!("\"{}\"", n.as_ref())).collect::<Vec<_>>().join(", ")
}

fn create_sql(table: &str, layout: &Layout, mode: WriteMode) -> String {
    let mut defs: Vec<String> = layout.columns.iter().map(|c| format!("\"{}\" {}", c.name, sql_type(c))).collect();
    if mode == WriteMode::Upsert {
        defs.push(format!("PRIMARY KEY ({})", quoted(&layout.primary_key)));
    }
    format!("CREATE TABLE IF NOT EXISTS {table} ({});", defs.join(", "))
}

/// One statement for the whole batch: a text array per column, unnested and cast to the column's type.
///
/// ```
/// # use weir::graph::spec::WriteMode;
/// # use weir::sink::columns::Layout;
/// let sql = weir::sink::postgres::insert_sql("t", &Layout::fixed(WriteMode::Upsert), WriteMode::Upsert);
/// assert!(sql.starts_with("INSERT INTO t (\"batch_time\", \"key\", \"value\") SELECT u.c0::BIGINT, u.c1::TEXT, u.c2::JSONB"));
/// assert!(sql.ends_with("ON CONFLICT (\"key\") DO UPDATE SET \"batch_time\" = EXCLUDED.\"batch_time\", \"value\" = EXCLUDED.\"value\""));
/// ```
pub fn insert_sql(table: &str, layout: &Layout, mode: WriteMode) -> String {
    let cols = &layout.columns;
    let casts: Vec<String> = cols.iter().enumerate().map(|(i, c)| format!("u.c{i}::{}", sql_type(c))).collect();
    let arrays: Vec<String> = (1..=cols.len()).map(|i| format!("${i}::text[]")).collect();
    let aliases: Vec<String> = (0..cols.len()).map(|i| format!("c{i}")).collect();
    let mut sql = format!(
        "INSERT INTO {table} ({}) SELECT {} FROM UNNEST({}) AS u({})",
        quoted(cols.iter().map(|c| &c.name)),
        casts.join(", "),
        arrays.join(", "),
        aliases.join(", ")
    );
    if mode == WriteMode::Upsert {
        let rest: Vec<String> = cols
            .iter()
            .filter(|c| !layout.primary_key.contains(&c.name))
            .map(|c| format!("\"{0}\" = EXCLUDED.\"{0}\"", c.name))
            .collect();
        let action = if rest.is_empty() { "NOTHING".to_string() } else { format!("UPDATE SET {}", rest.join(", ")) };
        sql.push_str(&format!(" ON CONFLICT ({}) DO {action}", quoted(&layout.primary_key)));
    }
    sql
}

fn delete_sql(table: &str, layout: &Layout, mode: WriteMode) -> Option<String> {
    let time = layout.time_column().filter(|_| mode == WriteMode::Replace)?;
    Some(format!("DELETE FROM {table} WHERE \"{time}\" = $1"))
}

impl Database for Postgres {
    fn write_once(&mut self, time: u64, rows: &Rows, _mode: WriteMode) -> Result<bool, SinkError> {
        let (job, sink) = (self.job.clone(), self.name.clone());
        let (insert, delete) = (self.insert.clone(), self.delete.clone());
        self.client()?;
        let client = self.client.as_mut().expect("connected above");
        let t = time as i64;
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            rows.iter().map(|c| c as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
        let done: Result<bool, tokio_postgres::Error> = self.io.block_on(async {
            let tx = client.transaction().await?;
            let mark =
                "INSERT INTO weir_sink_commits (job, sink, batch_time) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
            if tx.execute(mark, &[&job, &sink, &t]).await? == 0 {
                return Ok(false);
            }
            if let Some(delete) = &delete {
                tx.execute(delete.as_str(), &[&t]).await?;
            }
            tx.execute(insert.as_str(), &params).await?;
            tx.commit().await?;
            Ok(true)
        });
        done.map_err(|e| self.fail(&format!("batch {time}: "), &e))
    }

    fn reset(&mut self) {
        self.client = None;
    }

    fn newest_marker(&mut self) -> Result<Option<u64>, SinkError> {
        self.client()?;
        let client = self.client.as_ref().expect("connected above");
        let sql = "SELECT max(batch_time) FROM weir_sink_commits WHERE job = $1 AND sink = $2";
        let row = self.io.block_on(client.query_one(sql, &[&self.job, &self.name]));
        let newest: Option<i64> = row.map_err(|e| self.fail("cannot read its markers: ", &e))?.get(0);
        Ok(newest.map(|t| t as u64))
    }
}
