//! The platform through its admin CLI against a real `weir serve`: push operators, submit jobs, list,
//! status, hot-swap a plugin, stop with drain, cancel, and a server killed with SIGKILL that resumes its
//! jobs with every batch written exactly once.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use weir_tests::read_jsonl;
use weir_tests::served::{Served, text};

/// A word count over `batches` scripted batches of "The THE the", with running totals.
fn word_count(dir: &Path, name: &str, batches: u64, pace: &str) -> std::path::PathBuf {
    let input: String = (0..batches).map(|_| "[\"The THE the\"]\n").collect();
    std::fs::write(dir.join(format!("{name}.input.jsonl")), input).unwrap();
    let spec = format!(
        "[job]\nname = \"{name}\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n\
         [sources.lines]\nkind = \"scripted\"\npath = \"{d}/{name}.input.jsonl\"\npace = \"{pace}\"\n\n\
         [streams.words]\nop = \"wasm\"\nfrom = \"lines\"\nplugin = \"tok@1\"\n\n\
         [streams.pairs]\nop = \"map_to_pair\"\nfrom = \"words\"\n\n\
         [streams.counts]\nop = \"reduce_by_key\"\nfrom = \"pairs\"\nreducer = \"sum\"\n\n\
         [streams.totals]\nop = \"update_state_by_key\"\nfrom = \"pairs\"\nupdater = \"sum\"\n\n\
         [sinks.out]\nkind = \"jsonl\"\nfrom = \"counts\"\npath = \"{d}/{name}.counts.jsonl\"\n\n\
         [sinks.running]\nkind = \"jsonl\"\nfrom = \"totals\"\npath = \"{d}/{name}.totals.jsonl\"\n",
        d = dir.display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, spec).unwrap();
    path
}

fn counts(records: &serde_json::Value) -> BTreeMap<String, u64> {
    let records = records.as_array().unwrap().iter();
    records.map(|r| (r["key"].as_str().unwrap().to_string(), r["value"].as_u64().unwrap())).collect()
}

fn words(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(w, n)| (w.to_string(), *n)).collect()
}

/// The batch times in a jsonl sink's file, in order.
fn times(file: &Path) -> Vec<u64> {
    read_jsonl(file).iter().map(|b| b["time"].as_u64().unwrap()).collect()
}

fn push_tokenizers(server: &Served) {
    let v1 = weir_tests::plugin("tokenize");
    let v2 = weir_tests::plugin("tokenize_v2");
    assert!(server.ok(&["op", "push", v1.to_str().unwrap(), "--as", "tok@1"]).contains("pushed tok@1"));
    assert!(server.ok(&["op", "push", v2.to_str().unwrap(), "--as", "tok@2"]).contains("pushed tok@2"));
}

#[test]
fn push_submit_list_upgrade_stop_and_cancel_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(&dir.path().join("data"), &[]);
    push_tokenizers(&server);
    let ops: serde_json::Value = serde_json::from_str(&server.ok(&["op", "list", "-o", "json"])).unwrap();
    let names: Vec<_> = ops.as_array().unwrap().iter().map(|o| format!("{}@{}", o["name"], o["version"])).collect();
    assert_eq!(names, ["\"tok\"@\"1\"", "\"tok\"@\"2\""]);
    assert_eq!(ops[0]["kind"], "flat-map");
    // The README's service example names a registry operator.
    server.ok(&["op", "push", weir_tests::plugin("tokenize").to_str().unwrap(), "--as", "tokenize@1"]);
    let example = weir_tests::repo_root().join("examples/service/wordcount.toml");
    assert!(server.ok(&["job", "validate", example.to_str().unwrap()]).contains("job service-wordcount is valid"));

    // Two jobs: `swapped` gets its plugin upgraded and ends on its own; `drained` is stopped with drain.
    const BATCHES: u64 = 60;
    let swapped = word_count(dir.path(), "swapped", BATCHES, "50ms");
    let drained = word_count(dir.path(), "drained", 100_000, "50ms");
    assert!(server.ok(&["job", "validate", swapped.to_str().unwrap()]).contains("stream words: tok@1"));
    assert!(server.ok(&["job", "submit", swapped.to_str().unwrap()]).contains("submitted job swapped"));
    assert!(server.ok(&["job", "submit", drained.to_str().unwrap()]).contains("submitted job drained"));
    let again = server.weir(&["job", "submit", drained.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again.stderr));
    assert!(text(&again.stderr).contains("job `drained` is running"), "{}", text(&again.stderr));

    let list = server.ok(&["job", "list"]);
    assert!(list.contains("JOB") && list.contains("swapped") && list.contains("drained"), "{list}");
    let listed: serde_json::Value = serde_json::from_str(&server.ok(&["job", "list", "-o", "json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    server.wait_for("swapped", Duration::from_secs(30), |s| s["batches"].as_u64().unwrap() >= 10);

    // A component that does not fit the stream is refused with the reason; the job runs on.
    let word_sum = weir_tests::plugin("word_sum");
    server.ok(&["op", "push", word_sum.to_str().unwrap(), "--as", "sum@1"]);
    let refused = server.weir(&["job", "upgrade", "swapped", "words", "sum@1"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("this op needs a `transform`"), "{}", text(&refused.stderr));

    let upgraded = server.ok(&["job", "upgrade", "swapped", "words", "tok@2"]);
    let from: u64 = upgraded.trim().rsplit(' ').next().unwrap().parse().unwrap();
    let status = server.status("swapped");
    assert_eq!(status["plugins"][0]["operator"], "tok@2", "{status}");

    // The running job's keyed state, as of its newest checkpoint, equals what the sink wrote for that batch.
    let state: serde_json::Value =
        serde_json::from_str(&server.ok(&["job", "state", "swapped", "totals", "-o", "json"])).unwrap();
    let as_of = state["as_of_batch"].as_u64().unwrap();
    let queried: BTreeMap<String, u64> = state["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["key"].as_str().unwrap().to_string(), e["value"].as_u64().unwrap()))
        .collect();
    let written = read_jsonl(&dir.path().join("swapped.totals.jsonl"));
    let at = written.iter().find(|b| b["time"] == as_of).unwrap_or_else(|| panic!("no batch {as_of} in the sink"));
    assert_eq!(queried, counts(&at["records"]), "state as of batch {as_of}");
    let top: serde_json::Value =
        serde_json::from_str(&server.ok(&["job", "state", "swapped", "totals", "--top", "1", "-o", "json"])).unwrap();
    assert_eq!(top["entries"].as_array().unwrap().len(), 1);
    assert_eq!(top["entries"][0]["key"], "the", "{top}");
    let one = server.ok(&["job", "state", "swapped", "totals", "--key", "THE"]);
    assert!(one.contains("THE") && !one.contains("the "), "{one}");
    let no_state = server.weir(&["job", "state", "swapped", "counts"]);
    assert_eq!(no_state.status.code(), Some(3), "{}", text(&no_state.stderr));
    assert!(text(&no_state.stderr).contains("keeps no state for stream `counts`"), "{}", text(&no_state.stderr));

    // Tailing a stream shows its records batch by batch: the new version's counts by now.
    let tail = server.ok(&["job", "tail", "swapped", "counts", "--batches", "2"]);
    let tailed: Vec<serde_json::Value> = tail.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let seen: std::collections::BTreeSet<u64> = tailed.iter().map(|l| l["time"].as_u64().unwrap()).collect();
    assert!((1..=2).contains(&seen.len()), "{tail}");
    assert!(seen.iter().all(|t| *t >= from), "{tail}");
    assert!(tailed.iter().all(|l| l["record"] == serde_json::json!({"key": "the", "value": 3})), "{tail}");
    let nope = server.weir(&["job", "tail", "swapped", "nope"]);
    assert_eq!(nope.status.code(), Some(3), "{}", text(&nope.stderr));

    let stopped = server.ok(&["job", "stop", "drained", "--drain"]);
    assert!(stopped.contains("job drained finished"), "{stopped}");
    assert_eq!(server.status("drained")["state"], "finished");

    let end = server.wait_for("swapped", Duration::from_secs(60), |s| s["state"] != "running");
    assert_eq!(end["state"], "finished", "{end}");
    let file = dir.path().join("swapped.counts.jsonl");
    assert_eq!(times(&file), (1..=BATCHES).map(|i| i * 1000).collect::<Vec<_>>(), "every batch once");
    let (old, new) = (words(&[("THE", 1), ("The", 1), ("the", 1)]), words(&[("the", 3)]));
    for b in read_jsonl(&file) {
        let t = b["time"].as_u64().unwrap();
        assert_eq!(
            counts(&b["records"]),
            if t < from { old.clone() } else { new.clone() },
            "batch {t}, swap at {from}"
        );
    }
    let before = from / 1000 - 1;
    let last = read_jsonl(&dir.path().join("swapped.totals.jsonl")).pop().unwrap();
    let want = words(&[("THE", before), ("The", before), ("the", before + 3 * (BATCHES - before))]);
    assert_eq!(counts(&last["records"]), want, "the totals went on through the swap");

    // A job in use keeps its operator; an ended one does not.
    let cancelled = word_count(dir.path(), "cancelled", 100_000, "50ms");
    server.ok(&["job", "submit", cancelled.to_str().unwrap()]);
    let in_use = server.weir(&["op", "delete", "tok@1"]);
    assert_eq!(in_use.status.code(), Some(2));
    assert!(text(&in_use.stderr).contains("used by job `cancelled`"), "{}", text(&in_use.stderr));
    server.wait_for("cancelled", Duration::from_secs(30), |s| s["batches"].as_u64().unwrap() >= 3);
    assert!(server.ok(&["job", "cancel", "cancelled"]).contains("cancelled"));
    server.wait_for("cancelled", Duration::from_secs(30), |s| s["state"] == "finished");
    assert!(server.ok(&["op", "delete", "sum@1"]).contains("deleted sum@1"));
    let info = server.ok(&["server", "info"]);
    assert!(
        info.contains("health: serving") && info.contains("jobs: 3 (0 running)") && info.contains("operators: 3"),
        "{info}"
    );
    let completions = server.ok(&["completions", "bash"]);
    assert!(completions.contains("_weir") && completions.contains("upgrade"), "completions for bash");
}

#[test]
fn a_server_killed_with_sigkill_resumes_its_jobs_and_writes_every_batch_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Served::start(&data, &[]);
    push_tokenizers(&server);
    const BATCHES: u64 = 80;
    let spec = word_count(dir.path(), "durable", BATCHES, "40ms");
    server.ok(&["job", "submit", spec.to_str().unwrap()]);
    server.wait_for("durable", Duration::from_secs(30), |s| s["batches"].as_u64().unwrap() >= 20);
    server.ok(&["job", "upgrade", "durable", "words", "tok@2"]);
    server.kill9();

    let server = Served::start(&data, &[]);
    let end =
        server.wait_for("durable", Duration::from_secs(60), |s| s["state"] != "running" && s["state"] != "starting");
    assert_eq!(end["state"], "finished", "{end}");
    assert_eq!(end["restarts"], 1, "{end}");
    assert_eq!(end["plugins"][0]["operator"], "tok@2", "the restart runs the upgraded plugin: {end}");
    let file = dir.path().join("durable.counts.jsonl");
    assert_eq!(times(&file), (1..=BATCHES).map(|i| i * 1000).collect::<Vec<_>>(), "every batch exactly once");
    let last = read_jsonl(&dir.path().join("durable.totals.jsonl")).pop().unwrap();
    let total: u64 = counts(&last["records"]).values().sum();
    assert_eq!(total, 3 * BATCHES, "every word counted once: {last}");
}

/// A job whose sink cannot open, with restart policy `restart`.
fn unwritable(dir: &Path, name: &str, restart: &str) -> std::path::PathBuf {
    let spec = format!(
        "[job]\nname = \"{name}\"\nbatch_interval = \"100ms\"\n\n\
         [sources.g]\nkind = \"generator\"\nrate = 100\n\n\
         [sinks.out]\nkind = \"jsonl\"\nfrom = \"g\"\npath = \"{}/{name}/out.jsonl\"\n\n[restart]\n{restart}\n",
        dir.display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, spec).unwrap();
    path
}

#[test]
fn a_job_that_fails_for_a_reason_worth_a_retry_restarts_with_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(&dir.path().join("data"), &[]);

    // Exponential backoff until the sink's folder appears; then the job runs.
    let spec = unwritable(
        dir.path(),
        "recovers",
        "strategy = \"exponential\"\nattempts = 50\ndelay = \"50ms\"\nmax_delay = \"200ms\"",
    );
    server.ok(&["job", "submit", spec.to_str().unwrap()]);
    let s = server.wait_for("recovers", Duration::from_secs(30), |s| s["restarts"].as_u64().unwrap() >= 2);
    assert!(["restarting", "starting", "failed"].contains(&s["state"].as_str().unwrap()), "{s}");
    assert!(s["last_error"].as_str().unwrap().contains("out.jsonl"), "{s}");
    // Submitting it again while it runs or waits to restart is refused: one run per job.
    let again = server.weir(&["job", "submit", spec.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again.stderr));
    std::fs::create_dir(dir.path().join("recovers")).unwrap();
    let s = server.wait_for("recovers", Duration::from_secs(30), |s| {
        s["state"] == "running" && s["batches"].as_u64().unwrap() >= 3
    });
    println!("recovered after {} restarts", s["restarts"]);

    // A fixed-delay policy of 2 attempts is spent: the job is left failed.
    let spec = unwritable(dir.path(), "gives-up", "strategy = \"fixed-delay\"\nattempts = 2\ndelay = \"50ms\"");
    server.ok(&["job", "submit", spec.to_str().unwrap()]);
    let s = server.wait_for("gives-up", Duration::from_secs(30), |s| s["state"] == "failed" && s["restarts"] == 2);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(server.status("gives-up")["restarts"], 2, "no third restart: {s}");

    // A bad spec is not retried: `none` never restarts at all.
    let spec = unwritable(dir.path(), "no-retry", "strategy = \"none\"");
    server.ok(&["job", "submit", spec.to_str().unwrap()]);
    server.wait_for("no-retry", Duration::from_secs(30), |s| s["state"] == "failed");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.status("no-retry")["restarts"], 0);
}

#[test]
fn a_jobs_logs_carry_its_host_lines_and_what_its_plugins_printed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Served::start(&dir.path().join("data"), &[]);
    server.ok(&["op", "push", weir_tests::plugin("sandbox").to_str().unwrap(), "--as", "sandbox@1"]);
    let input: String = (0..5).map(|i| format!("[\"print:hello-{i}\"]\n")).collect();
    std::fs::write(dir.path().join("print.jsonl"), input).unwrap();
    let spec = dir.path().join("printer.toml");
    std::fs::write(
        &spec,
        format!(
            "[job]\nname = \"printer\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n\
             [sources.lines]\nkind = \"scripted\"\npath = \"{}\"\npace = \"100ms\"\n\n\
             [streams.p]\nop = \"wasm\"\nfrom = \"lines\"\nplugin = \"sandbox@1\"\n\n\
             [sinks.out]\nkind = \"noop\"\nfrom = \"p\"\n",
            dir.path().join("print.jsonl").display()
        ),
    )
    .unwrap();
    server.ok(&["job", "submit", spec.to_str().unwrap()]);
    // Following ends with the job.
    let followed = server.ok(&["job", "logs", "printer", "--follow"]);
    for i in 0..5 {
        assert!(followed.contains(&format!("[p stdout] stdout says hello-{i}")), "{followed}");
        assert!(followed.contains(&format!("[p stderr] stderr says hello-{i}")), "{followed}");
    }
    assert!(followed.contains("plugin loaded"), "the host's lines too: {followed}");
    assert_eq!(server.status("printer")["state"], "finished");
    let last = server.ok(&["job", "logs", "printer", "--tail", "1"]);
    assert_eq!(last.lines().count(), 1, "{last}");
    let unknown = server.weir(&["job", "logs", "ghost"]);
    assert_eq!(unknown.status.code(), Some(3));
}

#[test]
fn sigterm_stops_the_server_while_a_client_follows_a_job_and_the_job_resumes_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Served::start(&data, &[]);
    push_tokenizers(&server);
    let spec = word_count(dir.path(), "followed", 100_000, "50ms");
    server.ok(&["job", "submit", spec.to_str().unwrap()]);
    server.wait_for("followed", Duration::from_secs(30), |s| s["batches"].as_u64().unwrap() >= 3);
    let mut follower = std::process::Command::new(weir_tests::weir_bin())
        .args(["--server", &server.url, "--token", weir_tests::served::TOKEN, "job", "logs", "followed", "-f"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut child = server.child.take().unwrap();
    assert!(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the server did not stop within 20 s with a follower");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let followed = follower.wait().unwrap();
    assert!(followed.success(), "the follower ends with the job: {followed}");
    let written = times(&dir.path().join("followed.counts.jsonl"));

    let server = Served::start(&data, &[]);
    let s = server.wait_for("followed", Duration::from_secs(30), |s| {
        s["state"] == "running" && s["batches"].as_u64().unwrap() >= 2
    });
    assert_eq!(s["restarts"], 1, "{s}");
    server.ok(&["job", "stop", "followed"]);
    let all = times(&dir.path().join("followed.counts.jsonl"));
    assert_eq!(all[..written.len()], written[..], "the first run's batches stay");
    assert_eq!(
        all,
        (1..=all.len() as u64).map(|i| i * 1000).collect::<Vec<_>>(),
        "resumed where it stopped: every batch once"
    );
}
