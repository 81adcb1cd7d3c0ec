//! The database sinks against the real servers: `postgres` on 127.0.0.1:5432 and `mariadb` on
//! 127.0.0.1:3306 (database `test` on both). A job's batches land with their markers; the same job run
//! again adds nothing, because each batch is skipped by its `(job, sink, batch time)` marker; `upsert`
//! keeps one row per key (a key's last record of a batch wins); `replace` rewrites a batch's rows; a
//! batch the database keeps refusing is tried 5 times, then fails the job with no later batch written;
//! bad specs and a server unreachable at start are refused naming the sink. A server restarted mid-run
//! is waited for (`server_restarts.rs`).

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use weir_tests::spec::word_pairs;
use weir_tests::weir_bin;

/// One database: its sink kind, URL, and how to run SQL in its command-line client.
#[derive(Clone, Copy)]
struct Db {
    kind: &'static str,
    url: &'static str,
    commits: &'static str,
}

const POSTGRES: Db = Db {
    kind: "postgres",
    url: "postgres://postgres@127.0.0.1:5432/test",
    commits: "CREATE TABLE IF NOT EXISTS weir_sink_commits (job TEXT NOT NULL, sink TEXT NOT NULL, batch_time BIGINT NOT NULL, PRIMARY KEY (job, sink, batch_time))",
};

const MARIADB: Db = Db {
    kind: "mariadb",
    url: "mysql://root@127.0.0.1:3306/test",
    commits: "CREATE TABLE IF NOT EXISTS weir_sink_commits (job VARCHAR(255) NOT NULL, sink VARCHAR(255) NOT NULL, batch_time BIGINT NOT NULL, PRIMARY KEY (job, sink, batch_time))",
};

/// The tests share `weir_sink_commits`; one at a time keeps their setup simple.
static SERIAL: Mutex<()> = Mutex::new(());

impl Db {
    /// Runs `sql` and returns the rows, columns joined by `|`.
    fn sql(&self, sql: &str) -> Vec<String> {
        weir_tests::db::sql(self.kind, sql)
    }

    /// The key column, quoted where `key` is a reserved word.
    fn key(&self) -> &'static str {
        if self.kind == "postgres" { "key" } else { "`key`" }
    }

    /// A table name unique to this test run and database.
    fn table(&self, what: &str) -> String {
        format!("weir_{what}_{}_{}", self.kind, std::process::id())
    }

    /// Drops `table` and the markers of its job.
    fn fresh(&self, table: &str) {
        self.sql(&format!("DROP TABLE IF EXISTS {table}"));
        self.sql(self.commits);
        self.sql(&format!("DELETE FROM weir_sink_commits WHERE job = 'pg-{table}'"));
    }
}

/// A word count job (`op` over the pairs) writing to table `table` in `mode`, in a fresh folder.
fn job(db: Db, table: &str, op: &str, mode: &str, input: &str) -> tempfile::TempDir {
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
{pairs}
[streams.counts]
op = "{op}"
from = "pairs"
{function} = "sum"

[sinks.db]
kind = "{kind}"
from = "counts"
url = "{url}"
table = "{table}"
mode = "{mode}"

[state]
ephemeral = true
"#,
        pairs = word_pairs("lines", None),
        kind = db.kind,
        url = db.url,
    );
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    std::fs::write(dir.path().join("input.jsonl"), input).unwrap();
    dir
}

fn run(dir: &Path, workers: &str) -> std::process::Output {
    Command::new(weir_bin()).args(["run", "job.toml", "--workers", workers]).current_dir(dir).output().unwrap()
}

fn each_batch_is_written_once_even_when_the_job_runs_again(db: Db) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let table = db.table("counts");
    db.fresh(&table);
    let psql = |sql: &str| db.sql(sql);
    let dir = job(db, &table, "reduce_by_key", "insert", "[\"a b a\"]\n[\"b c\"]\n[]\n");
    for workers in ["1", "2"] {
        let out = run(dir.path(), workers);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let k = db.key();
    let rows = psql(&format!("SELECT batch_time, {k}, value FROM {table} ORDER BY 1, 2"));
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

fn upsert_keeps_one_row_per_key_and_replace_rewrites_a_batch(db: Db) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let table = db.table("totals");
    db.fresh(&table);
    let psql = |sql: &str| db.sql(sql);
    let dir = job(db, &table, "update_state_by_key", "upsert", "[\"a b a\"]\n[\"b c\"]\n");
    let out = run(dir.path(), "2");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let k = db.key();
    let rows = psql(&format!("SELECT {k}, value, batch_time FROM {table} ORDER BY 1"));
    assert_eq!(rows, ["a|2|2000", "b|2|2000", "c|1|2000"]);

    let replaced = db.table("replaced");
    db.fresh(&replaced);
    let dir = job(db, &replaced, "reduce_by_key", "replace", "[\"a b a\"]\n");
    assert!(run(dir.path(), "1").status.success());
    // The markers are gone (say, cleaned by hand): the batch is written again and replaces its rows.
    psql(&format!("DELETE FROM weir_sink_commits WHERE job = 'pg-{replaced}'"));
    std::fs::write(dir.path().join("input.jsonl"), "[\"c\"]\n").unwrap();
    assert!(run(dir.path(), "1").status.success());
    assert_eq!(psql(&format!("SELECT batch_time, {k}, value FROM {replaced} ORDER BY 2")), ["1000|c|1"]);
    psql(&format!("DROP TABLE {table}"));
    psql(&format!("DROP TABLE {replaced}"));
}

fn a_bad_table_name_or_an_unreachable_server_is_refused_naming_the_sink(db: Db) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = job(db, "counts; DROP TABLE x", "reduce_by_key", "insert", "[\"a\"]\n");
    let out = run(dir.path(), "1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("sinks.db.table") && stderr.contains("is not a table name"), "{stderr}");

    let dir = job(db, "weir_nowhere", "reduce_by_key", "insert", "[\"a\"]\n");
    let spec =
        std::fs::read_to_string(dir.path().join("job.toml")).unwrap().replace(":5432/", ":1/").replace(":3306/", ":1/");
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let out = run(dir.path(), "1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("sink `db` cannot reach the"), "{stderr}");
}

fn upsert_keeps_the_last_record_of_a_key_within_a_batch(db: Db) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let table = db.table("last");
    db.fresh(&table);
    // The script's keyed records go straight to the sink: three for `a` in one batch.
    let input =
        "[{\"key\": \"a\", \"value\": 3}, {\"key\": \"a\", \"value\": 9}, {\"key\": \"a\", \"value\": 5}, \"loose\"]\n";
    let dir = job(db, &table, "reduce_by_key", "upsert", input);
    let spec =
        std::fs::read_to_string(dir.path().join("job.toml")).unwrap().replace("from = \"counts\"", "from = \"lines\"");
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let out = run(dir.path(), "2");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let k = db.key();
    // Canonical order puts a key's records by value, so the last is the greatest.
    assert_eq!(db.sql(&format!("SELECT {k}, value FROM {table}")), ["a|9"]);
    // A record without a key cannot be upserted: it is dead-lettered, not retried until the job fails.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("upserts rows by key, and this record has no key") && stderr.contains("loose"), "{stderr}");
    db.sql(&format!("DROP TABLE {table}"));
}

fn a_batch_the_database_keeps_refusing_is_tried_5_times_then_fails_the_job(db: Db) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let table = db.table("refusing");
    db.fresh(&table);
    let k = db.key();
    let (key_type, value_type) = if db.kind == "postgres" { ("TEXT", "JSONB") } else { ("VARCHAR(700)", "JSON") };
    db.sql(&format!(
        "CREATE TABLE {table} (batch_time BIGINT NOT NULL, {k} {key_type}, value {value_type}, CHECK ({k} <> 'poison'))"
    ));
    let dir = job(db, &table, "reduce_by_key", "insert", "[\"a\"]\n[\"b poison\"]\n[\"c\"]\n");
    let out = run(dir.path(), "1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("trying again in").count(), 4, "5 attempts: {stderr}");
    assert!(!stderr.contains("waiting for it"), "a refusal is not waited for as a server that is down: {stderr}");
    assert!(stderr.contains("sink `db`") || stderr.contains("sink db"), "the error names the sink: {stderr}");
    let rows = db.sql(&format!("SELECT batch_time, {k} FROM {table} ORDER BY 1"));
    assert_eq!(rows, ["1000|a"], "nothing of the refused batch, and no later batch");
    let marks = db.sql(&format!("SELECT batch_time FROM weir_sink_commits WHERE job = 'pg-{table}' ORDER BY 1"));
    assert_eq!(marks, ["1000"]);
    db.sql(&format!("DROP TABLE {table}"));
}

/// Named columns from a keyed JSON value: `who` the key (upserted by it), `clicks` and `label` fields of
/// the value with SQL types, `batch_at` the batch time; a missing field is NULL; the same job run again adds
/// nothing. Bad column specs are refused naming the field.
fn named_columns_take_the_key_value_fields_and_batch_time(db: Db) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let table = db.table("named");
    db.fresh(&table);
    let dir = tempfile::tempdir().unwrap();
    let input = concat!(
        r#"{"time": 1000, "records": [{"key": "a", "value": {"n": 1, "name": "x"}}, {"key": "b", "value": {"n": 2}}]}"#,
        "\n",
        r#"{"time": 2000, "records": [{"key": "a", "value": {"n": 5, "name": "y"}}]}"#,
        "\n"
    );
    std::fs::write(dir.path().join("input.jsonl"), input).unwrap();
    let spec = format!(
        "[job]\nname = \"pg-{table}\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n\
         [sources.events]\nkind = \"scripted\"\npath = \"input.jsonl\"\n\n\
         [sinks.db]\nkind = \"{kind}\"\nfrom = \"events\"\nurl = \"{url}\"\ntable = \"{table}\"\nmode = \"upsert\"\n\n\
         [sinks.db.columns]\nwho = \"key\"\nclicks = \"value.n\"\nlabel = \"value.name\"\nbatch_at = \"batch_time\"\n\n\
         [sinks.db.column_types]\nclicks = \"BIGINT\"\nlabel = \"VARCHAR(20)\"\n",
        kind = db.kind,
        url = db.url,
    );
    std::fs::write(dir.path().join("job.toml"), &spec).unwrap();
    for _ in 0..2 {
        let out = run(dir.path(), "2");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let rows = db.sql(&format!("SELECT who, clicks + 0, COALESCE(label, 'NULL'), batch_at FROM {table} ORDER BY 1"));
    assert_eq!(rows, ["a|5|y|2000", "b|2|NULL|1000"]);

    for (bad, field) in [
        ("[sinks.db.columns]\nwho = \"kye\"", "sinks.db.columns.who"),
        ("mode = \"replace\"\n\n[sinks.db.columns]\nwho = \"key\"", "sinks.db.mode"),
        (
            "[sinks.db.columns]\nwho = \"key\"\n[sinks.db.column_types]\nwho = \"TEXT; DROP TABLE x\"",
            "sinks.db.column_types.who",
        ),
    ] {
        let head = spec.split("mode = \"upsert\"").next().unwrap();
        std::fs::write(dir.path().join("job.toml"), format!("{head}{bad}\n")).unwrap();
        let out = run(dir.path(), "1");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("`{field}`")), "{field}: {stderr}");
    }
    db.sql(&format!("DROP TABLE {table}"));
}

macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod postgres {
            $(#[test] fn $case() { super::$case(super::POSTGRES) })*
        }
        mod mariadb {
            $(#[test] fn $case() { super::$case(super::MARIADB) })*
        }
    };
}

on_both!(
    each_batch_is_written_once_even_when_the_job_runs_again,
    upsert_keeps_one_row_per_key_and_replace_rewrites_a_batch,
    a_bad_table_name_or_an_unreachable_server_is_refused_naming_the_sink,
    upsert_keeps_the_last_record_of_a_key_within_a_batch,
    a_batch_the_database_keeps_refusing_is_tried_5_times_then_fails_the_job,
    named_columns_take_the_key_value_fields_and_batch_time,
);
