//! The web UI, in a real browser: `examples/big_screen.toml` fed by `weir gen clicks --to listen://`,
//! served by `weir run --http`, driven through Debian's headless chromium by `tests/browser/ui.mjs`
//! (playwright-core): the job page's charts and batch table fill and grow, the big screen's numbers
//! change, unknown jobs and streams are 404 pages, and no page logs a console error. Screenshots go to
//! `target/ui-screenshots/`. Also: the UI of a job run for 40,000 batches stays bounded (RSS printed),
//! and off loopback the server's UI needs its token.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use weir_tests::http::{get, run_with_http};
use weir_tests::{Killed, free_port, repo_root, rss_kib, weir_bin};

#[test]
fn in_chromium_the_job_page_and_the_big_screen_follow_a_running_job() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let operators = repo_root().join("operators");
    let spec = std::fs::read_to_string(repo_root().join("examples/big_screen.toml"))
        .unwrap()
        .replace("port = 9999", &format!("port = {port}"))
        .replace("\"../operators", &format!("\"{}", operators.display()));
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let to = format!("listen://127.0.0.1:{port}");
    let generator = Command::new(weir_bin())
        .args(["gen", "clicks", "--to", &to, "--rate", "400", "--bad-fraction", "0.01"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _generator = Killed(generator);
    weir_tests::wait_listening(port, "weir gen clicks", Duration::from_secs(10));
    let (job, base) = run_with_http(dir.path(), &[]);
    let _job = Killed(job);

    let shots = repo_root().join("target/ui-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let browser = repo_root().join("tests/browser");
    let out = Command::new("node")
        .arg(browser.join("ui.mjs"))
        .args([&base, "big-screen", "totals", shots.to_str().unwrap()])
        .current_dir(&browser)
        .output()
        .expect("node runs (scripts/test.sh installs playwright-core and chromium)");
    let said = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let seen: serde_json::Value = serde_json::from_str(said.trim())
        .unwrap_or_else(|e| panic!("ui.mjs printed no result ({e}): {said}\n{stderr}"));
    println!("the browser saw: {seen}");
    assert!(seen.get("failure").is_none(), "{seen}");
    assert_eq!(seen["errors"], serde_json::json!([]), "console errors");
    assert_eq!(seen["charts"], 4, "Spark's four charts: {seen}");
    assert!(seen["rows_later"].as_u64() > seen["rows_first"].as_u64(), "the batch table grows: {seen}");
    // 400 clicks a second in 1 s batches: the newest row's input rate is near 400.
    let rate: f64 = seen["first_rate"].as_str().unwrap_or("0").replace(',', "").parse().unwrap_or(0.0);
    assert!(rate > 100.0, "input rate in the table: {seen}");
    // The charts' averages are computed from the points they draw: the input rate's is near 400.
    let averages: Vec<f64> = seen["averages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().trim_start_matches("avg ").replace(',', "").parse().unwrap_or(-1.0))
        .collect();
    assert!(averages.len() == 4 && averages[0] > 100.0 && averages.iter().all(|a| *a >= 0.0), "{seen}");
    assert_eq!(seen["graph_nodes"], 4, "source, two streams, sink: {seen}");
    assert_eq!(seen["state"], "running");
    assert_ne!(seen["board_first"], seen["board_later"], "the big screen's numbers change");
    let board = seen["board_later"].as_array().unwrap();
    assert!(!board.is_empty() && board[0].as_str().unwrap().starts_with("1. phone"), "phones click most: {seen}");
    assert!(seen["board_font_px"].as_f64().unwrap() >= 40.0, "large type: {seen}");
    assert_eq!(seen["missing_job"][0], 404);
    assert!(seen["missing_job"][1].as_str().unwrap().contains("no job `no-such-job` here; jobs: big-screen"));
    assert_eq!(seen["missing_stream"][0], 404);
    assert!(seen["missing_stream"][1].as_str().unwrap().contains("has no stream `no-such-stream`"), "{seen}");
    for shot in ["job.png", "screen.png"] {
        assert!(std::fs::metadata(shots.join(shot)).unwrap().len() > 10_000, "{shot} is a real screenshot");
    }
    // A stream without a screen sink says how to add one.
    let answer = get(&format!("{base}/jobs/big-screen/screen/by_type"), &[]);
    assert_eq!(answer.status, 404);
    assert!(answer.body.contains("kind = &quot;screen&quot;"), "{}", answer.body);
}

/// Batches cut as fast as the job runs them (thousands a second): 5 lines each, words counted per batch.
const LONG_RUN: &str = r#"
[job]
name = "long"
batch_interval = "1s"
clock = "manual"

[sources.lines]
kind = "generator"
rate = 5
words_per_line = 4
vocabulary = 20

[streams.words]
op = "tokenize"
from = "lines"

[streams.pairs]
op = "map_to_pair"
from = "words"

[streams.counts]
op = "reduce_by_key"
from = "pairs"
reducer = "sum"

[sinks.board]
kind = "screen"
from = "counts"
"#;

#[test]
fn the_ui_of_a_job_run_for_40000_batches_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.toml"), LONG_RUN).unwrap();
    // Far more batches than sampled, so the job still runs when batch 40,000 is seen.
    let (job, base) = run_with_http(dir.path(), &["--batches", "60000"]);
    let job = Killed(job);
    let pid = job.0.id();
    let latest = || {
        let answer = get(&format!("{base}/api/jobs/long"), &[]);
        let v: serde_json::Value = serde_json::from_str(&answer.body).unwrap_or_default();
        (v["batches"].as_array().map_or(0, Vec::len), v["batches"].as_array().and_then(|b| b.last().cloned()))
    };
    let batch_of = |row: &Option<serde_json::Value>| row.as_ref().and_then(|r| r["time"].as_u64()).unwrap_or(0) / 1000;
    let deadline = Instant::now() + Duration::from_secs(120);
    // RSS when the history has just filled, at batch 20,000 and at batch 40,000. The allocator takes its
    // last segments somewhere before batch 20,000 (seen between 10,000 and 20,000): from there RSS is flat.
    let marks = [1_000, 20_000, 40_000];
    let mut seen: Vec<(u64, u64)> = Vec::new();
    let mut kept = 0;
    while Instant::now() < deadline && seen.len() < marks.len() {
        let (n, last) = latest();
        let batch = batch_of(&last);
        if batch >= marks[seen.len()] {
            seen.push((batch, rss_kib(pid)));
            kept = n;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for (batch, rss) in &seen {
        println!("RSS at batch {batch}: {rss} KiB");
    }
    assert_eq!(seen.len(), marks.len(), "batch 40,000 not reached in time: {seen:?}");
    assert_eq!(kept, weir::ui::view::BATCHES, "the batch history is bounded");
    let ((_, at_20k), (_, at_40k)) = (seen[1], seen[2]);
    assert!(at_40k < at_20k + 4 * 1024, "RSS grew by more than 4 MiB over 20,000 batches: {seen:?}");
}

#[test]
fn off_loopback_the_servers_ui_needs_its_token_and_a_browser_keeps_it_in_a_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("0.0.0.0:0").unwrap().local_addr().unwrap().port();
    let http = format!("0.0.0.0:{port}");
    let _server = weir_tests::served::Served::start(&dir.path().join("data"), &["--http", &http]);
    weir_tests::wait_listening(port, "the UI", Duration::from_secs(10));
    let base = format!("http://127.0.0.1:{port}");
    let token = weir_tests::served::TOKEN;
    let refused = get(&format!("{base}/"), &[]);
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("?token=<token>"), "{}", refused.body);
    let given = get(&format!("{base}/?token={token}"), &[]);
    assert_eq!(given.status, 200);
    assert!(given.headers.contains(&format!("set-cookie: weir_token={token}")), "{}", given.headers);
    assert!(given.body.contains("No jobs yet."), "{}", given.body);
    let with_cookie = get(&format!("{base}/api/jobs"), &[&format!("Cookie: weir_token={token}")]);
    assert_eq!((with_cookie.status, with_cookie.body.as_str()), (200, "{}"));
    let wrong = get(&format!("{base}/api/jobs"), &["Cookie: weir_token=nope"]);
    assert_eq!(wrong.status, 401);
    let missing = get(&format!("{base}/jobs/nope"), &[&format!("Authorization: Bearer {token}")]);
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("no job `nope` here; jobs: none"), "{}", missing.body);
}

#[test]
fn a_screen_of_no_keys_and_a_generator_that_cannot_listen_are_refused_naming_what() {
    let spec = "[job]\nname = \"s\"\nbatch_interval = \"1s\"\n[sources.in]\nkind = \"socket\"\nhost = \"127.0.0.1\"\n\
                port = 1\n[sinks.board]\nkind = \"screen\"\nfrom = \"in\"\ntop = 0\n";
    let err = weir::graph::plan::parse(std::path::Path::new("s.toml"), spec).unwrap_err().to_string();
    assert!(err.contains("sinks.board.top") && err.contains("1 to 100"), "{err}");
    let out = Command::new(weir_bin()).args(["gen", "clicks", "--to", "listen://nowhere"]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("--to `listen://nowhere`: cannot listen"), "{said}");
}
