//! Prometheus metrics: `weir run --http ADDR` serves `/metrics`, scraped and parsed by a real
//! OpenMetrics parser (Python's `prometheus_client`, `tests/python/scrape.py`) while the job runs, and
//! the figures must be what the job did: records in equal records sent, records out of the tokenizer
//! equal the words, rows written equal the sink's file. `weir serve --http` serves every job's metrics,
//! and off loopback only to a scrape that brings the server's token; `weir job status` shows the job's
//! one-line status, which `weir run` draws on a terminal only.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use weir_tests::{read_jsonl, repo_root, weir_bin};

/// 40 batches, 100 ms apart: 10 with 3 lines of 6 words in all, then 30 empty.
const SPEC: &str = "[job]\nname = \"scraped\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n\
    [sources.in]\nkind = \"scripted\"\npath = \"in.jsonl\"\npace = \"100ms\"\n\n\
    [streams.words]\nop = \"tokenize\"\nfrom = \"in\"\n\n\
    [streams.pairs]\nop = \"map_to_pair\"\nfrom = \"words\"\n\n\
    [streams.counts]\nop = \"reduce_by_key\"\nfrom = \"pairs\"\nreducer = \"sum\"\n\n\
    [sinks.out]\nkind = \"jsonl\"\nfrom = \"counts\"\npath = \"out.jsonl\"\n";

/// Scrapes `url` (with `token`, when given) until job `scraped` has completed 15 batches (at most 30 s);
/// returns that scrape.
fn scrape_after_15_batches(url: &str, token: &[&str]) -> Vec<(String, serde_json::Value, f64)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let samples = scrape_with(url, token);
        if value(&samples, "weir_batches_total", &[("job", "scraped")]).unwrap_or(0.0) >= 15.0 {
            return samples;
        }
        assert!(Instant::now() < deadline, "15 batches did not complete in 30 s: {samples:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// [`scrape`], sending `token` as a bearer token when given.
fn scrape_with(url: &str, token: &[&str]) -> Vec<(String, serde_json::Value, f64)> {
    let out =
        Command::new("python3").arg(repo_root().join("tests/python/scrape.py")).arg(url).args(token).output().unwrap();
    assert!(out.status.success(), "the parser refused the page: {}", String::from_utf8_lossy(&out.stderr));
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(page["content_type"].as_str().unwrap().starts_with("application/openmetrics-text"), "{page}");
    let samples = page["samples"].as_array().unwrap().iter();
    samples.map(|s| (s[0].as_str().unwrap().to_string(), s[1].clone(), s[2].as_f64().unwrap())).collect()
}

/// The value of sample `name` whose labels include `labels`.
fn value(samples: &[(String, serde_json::Value, f64)], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let fits = |l: &serde_json::Value| labels.iter().all(|(k, v)| l[*k] == *v);
    samples.iter().find(|(n, l, _)| n == name && fits(l)).map(|s| s.2)
}

/// Starts the job with `--http 127.0.0.1:0`; returns it and its metrics' URL.
fn start(dir: &std::path::Path) -> (Child, String) {
    let (child, base) = weir_tests::http::run_with_http(dir, &[]);
    (child, format!("{base}/metrics"))
}

#[test]
fn a_scrape_parsed_by_prometheus_client_holds_what_the_job_did() {
    let dir = tempfile::tempdir().unwrap();
    let input: String = (0..40).map(|i| if i < 10 { "[\"a b c\", \"b c\", \"c\"]\n" } else { "\n" }).collect();
    std::fs::write(dir.path().join("in.jsonl"), input).unwrap();
    std::fs::write(dir.path().join("job.toml"), SPEC).unwrap();
    let (mut child, url) = start(dir.path());
    assert!(url.ends_with("/metrics"), "{url}");
    let job = [("job", "scraped")];
    let samples = scrape_after_15_batches(&url, &[]);
    assert!(child.wait().unwrap().success());
    let v = |name: &str, labels: &[(&str, &str)]| {
        value(&samples, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?}"))
    };
    assert_eq!(v("weir_source_records_total", &[("job", "scraped"), ("source", "in")]), 30.0, "lines sent");
    assert_eq!(v("weir_stream_records_out_total", &[("stream", "words")]), 60.0, "words out of the tokenizer");
    let written: usize =
        read_jsonl(&dir.path().join("out.jsonl")).iter().map(|b| b["records"].as_array().unwrap().len()).sum();
    assert_eq!(written, 30, "three words counted in each of ten batches");
    assert_eq!(v("weir_sink_records_total", &[("sink", "out")]), written as f64, "rows the sink wrote");
    assert!(v("weir_batch_processing_seconds_count", &job) >= 15.0);
    assert_eq!(value(&samples, "weir_dead_letters_total", &job), None, "nothing refused");
}

#[test]
fn metrics_on_an_address_that_is_not_loopback_are_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.jsonl"), "[]\n").unwrap();
    std::fs::write(dir.path().join("job.toml"), SPEC).unwrap();
    let out = Command::new(weir_bin())
        .args(["run", "job.toml", "--http", "0.0.0.0:9464"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--http 0.0.0.0:9464") && err.contains("loopback"), "{err}");
}

#[test]
fn a_server_serves_its_jobs_metrics_and_off_loopback_only_with_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("0.0.0.0:0").unwrap().local_addr().unwrap().port();
    let http = format!("0.0.0.0:{port}");
    let server = weir_tests::served::Served::start(&dir.path().join("data"), &["--http", &http]);
    weir_tests::wait_listening(port, "the metrics listener", Duration::from_secs(10));
    let input: String = (0..40).map(|i| if i < 10 { "[\"a b c\", \"b c\", \"c\"]\n" } else { "\n" }).collect();
    std::fs::write(dir.path().join("in.jsonl"), input).unwrap();
    let d = dir.path().display();
    let spec = SPEC
        .replace("path = \"in.jsonl\"", &format!("path = \"{d}/in.jsonl\""))
        .replace("path = \"out.jsonl\"", &format!("path = \"{d}/out.jsonl\""));
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    server.ok(&["job", "submit", dir.path().join("job.toml").to_str().unwrap()]);
    let url = format!("http://127.0.0.1:{port}/metrics");
    let refused = Command::new("python3").arg(repo_root().join("tests/python/scrape.py")).arg(&url).output().unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && said.contains("401"), "a scrape without the token: {said}");
    let samples = scrape_after_15_batches(&url, &[weir_tests::served::TOKEN]);
    let lines = value(&samples, "weir_source_records_total", &[("job", "scraped"), ("source", "in")]);
    assert_eq!(lines, Some(30.0), "lines sent");
    // `weir job status` shows the same figures, and the one-line status `weir run` draws.
    let status: serde_json::Value =
        serde_json::from_str(&server.ok(&["job", "status", "scraped", "-o", "json"])).unwrap();
    assert_eq!(status["records_in"], 30, "{status}");
    assert!(status["last_processing_ms"].is_u64(), "{status}");
    let table = server.ok(&["job", "status", "scraped"]);
    assert!(
        table.contains(" batches · ")
            && table.contains(" records/s · last batch ")
            && table.contains(" 0 dead letters"),
        "{table}"
    );
}

#[test]
fn weir_run_shows_a_live_status_line_on_a_terminal_and_none_when_redirected() {
    let job = || {
        let dir = tempfile::tempdir().unwrap();
        let input: String = (0..12).map(|i| if i < 10 { "[\"a b c\", \"b c\", \"c\"]\n" } else { "\n" }).collect();
        std::fs::write(dir.path().join("in.jsonl"), input).unwrap();
        std::fs::write(dir.path().join("job.toml"), SPEC).unwrap();
        dir
    };
    // `script` runs the job on a pseudo-terminal and copies what it drew.
    let dir = job();
    let run = format!("{} run job.toml", weir_bin().display());
    let tty = Command::new("script").args(["-qefc", &run, "/dev/null"]).current_dir(dir.path()).output().unwrap();
    let drawn = String::from_utf8_lossy(&tty.stdout);
    assert!(tty.status.success(), "{drawn}");
    assert!(drawn.contains("batches · ") && drawn.contains("records/s") && drawn.contains("dead letters"), "{drawn}");
    let dir = job();
    let plain = Command::new(weir_bin()).args(["run", "job.toml"]).current_dir(dir.path()).output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&plain.stdout), String::from_utf8_lossy(&plain.stderr));
    assert!(plain.status.success());
    assert!(!out.contains("records/s") && !err.contains("records/s"), "redirected output got the line: {out}{err}");
}

/// The `sandbox` plugin: one batch where it panics, one where it spins past the deadline, one where it
/// allocates past the memory cap, then good ones; checkpoints every batch.
const MISBEHAVING: &str = r#"
[job]
name = "misbehaving"
batch_interval = "1s"
clock = "manual"

[limits]
deadline = "300ms"
memory = "24MiB"

[sources.in]
kind = "scripted"
path = "in.jsonl"
pace = "100ms"

[streams.checked]
op = "wasm"
from = "in"
plugin = "{operators}/sandbox.wasm"

[streams.pairs]
op = "map_to_pair"
from = "checked"

[streams.counts]
op = "update_state_by_key"
from = "pairs"
updater = "sum"

[sinks.out]
kind = "jsonl"
from = "counts"
path = "out.jsonl"

[dead_letter]
path = "dead.jsonl"

[checkpoint]
dir = "checkpoints"
every = 1
"#;

#[test]
fn plugin_calls_traps_deadline_and_memory_cap_hits_and_checkpoint_sizes_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut input = String::from("[\"fine\"]\n[\"boom\"]\n[\"spin\"]\n[\"hog\"]\n");
    input.push_str(&"[\"fine\", \"good\"]\n".repeat(16));
    std::fs::write(dir.path().join("in.jsonl"), input).unwrap();
    std::fs::write(dir.path().join("job.toml"), weir_tests::with_operators(MISBEHAVING)).unwrap();
    let (mut child, url) = start(dir.path());
    let deadline = Instant::now() + Duration::from_secs(60);
    let samples = loop {
        let samples = scrape_with(&url, &[]);
        if value(&samples, "weir_batches_total", &[("job", "misbehaving")]).unwrap_or(0.0) >= 15.0 {
            break samples;
        }
        assert!(Instant::now() < deadline, "15 batches did not complete in 60 s");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(child.wait().unwrap().code(), Some(1), "a job whose plugin failed batches exits with 1");
    let v = |name: &str, labels: &[(&str, &str)]| {
        value(&samples, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in {samples:?}"))
    };
    let on = |cause| [("stream", "checked"), ("cause", cause)];
    assert_eq!(v("weir_plugin_failed_calls_total", &on("trap")), 1.0, "`boom` panicked once");
    assert_eq!(v("weir_plugin_failed_calls_total", &on("deadline")), 1.0, "`spin` hit the deadline once");
    assert_eq!(v("weir_plugin_failed_calls_total", &on("memory_cap")), 1.0, "`hog` hit the memory cap once");
    // Each batch is at least one call, and every failure makes a new instance (`describe`, `init`).
    let calls = v("weir_plugin_calls_total", &[("stream", "checked")]);
    assert!(calls >= 15.0, "{calls} calls");
    assert!(v("weir_plugin_busy_seconds_total", &[("stream", "checked")]) >= 0.3, "the spin alone took 300 ms");
    let peak = v("weir_plugin_memory_peak_bytes", &[("stream", "checked")]);
    assert!(peak > 0.0 && peak <= 24.0 * 1024.0 * 1024.0, "peak memory {peak} within the 24 MiB cap");
    let dead = read_jsonl(&dir.path().join("dead.jsonl"));
    assert_eq!(v("weir_dead_letters_total", &[("operator", "checked")]), dead.len() as f64, "the bad records");
    assert!(v("weir_checkpoints_total", &[("job", "misbehaving")]) >= 10.0);
    assert!(v("weir_checkpoint_size_bytes", &[("job", "misbehaving")]) > 0.0, "the running counts are state");
    assert!(v("weir_checkpoint_duration_seconds_count", &[("job", "misbehaving")]) >= 10.0);
}

#[test]
fn a_kafka_source_tells_its_lag_and_it_falls_to_zero_as_the_job_catches_up() {
    let tansu = weir_tests::tansu::Tansu::start();
    tansu.create_topic("lagging", 2);
    let lines: Vec<String> = (0..4000).map(|i| format!("w{} w{}", i % 7, i % 3)).collect();
    tansu.publish("lagging", &lines, Some(2));
    let spec = format!(
        "[job]\nname = \"lagging\"\nbatch_interval = \"500ms\"\n\n\
         [sources.topic]\nkind = \"kafka\"\nbrokers = \"{}\"\ntopic = \"lagging\"\nmax_rate = 800\n\n\
         [streams.words]\nop = \"tokenize\"\nfrom = \"topic\"\n\n\
         [sinks.out]\nkind = \"noop\"\nfrom = \"words\"\n",
        tansu.brokers()
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let (child, url) = start(dir.path());
    let _job = weir_tests::Killed(child);
    // 4,000 messages read at 800 a second: the lag starts in the thousands and ends at 0.
    let (mut lags, deadline) = (Vec::new(), Instant::now() + Duration::from_secs(60));
    loop {
        let samples = scrape_with(&url, &[]);
        let read = value(&samples, "weir_source_records_total", &[("source", "topic")]).unwrap_or(0.0);
        if let Some(lag) = value(&samples, "weir_source_lag_records", &[("job", "lagging"), ("source", "topic")]) {
            lags.push((read, lag));
        }
        if read >= 4000.0 && lags.last().is_some_and(|(_, lag)| *lag == 0.0) {
            break;
        }
        assert!(Instant::now() < deadline, "not caught up in 60 s: {lags:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
    println!("(records read, lag): {lags:?}");
    assert!(lags.iter().any(|(_, lag)| *lag >= 1000.0), "early on, thousands waited: {lags:?}");
    // Nothing more is published, so the lag only falls; and what was read and what waits add up to what
    // was published, give or take the lag's age (statistics each second, told each second).
    assert!(lags.windows(2).all(|w| w[1].1 <= w[0].1), "the lag grew: {lags:?}");
    assert!(lags.iter().all(|(read, lag)| (read + lag - 4000.0).abs() <= 2000.0), "{lags:?}");
}
