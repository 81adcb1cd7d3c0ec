//! The webhook sink against a real HTTP server (Python's standard library, `tests/python/
//! webhook_receiver.py`): one POST per batch with the batch as JSON and an idempotency key, retried
//! through 503s; a 4xx answer fails the job naming the status; a job run again on its checkpoint posts
//! nothing it had posted.

use std::path::Path;
use std::process::{Command, Output};

use weir_tests::webhook::receiver;
use weir_tests::{read_jsonl, weir_bin};

const SCRIPT: &str = concat!(
    r#"[{"key": "b", "value": 2}, {"key": "a", "value": 1}]"#,
    "\n",
    r#"["plain"]"#,
    "\n",
    r#"[{"key": "c", "value": {"n": 3}}]"#,
    "\n"
);

fn run(dir: &Path, port: u16) -> Output {
    let spec = format!(
        "[job]\nname = \"hooked\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n\
         [sources.events]\nkind = \"scripted\"\npath = \"input.jsonl\"\n\n\
         [sinks.hook]\nkind = \"webhook\"\nfrom = \"events\"\nurl = \"http://127.0.0.1:{port}/hook\"\n\
         headers = {{ X-Test = \"yes\" }}\n\n\
         [checkpoint]\ndir = \"checkpoints\"\n"
    );
    std::fs::write(dir.join("job.toml"), spec).unwrap();
    std::fs::write(dir.join("input.jsonl"), SCRIPT).unwrap();
    Command::new(weir_bin()).args(["run", "job.toml"]).current_dir(dir).output().unwrap()
}

#[test]
fn each_batch_is_posted_once_with_its_key_through_503s_and_a_second_run_posts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = receiver(dir.path(), &["--fail-first", "2"]);
    let out = run(dir.path(), port);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("answered 503"), "the retries are logged");
    let again = run(dir.path(), port);
    drop(server);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));

    let got = read_jsonl(&dir.path().join("received.jsonl"));
    let keys: Vec<&str> = got.iter().map(|g| g["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["hooked/hook/1000", "hooked/hook/2000", "hooked/hook/3000"], "each batch once, in order");
    assert_eq!(got[0]["body"]["time"], 1000);
    assert_eq!(
        got[0]["body"]["records"],
        serde_json::json!([{"key": "a", "value": 1}, {"key": "b", "value": 2}]),
        "canonical order, as the jsonl sink writes records"
    );
    assert_eq!(got[1]["body"]["records"], serde_json::json!(["plain"]));
    assert_eq!(got[2]["body"]["records"], serde_json::json!([{"key": "c", "value": {"n": 3}}]));
}

#[test]
fn a_refusing_endpoint_fails_the_job_naming_the_status() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = receiver(dir.path(), &["--status", "400"]);
    let out = run(dir.path(), port);
    drop(server);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("sink `hook`") && err.contains("answered 400: not today"), "{err}");
    assert!(!dir.path().join("received.jsonl").exists());
}
