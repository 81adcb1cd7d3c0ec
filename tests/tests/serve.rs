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
