//! The `postgres` sink against the real server on 127.0.0.1:5432 (database `test`): a job's batches
//! land with their markers; the same job run again adds nothing, because each batch is skipped by its
//! `(job, sink, batch time)` marker; `upsert` keeps one row per key; `replace` rewrites a batch's rows;
//! bad specs and an unreachable server are refused naming the sink.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use weir_tests::weir_bin;

const URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The tests share `weir_sink_commits`; one at a time keeps their setup simple.
static SERIAL: Mutex<()> = Mutex::new(());

fn psql(sql: &str) -> Vec<String> {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
}

/// A word count job (`op` over the pairs) writing to table `table` in `mode`, in a fresh folder.
fn job(table: &str, op: &str, mode: &str, input: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let function = if op == "update_state_by_key" { "updater" } else { "reducer" };
    let spec = format!(
        r#"
[job]
name = "pg-{table}"
batch_interval = "1s"
clock = "manual"

[sources.lines]
kind = "scripted"
path = "input.jsonl"

[streams.words]
op = "tokenize"
from = "lines"

[streams.pairs]
op = "map_to_pair"
from = "words"

[streams.counts]
op = "{op}"
from = "pairs"
{function} = "sum"

[sinks.db]
kind = "postgres"
from = "counts"
url = "{URL}"
table = "{table}"
mode = "{mode}"
"#
    );
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    std::fs::write(dir.path().join("input.jsonl"), input).unwrap();
    dir
}

fn run(dir: &Path, workers: &str) -> std::process::Output {
    Command::new(weir_bin()).args(["run", "job.toml", "--workers", workers]).current_dir(dir).output().unwrap()
}

fn fresh(table: &str) {
    psql(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE IF NOT EXISTS weir_sink_commits (job TEXT NOT NULL, sink TEXT NOT NULL, batch_time BIGINT NOT NULL, PRIMARY KEY (job, sink, batch_time)); DELETE FROM weir_sink_commits WHERE job = 'pg-{table}'"
    ));
}

#[test]
fn each_batch_is_written_once_even_when_the_job_runs_again() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let table = format!("weir_counts_{}", std::process::id());
    fresh(&table);
    let dir = job(&table, "reduce_by_key", "insert", "[\"a b a\"]\n[\"b c\"]\n[]\n");
    for workers in ["1", "2"] {
        let out = run(dir.path(), workers);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let rows = psql(&format!("SELECT batch_time, key, value FROM {table} ORDER BY 1, 2"));
    assert_eq!(rows, ["1000|a|2", "1000|b|1", "2000|b|1", "2000|c|1"]);
    let marks = psql(&format!("SELECT batch_time FROM weir_sink_commits WHERE job = 'pg-{table}' ORDER BY 1"));
    assert_eq!(marks, ["1000", "2000", "3000"]);
    // Other input for the same batch times: every batch is skipped, nothing is added or changed.
    std::fs::write(dir.path().join("input.jsonl"), "[\"z\"]\n[\"z\"]\n").unwrap();
    let out = run(dir.path(), "2");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("batch already written; skipped"));
    assert_eq!(psql(&format!("SELECT count(*) FROM {table}")), ["4"]);
    psql(&format!("DROP TABLE {table}"));
}

#[test]
fn upsert_keeps_one_row_per_key_and_replace_rewrites_a_batch() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let table = format!("weir_totals_{}", std::process::id());
    fresh(&table);
    let dir = job(&table, "update_state_by_key", "upsert", "[\"a b a\"]\n[\"b c\"]\n");
    let out = run(dir.path(), "2");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = psql(&format!("SELECT key, value, batch_time FROM {table} ORDER BY 1"));
    assert_eq!(rows, ["a|2|2000", "b|2|2000", "c|1|2000"]);

    let replaced = format!("weir_replaced_{}", std::process::id());
    fresh(&replaced);
    let dir = job(&replaced, "reduce_by_key", "replace", "[\"a b a\"]\n");
    assert!(run(dir.path(), "1").status.success());
    // The markers are gone (say, cleaned by hand): the batch is written again and replaces its rows.
    psql(&format!("DELETE FROM weir_sink_commits WHERE job = 'pg-{replaced}'"));
    std::fs::write(dir.path().join("input.jsonl"), "[\"c\"]\n").unwrap();
    assert!(run(dir.path(), "1").status.success());
    assert_eq!(psql(&format!("SELECT batch_time, key, value FROM {replaced} ORDER BY 2")), ["1000|c|1"]);
    psql(&format!("DROP TABLE {table}; DROP TABLE {replaced}"));
}

#[test]
fn a_bad_table_name_or_an_unreachable_server_is_refused_naming_the_sink() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = job("counts; DROP TABLE x", "reduce_by_key", "insert", "[\"a\"]\n");
    let out = run(dir.path(), "1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("sinks.db.table") && stderr.contains("is not a table name"), "{stderr}");

    let dir = job("weir_nowhere", "reduce_by_key", "insert", "[\"a\"]\n");
    let spec = std::fs::read_to_string(dir.path().join("job.toml")).unwrap().replace(":5432/", ":1/");
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let out = run(dir.path(), "1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("sink `db`: cannot connect"), "{stderr}");
}
