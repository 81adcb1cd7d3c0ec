//! `postgres`: each batch goes into a table together with a `(job, sink, batch time)` marker in
//! `weir_sink_commits`, in one transaction. A batch whose marker is already there is skipped, so a
//! batch written again (the job run again over the same input, or replayed after a crash) never
//! doubles rows. Rows are `(batch_time BIGINT, key TEXT, value JSONB)`; the batch is sent as arrays in
//! one statement, on the job environment's I/O runtime from the sink's thread.

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use super::SinkError;
use super::db::{Database, Rows, Target};
use crate::graph::spec::WriteMode;
use crate::pg::{self, message as db_message};

/// A PostgreSQL table written batch by batch, exactly once per batch time.
pub struct Postgres {
    name: String,
    job: String,
    url: String,
    table: String,
    io: tokio::runtime::Handle,
    client: Option<Client>,
}

impl Postgres {
    /// Connects and creates the table (keyed for `mode` upsert) and the marker table if they are
    /// missing; an error fails the job before any batch runs.
    pub fn connect(target: &Target<'_>) -> Result<Postgres, SinkError> {
        let Target { job, sink: name, url, table, mode, io } = *target;
        let (name, job, url, table, io) = (name.into(), job.into(), url.into(), table.into(), io.clone());
        let mut sink = Postgres { name, job, url, table, io, client: None };
        let table = sink.table.clone();
        let key = if mode == WriteMode::Upsert { "key TEXT PRIMARY KEY" } else { "key TEXT" };
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {table} (batch_time BIGINT NOT NULL, {key}, value JSONB);
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
        done.map_err(|e| sink.err(format!("cannot create table `{table}`: {}", db_message(&e))))?;
        Ok(sink)
    }

    fn err(&self, message: String) -> SinkError {
        SinkError::Db { sink: self.name.clone(), message }
    }

    /// Connects anew if there is no connection or the server closed it.
    fn client(&mut self) -> Result<(), SinkError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let client = self
                .io
                .block_on(pg::connect(&self.url))
                .map_err(|e| self.err(format!("cannot connect: {}", db_message(&e))))?;
            self.client = Some(client);
        }
        Ok(())
    }
}

impl Database for Postgres {
    fn write_once(&mut self, time: u64, rows: &Rows, mode: WriteMode) -> Result<bool, SinkError> {
        let (job, sink, table) = (self.job.clone(), self.name.clone(), self.table.clone());
        let (keys, values) = (&rows.keys, &rows.values);
        self.client()?;
        let client = self.client.as_mut().expect("connected above");
        let t = time as i64;
        let done: Result<bool, tokio_postgres::Error> = self.io.block_on(async {
            let tx = client.transaction().await?;
            let mark = "INSERT INTO weir_sink_commits (job, sink, batch_time) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
            if tx.execute(mark, &[&job, &sink, &t]).await? == 0 {
                return Ok(false);
            }
            if mode == WriteMode::Replace {
                tx.execute(&format!("DELETE FROM {table} WHERE batch_time = $1"), &[&t]).await?;
            }
            let conflict = match mode {
                WriteMode::Upsert => " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, batch_time = EXCLUDED.batch_time",
                _ => "",
            };
            let insert = format!(
                "INSERT INTO {table} (batch_time, key, value) SELECT $1, k, v::jsonb FROM UNNEST($2::text[], $3::text[]) AS u(k, v){conflict}"
            );
            tx.execute(&insert, &[&t, &keys, &values]).await?;
            tx.commit().await?;
            Ok(true)
        });
        done.map_err(|e| self.err(format!("batch {time}: {}", db_message(&e))))
    }

    fn reset(&mut self) {
        self.client = None;
    }

    fn newest_marker(&mut self) -> Result<Option<u64>, SinkError> {
        self.client()?;
        let client = self.client.as_ref().expect("connected above");
        let sql = "SELECT max(batch_time) FROM weir_sink_commits WHERE job = $1 AND sink = $2";
        let row = self.io.block_on(client.query_one(sql, &[&self.job, &self.name]));
        let newest: Option<i64> =
            row.map_err(|e| self.err(format!("cannot read its markers: {}", db_message(&e))))?.get(0);
        Ok(newest.map(|t| t as u64))
    }
}
