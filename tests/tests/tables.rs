//! Stream-static joins end to end with the `weir` binary: a file table and a PostgreSQL table (the real
//! server on 127.0.0.1:5432, database `test`) are joined, reloaded at their period while the job runs,
//! and keep their previous version when a reload fails. Bad tables refuse the job, naming the field,
//! file, line or column.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use weir_tests::{read_jsonl, weir_bin};

const JOB: &str = r#"
[job]
name = "tables"
batch_interval = "200ms"
workers = 2

[sources.files]
kind = "directory"
path = "incoming"
include_existing = true

[streams.pairs]
op = "map_to_pair"
from = "files"

[tables.devices]
reload = "200ms"
TABLE

[streams.joined]
op = "join_table"
from = "pairs"
table = "devices"

[sinks.out]
kind = "jsonl"
from = "joined"
path = "out.jsonl"
"#;

fn drop_file(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.partial"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

/// The table side of every joined record so far, in batch order.
fn joined(out: &Path) -> Vec<serde_json::Value> {
    if !out.exists() {
        return Vec::new();
    }
    let batches = read_jsonl(out);
    batches.iter().flat_map(|b| b["records"].as_array().unwrap().iter().map(|r| r["value"][1].clone())).collect()
}

fn wait_for_records(out: &Path, n: usize, child: &mut Child) -> Vec<serde_json::Value> {
    let start = Instant::now();
    loop {
        let got = joined(out);
        if got.len() >= n {
            return got;
        }
        if start.elapsed() > Duration::from_secs(30) || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("waited for {n} joined records, have {got:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A change to the table, and the value a record joins with after it.
type Step<'a> = (&'a dyn Fn(&Path), &'a str);

/// Runs the job with `table` and, for each step, changes the table, drops one file of one `d1` line and
/// checks the value it joined with.
fn reload_flow(table: &str, steps: &[Step<'_>]) {
    let work = tempfile::tempdir().unwrap();
    let incoming = work.path().join("incoming");
    std::fs::create_dir(&incoming).unwrap();
    std::fs::write(work.path().join("job.toml"), JOB.replace("TABLE", table)).unwrap();
    let (change, _) = steps[0];
    change(work.path());
    drop_file(&incoming, "0.txt", "d1\n");
    let mut child = Command::new(weir_bin())
        .args(["run", "job.toml"])
        .current_dir(work.path())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = work.path().join("out.jsonl");
    for (i, (change, _)) in steps.iter().enumerate() {
        if i > 0 {
            change(work.path());
            drop_file(&incoming, &format!("{i}.txt"), "d1\n");
        }
        wait_for_records(&out, i + 1, &mut child);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let want: Vec<serde_json::Value> = steps.iter().map(|(_, v)| serde_json::json!(v)).collect();
    assert_eq!(joined(&out), want);
}

fn write_table(text: &'static str) -> impl Fn(&Path) {
    move |dir: &Path| {
        std::fs::write(dir.join(".devices.tmp"), text).unwrap();
        std::fs::rename(dir.join(".devices.tmp"), dir.join("devices.jsonl")).unwrap();
    }
}

#[test]
fn a_file_table_is_reloaded_at_its_period_and_a_bad_reload_keeps_the_previous_version() {
    let table = "kind = \"file\"\npath = \"devices.jsonl\"\nkey = \"device\"\nvalue = \"kind\"";
    reload_flow(
        table,
        &[
            (&write_table("{\"device\": \"d1\", \"kind\": \"phone\"}\n"), "phone"),
            (&write_table("{\"device\": \"d1\", \"kind\": \"tablet\"}\n"), "tablet"),
            (&write_table("{\"device\": \"d1\", \"kind\": \n"), "tablet"),
            (&write_table("{\"device\": \"d1\", \"kind\": \"watch\"}\n"), "watch"),
        ],
    );
}

fn psql(sql: &str) {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_postgres_table_is_joined_and_reloaded_at_its_period() {
    let t = format!("weir_devices_{}", std::process::id());
    psql(&format!(
        "DROP TABLE IF EXISTS {t}; DROP TABLE IF EXISTS {t}_gone; CREATE TABLE {t} (device text, kind text, n int)"
    ));
    let table = format!(
        "kind = \"postgres\"\nurl = \"postgres://postgres@127.0.0.1:5432/test\"\nquery = \"SELECT device, kind, n FROM {t}\"\nkey = \"device\"\nvalue = \"kind\""
    );
    let insert = |_: &Path| psql(&format!("INSERT INTO {t} VALUES ('d1', 'phone', 1), ('d2', 'tablet', 2)"));
    let update = |_: &Path| psql(&format!("UPDATE {t} SET kind = 'kiosk' WHERE device = 'd1'"));
    let hide = |_: &Path| psql(&format!("ALTER TABLE {t} RENAME TO {t}_gone"));
    let restore = |_: &Path| {
        psql(&format!("ALTER TABLE {t}_gone RENAME TO {t}; UPDATE {t} SET kind = 'watch' WHERE device = 'd1'"))
    };
    reload_flow(&table, &[(&insert, "phone"), (&update, "kiosk"), (&hide, "kiosk"), (&restore, "watch")]);
    psql(&format!("DROP TABLE IF EXISTS {t}"));
}

/// Runs `weir run` on a job whose table is `table` (files `files` written beside it).
fn run_with_table(table: &str, how: &str, files: &[(&str, &str)]) -> (i32, String) {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("incoming")).unwrap();
    for (name, text) in files {
        std::fs::write(work.path().join(name), text).unwrap();
    }
    let spec = JOB.replace("TABLE", table).replace("table = \"devices\"", &format!("table = \"devices\"\n{how}"));
    std::fs::write(work.path().join("job.toml"), spec).unwrap();
    let out = Command::new(weir_bin())
        .args(["run", "job.toml", "--duration", "1s"])
        .current_dir(work.path())
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_table_specs_are_refused_naming_the_field() {
    let file = "kind = \"file\"\npath = \"devices.csv\"\nkey = \"device\"";
    let csv = [("devices.csv", "device,kind\nd1,phone\n")];
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: [Case<'_>; 4] = [
        (file, "", &[], &["tables.devices.path", "no file at"]),
        (file, "how = \"full_outer\"", &csv, &["streams.joined.how", "left_outer"]),
        (&file.replace("key = \"device\"", "key = \"\""), "", &csv, &["tables.devices.key", "must name a column"]),
        ("kind = \"file\"\npath = \"devices.csv\"", "", &csv, &["missing field `key`"]),
    ];
    for (table, how, files, needles) in cases {
        let (code, stderr) = run_with_table(table, how, files);
        assert_eq!(code, 2, "{table} / {how}: {stderr}");
        for n in needles {
            assert!(stderr.contains(n), "stderr lacks {n:?}: {stderr}");
        }
    }
    let spec = JOB.replace("TABLE", file).replace("table = \"devices\"", "table = \"owners\"");
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("devices.csv"), csv[0].1).unwrap();
    std::fs::create_dir(work.path().join("incoming")).unwrap();
    std::fs::write(work.path().join("job.toml"), spec).unwrap();
    let out = Command::new(weir_bin()).args(["run", "job.toml"]).current_dir(work.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("streams.joined.table") && stderr.contains("no table named `owners`"), "{stderr}");
}

#[test]
fn a_table_that_cannot_load_stops_the_job_naming_file_line_or_column() {
    let file = "kind = \"file\"\npath = \"devices.csv\"\nkey = \"device\"";
    let (code, stderr) = run_with_table(file, "", &[("devices.csv", "id,kind\nd1,phone\n")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("table `devices`") && stderr.contains("devices.csv:1") && stderr.contains("no column `device`"),
        "{stderr}"
    );
    let jsonl = "kind = \"file\"\npath = \"devices.jsonl\"\nkey = \"device\"";
    let (code, stderr) = run_with_table(jsonl, "", &[("devices.jsonl", "{\"device\": \"d1\"}\n{\"kind\": 2}\n")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("devices.jsonl:2") && stderr.contains("no column `device`"), "{stderr}");
    let pg = "kind = \"postgres\"\nurl = \"postgres://postgres@127.0.0.1:5432/test\"\nquery = \"SELECT 'd1' AS device, now() AS at\"\nkey = \"device\"";
    let (code, stderr) = run_with_table(pg, "", &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("column `at` has type timestamptz") && stderr.contains("at::text"), "{stderr}");
    let pg = pg.replace("now() AS at", "1 AS n");
    let (code, stderr) = run_with_table(&pg.replace("'d1' AS device", "'d1' AS id"), "", &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("has no column `device` (columns: id, n)"), "{stderr}");
}
