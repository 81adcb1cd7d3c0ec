//! The user-behaviour pipeline of `examples/user_behaviour.toml`: `weir gen clicks` publishes click
//! events (1 % malformed) to Kafka (Tansu on loopback), the job parses them with the Wasm `parse-clicks`
//! operator and writes clicks per device type per batch and per window to MariaDB tables with named
//! columns. The example runs as written except for the broker's address, the tables' names and a window
//! of 2 s instead of a minute (so the test need not wait for minutes). Expected totals come from the same
//! generator's lines on standard output (same seed), summed here.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use weir_tests::crash::{Rng, drain, kill, psql, setup, weir};
use weir_tests::tansu::Tansu;
use weir_tests::{repo_root, weir_bin};

/// Events published, and the malformed share.
const EVENTS: u64 = 6000;
const BAD: &str = "0.01";

fn mariadb(sql: &str) -> Vec<String> {
    let out = Command::new("mariadb").args(["-h", "127.0.0.1", "-u", "root", "-N", "-B", "-e", sql, "test"]).output();
    let out = out.expect("mariadb runs");
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

/// Device type → clicks over the good lines the generator makes with `seed`, and the malformed count.
fn expected(seed: u64) -> (BTreeMap<String, i64>, u64) {
    let out = Command::new(weir_bin())
        .args(["gen", "clicks", "--to", "-", "--count", &EVENTS.to_string(), "--bad-fraction", BAD])
        .args(["--seed", &seed.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (mut sums, mut bad) = (BTreeMap::new(), 0);
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split('|').collect();
        match f[..] {
            [_, kind, time, click] if !kind.is_empty() && time.parse::<i64>().is_ok() => match click.parse::<i64>() {
                Ok(c) => *sums.entry(kind.to_string()).or_default() += c,
                Err(_) => bad += 1,
            },
            _ => bad += 1,
        }
    }
    (sums, bad)
}

/// The example, pointed at `brokers`, with job and tables suffixed `tag` and 2 s windows.
fn spec(brokers: &str, tag: &str) -> String {
    let text = std::fs::read_to_string(repo_root().join("examples/user_behaviour.toml")).unwrap();
    let operators = repo_root().join("operators");
    // The job's name is in the tables' batch markers: each test's job has its own.
    text.replace("127.0.0.1:9092", brokers)
        .replace("name = \"user-behaviour\"", &format!("name = \"user-behaviour-{tag}\""))
        .replace("\"../operators", &format!("\"{}", operators.display()))
        .replace("length = \"60s\", slide = \"60s\"", "length = \"2s\", slide = \"2s\"")
        .replace("every = 60", "every = 2")
        .replace("clicks_per_batch", &format!("clicks_per_batch_{tag}"))
        .replace("clicks_per_minute", &format!("clicks_per_window_{tag}"))
}

fn publish(brokers: &str, seed: u64, rate: u64) -> std::process::Child {
    Command::new(weir_bin())
        .args(["gen", "clicks", "--to", &format!("kafka://{brokers}/clicks"), "--count", &EVENTS.to_string()])
        .args(["--rate", &rate.to_string(), "--bad-fraction", BAD, "--seed", &seed.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for the click generator and says what it printed when it failed.
fn published(publisher: std::process::Child) {
    let out = publisher.wait_with_output().unwrap();
    assert!(out.status.success(), "weir gen clicks failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn totals(table: &str) -> BTreeMap<String, i64> {
    let rows = mariadb(&format!("SELECT device_type, SUM(clicks) FROM {table} GROUP BY device_type"));
    rows.iter().map(|r| r.split_once('\t').unwrap()).map(|(k, v)| (k.to_string(), v.parse().unwrap())).collect()
}

/// Waits until the per-batch table holds every click (or 90 s pass), then for the last window to
/// close, then drains the job.
fn finish(child: std::process::Child, tag: &str, want: &BTreeMap<String, i64>, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        let exists = !mariadb(&format!("SHOW TABLES LIKE 'clicks_per_batch_{tag}'")).is_empty();
        if exists && totals(&format!("clicks_per_batch_{tag}")) == *want {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_secs(3));
    let out = drain(child);
    let log = std::fs::read_to_string(dir.join("runs.log")).unwrap_or_default();
    assert!(out.status.success(), "{}{log}", String::from_utf8_lossy(&out.stderr));
}

fn drop_tables(tag: &str) {
    mariadb(&format!("DROP TABLE IF EXISTS clicks_per_batch_{tag}, clicks_per_window_{tag}"));
}

#[test]
fn malformed_clicks_are_exactly_the_dead_letters_and_every_good_click_is_counted_once() {
    let tansu = Tansu::start();
    tansu.create_topic("clicks", 3);
    let tag = "plain";
    drop_tables(tag);
    let (want, bad) = expected(5);
    assert_eq!(bad, 60, "1 % of {EVENTS}");
    published(publish(&tansu.brokers(), 5, 3000));
    let dir = setup(&spec(&tansu.brokers(), tag));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    finish(child, tag, &want, dir.path());

    assert_eq!(totals(&format!("clicks_per_batch_{tag}")), want);
    assert_eq!(totals(&format!("clicks_per_window_{tag}")), want);
    let twice = mariadb(&format!(
        "SELECT batch_time, device_type FROM clicks_per_batch_{tag} GROUP BY 1, 2 HAVING COUNT(*) > 1"
    ));
    assert!(twice.is_empty(), "rows written twice: {twice:?}");
    let dead = weir_tests::read_jsonl(&dir.path().join("user_behaviour.dead.jsonl"));
    assert_eq!(dead.len() as u64, bad);
    for d in &dead {
        assert!(!d["reason"].as_str().unwrap().is_empty() && d["record"].as_str().unwrap().starts_with('d'), "{d}");
    }
    drop_tables(tag);
}

#[test]
fn killed_at_random_moments_the_pipeline_still_writes_every_click_once() {
    let tansu = Tansu::start();
    tansu.create_topic("clicks", 3);
    let tag = "killed";
    drop_tables(tag);
    let (want, _) = expected(9);
    let publisher = publish(&tansu.brokers(), 9, 1500);
    let dir = setup(&spec(&tansu.brokers(), tag));
    let log = std::fs::File::create(dir.path().join("runs.log")).unwrap();
    let mut rng = Rng(23);
    for _ in 0..weir_tests::crash::env_or("WEIR_PIPELINE_KILLS", 4) {
        let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(log.try_clone().unwrap()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(500 + rng.below(1500)));
        kill(child);
    }
    published(publisher);
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(log.try_clone().unwrap()).spawn().unwrap();
    finish(child, tag, &want, dir.path());

    assert_eq!(totals(&format!("clicks_per_batch_{tag}")), want, "see {}", dir.path().display());
    assert_eq!(totals(&format!("clicks_per_window_{tag}")), want);
    drop_tables(tag);
}

/// `examples/device_totals.toml` pointed at `brokers`, its job and table suffixed `tag`.
fn device_totals_spec(brokers: &str, tag: &str) -> String {
    let text = std::fs::read_to_string(repo_root().join("examples/device_totals.toml")).unwrap();
    let operators = repo_root().join("operators");
    text.replace("127.0.0.1:9092", brokers)
        .replace("name = \"device-totals\"", &format!("name = \"device-totals-{tag}\""))
        .replace("\"../operators", &format!("\"{}", operators.display()))
        .replace("table = \"device_totals\"", &format!("table = \"device_totals_{tag}\""))
}

/// Device type → clicks, one row each, in the wide-column-style table (empty if it is not there yet).
fn rows(table: &str) -> Vec<(String, i64)> {
    let exists = psql(&format!("SELECT to_regclass('{table}') IS NOT NULL")) == ["t"];
    let rows = if exists { psql(&format!("SELECT device_type, clicks FROM {table} ORDER BY 1")) } else { vec![] };
    rows.iter().map(|r| r.split_once('|').unwrap()).map(|(k, v)| (k.to_string(), v.parse().unwrap())).collect()
}

#[test]
fn kafka_into_a_wide_column_style_table_keeps_one_row_per_key_with_its_running_total_across_a_kill() {
    let tansu = Tansu::start();
    tansu.create_topic("clicks", 3);
    let tag = "wide";
    let table = format!("device_totals_{tag}");
    psql(&format!("DROP TABLE IF EXISTS {table}"));
    let (want, bad) = expected(13);
    let publisher = publish(&tansu.brokers(), 13, 2000);
    let dir = setup(&device_totals_spec(&tansu.brokers(), tag));
    let log = std::fs::File::create(dir.path().join("runs.log")).unwrap();
    let run = || weir(dir.path(), &[]).stdout(Stdio::null()).stderr(log.try_clone().unwrap()).spawn().unwrap();
    let child = run();
    std::thread::sleep(Duration::from_millis(1500));
    kill(child);
    published(publisher);
    let child = run();
    let deadline = Instant::now() + Duration::from_secs(90);
    let want: Vec<(String, i64)> = want.into_iter().collect();
    while Instant::now() < deadline && rows(&table) != want {
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = drain(child);
    let said = std::fs::read_to_string(dir.path().join("runs.log")).unwrap_or_default();
    assert!(out.status.success(), "{said}");
    assert_eq!(rows(&table), want, "one row per device type holding its total; see {}", dir.path().display());
    let dead = weir_tests::read_jsonl(&dir.path().join("device_totals.dead.jsonl"));
    // At least once: a batch cut again after the kill refuses its malformed clicks again.
    assert!(dead.len() as u64 >= bad, "every malformed click is a dead letter: {} of {bad}", dead.len());
    psql(&format!("DROP TABLE IF EXISTS {table}"));
}
