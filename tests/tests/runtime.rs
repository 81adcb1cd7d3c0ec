//! The `weir` binary at run time: per-batch text files, plugin output captured into the log, Ctrl-C
//! stopping at a batch boundary, and `weir op build` / `weir op describe`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use weir_tests::{plugin, repo_root, weir_bin};

fn job_dir(spec: &str, input: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.toml"), weir_tests::with_operators(spec)).unwrap();
    std::fs::write(dir.path().join("input.jsonl"), input).unwrap();
    dir
}

#[test]
fn files_sink_writes_one_file_per_batch_in_spark_format() {
    let spec = r#"
[job]
name = "files"
batch_interval = "500ms"
clock = "manual"
workers = 2

[sources.in]
kind = "scripted"
path = "input.jsonl"

[streams.pairs]
op = "map_to_pair"
from = "in"

[streams.counts]
op = "reduce_by_key"
from = "pairs"
reducer = "sum"

[sinks.out]
kind = "files"
from = "counts"
prefix = "out/counts"
"#;
    let dir = job_dir(spec, "[\"b\",\"a\",\"b\"]\n[]\n");
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let status = Command::new(weir_bin()).args(["run", "job.toml"]).current_dir(dir.path()).status().unwrap();
    assert!(status.success());
    let mut files: Vec<String> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, vec!["counts-1000.txt", "counts-500.txt"]);
    assert_eq!(std::fs::read_to_string(dir.path().join("out/counts-500.txt")).unwrap(), "(a,1)\n(b,2)\n");
    assert_eq!(std::fs::read_to_string(dir.path().join("out/counts-1000.txt")).unwrap(), "");
}

#[test]
fn plugin_stdout_goes_to_the_log_tagged_with_job_and_operator() {
    let spec = r#"
[job]
name = "chatty"
batch_interval = "1s"
clock = "manual"

[sources.in]
kind = "scripted"
path = "input.jsonl"

[streams.talk]
op = "wasm"
from = "in"
plugin = "{operators}/sandbox.wasm"

[sinks.out]
kind = "print"
from = "talk"
"#;
    let dir = job_dir(spec, "[\"print:hello\"]\n");
    let out = Command::new(weir_bin())
        .args(["run", "job.toml"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("Time: 1000 ms") && stdout.contains("printed hello"), "{stdout}");
    assert!(!stdout.contains("stdout says"), "plugin output leaked to stdout: {stdout}");
    let line =
        stderr.lines().find(|l| l.contains("stdout says hello")).unwrap_or_else(|| panic!("not in the log: {stderr}"));
    assert!(line.contains("chatty") && line.contains("talk"), "untagged: {line}");
    assert!(stderr.lines().any(|l| l.contains("stderr says hello")), "{stderr}");
}

#[test]
fn ctrl_c_stops_at_a_batch_boundary_and_exits_cleanly() {
    let spec = r#"
[job]
name = "endless"
batch_interval = "200ms"

[sources.in]
kind = "generator"
rate = 1000

[streams.n]
op = "count"
from = "in"

[sinks.out]
kind = "print"
from = "n"
"#;
    let dir = job_dir(spec, "");
    let child = Command::new(weir_bin())
        .args(["run", "job.toml"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let sent = Instant::now();
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert!(sent.elapsed() < Duration::from_secs(3), "took {:?} to stop", sent.elapsed());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let batches = stdout.matches("Time: ").count();
    assert!(batches >= 3, "{stdout}");
    // Every batch that started was finished: each header has its count line.
    assert_eq!(stdout.lines().filter(|l| l.parse::<u64>().is_ok()).count(), batches, "{stdout}");
}

#[test]
fn op_build_and_describe() {
    let out = Command::new(weir_bin())
        .args(["op", "build", "operators/parse-clicks"])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().next().unwrap().ends_with("parse_clicks.wasm"), "{stdout}");
    assert!(stdout.contains("name: parse-clicks") && stdout.contains("kind: map"), "{stdout}");
    let out = Command::new(weir_bin()).args(["op", "describe"]).arg(plugin("tokenize")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("name: tokenize") && stdout.contains("kind: flat-map") && stdout.contains("sha256: "),
        "{stdout}"
    );
    let out =
        Command::new(weir_bin()).args(["op", "describe", "Cargo.toml"]).current_dir(repo_root()).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a WebAssembly file") && stderr.contains("weir op build"), "{stderr}");
}
