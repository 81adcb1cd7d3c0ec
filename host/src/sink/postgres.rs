//! `postgres`: each batch goes into a table together with a `(job, sink, batch time)` marker in
//! `weir_sink_commits`, in one transaction. A batch whose marker is already there is skipped, so a
//! batch written again (the job run again over the same input, or replayed after a crash) never
//! doubles rows. Rows are `(batch_time BIGINT, key TEXT, value JSONB)`; the batch is sent as arrays in
//! one statement. The sink has its own current-thread runtime, on the sink's thread.

use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};
use weir_sdk::packed::{Batch, HAS_KEY};

use super::{Sink, SinkError, render};
use crate::graph::spec::WriteMode;

/// Attempts per batch before the sink gives up (and the job fails): a restarted server is picked up.
const ATTEMPTS: u32 = 5;

/// A PostgreSQL table written batch by batch, exactly once per batch time.
pub struct Postgres {
    name: String,
    job: String,
    url: String,
    table: String,
    mode: WriteMode,
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
}

fn db_message(e: &tokio_postgres::Error) -> String {
    e.as_db_error().map_or_else(|| e.to_string(), |db| db.message().to_string())
}

impl Postgres {
    /// Connects and creates the table and the marker table if they are missing; an error fails the job
    /// before any batch runs.
    pub fn connect(job: &str, name: &str, url: &str, table: &str, mode: WriteMode) -> Result<Postgres, SinkError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SinkError::Db { sink: name.into(), message: e.to_string() })?;
        let mut sink = Postgres {
            name: name.into(),
            job: job.into(),
            url: url.into(),
            table: table.into(),
            mode,
            rt,
            client: None,
        };
        let key = if mode == WriteMode::Upsert { "key TEXT PRIMARY KEY" } else { "key TEXT" };
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {table} (batch_time BIGINT NOT NULL, {key}, value JSONB);
             CREATE TABLE IF NOT EXISTS weir_sink_commits (job TEXT NOT NULL, sink TEXT NOT NULL,
                 batch_time BIGINT NOT NULL, PRIMARY KEY (job, sink, batch_time));"
        );
        sink.client()?;
        let client = sink.client.as_ref().expect("connected above");
        let mut done = sink.rt.block_on(client.batch_execute(&ddl));
        // Two sinks creating the same table at once: one of them loses PostgreSQL's catalog race
        // (unique_violation or duplicate_table) even with IF NOT EXISTS; by now the table exists.
        if let Err(e) = &done
            && e.code().is_some_and(|c| *c == SqlState::UNIQUE_VIOLATION || *c == SqlState::DUPLICATE_TABLE)
        {
            done = sink.rt.block_on(client.batch_execute(&ddl));
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
            let (client, conn) = self
                .rt
                .block_on(tokio_postgres::connect(&self.url, NoTls))
                .map_err(|e| self.err(format!("cannot connect: {}", db_message(&e))))?;
            self.rt.spawn(conn);
            self.client = Some(client);
        }
        Ok(())
    }

    /// Writes one batch with its marker in one transaction; `Ok(false)` when the marker was there.
    fn write_once(&mut self, time: u64, keys: &[Option<String>], values: &[String]) -> Result<bool, SinkError> {
        let (job, sink, table, mode) = (self.job.clone(), self.name.clone(), self.table.clone(), self.mode);
        self.client()?;
        let client = self.client.as_mut().expect("connected above");
        let t = time as i64;
        let done: Result<bool, tokio_postgres::Error> = self.rt.block_on(async {
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
}

/// The batch as key and value-JSON arrays; with upsert, only the last record of each key (a key may
/// appear once per statement).
fn columns(records: &Batch, order: &[usize], mode: WriteMode) -> (Vec<Option<String>>, Vec<String>) {
    let mut keys = Vec::with_capacity(order.len());
    let mut values = Vec::with_capacity(order.len());
    for (n, &i) in order.iter().enumerate() {
        let key = (records.kinds[i] & HAS_KEY != 0).then(|| String::from_utf8_lossy(records.key_bytes(i)).into_owned());
        let next_same = order.get(n + 1).is_some_and(|&j| records.key_bytes(j) == records.key_bytes(i));
        if mode == WriteMode::Upsert && next_same {
            continue;
        }
        keys.push(key);
        values.push(render::value_json(&records.get(i).value).to_string());
    }
    (keys, values)
}

impl Sink for Postgres {
    fn write_batch(&mut self, time: u64, records: &Batch, order: &[usize]) -> Result<(), SinkError> {
        let (keys, values) = columns(records, order, self.mode);
        let mut wait = Duration::from_millis(100);
        let mut attempt = 1;
        loop {
            match self.write_once(time, &keys, &values) {
                Ok(written) => {
                    if !written {
                        tracing::info!(sink = %self.name, batch_time = time, "batch already written; skipped");
                    }
                    return Ok(());
                }
                Err(e) if attempt >= ATTEMPTS => return Err(e),
                Err(e) => {
                    tracing::warn!("{e}; retrying in {wait:?}");
                    self.client = None;
                    std::thread::sleep(wait);
                    wait *= 2;
                    attempt += 1;
                }
            }
        }
    }
}
