//! A job `weir serve` runs across processes (`[job] processes = 2`): the server runs process 0 and starts
//! process 1 as its child. `kill -9` of that child fails the run, naming the lost process, and the job's
//! restart policy starts both again from the last checkpoint: every batch is written exactly once and
//! the running counts come out right.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use weir_tests::crash::children;
use weir_tests::read_jsonl;
use weir_tests::served::{Served, text};

const BATCHES: u64 = 60;

/// A running word count on 2 processes of one worker, fed one scripted batch every 80 ms.
fn spec(dir: &Path) -> std::path::PathBuf {
    let input: String = (0..BATCHES).map(|b| format!("[\"a b a\", \"b{b} c\"]\n")).collect();
    std::fs::write(dir.join("input.jsonl"), input).unwrap();
    let spec = format!(
        "[job]\nname = \"spread\"\nbatch_interval = \"1s\"\nclock = \"manual\"\nprocesses = 2\n\n\
         [sources.lines]\nkind = \"scripted\"\npath = \"{d}/input.jsonl\"\npace = \"80ms\"\n\n\
         [streams.words]\nop = \"tokenize\"\nfrom = \"lines\"\n\n\
         [streams.pairs]\nop = \"map_to_pair\"\nfrom = \"words\"\n\n\
         [streams.totals]\nop = \"update_state_by_key\"\nfrom = \"pairs\"\nupdater = \"sum\"\n\n\
         [sinks.out]\nkind = \"jsonl\"\nfrom = \"totals\"\npath = \"{d}/totals.jsonl\"\n\n\
         [restart]\nattempts = 3\ndelay = \"200ms\"\n",
        d = dir.display()
    );
    let path = dir.join("spread.toml");
    std::fs::write(&path, spec).unwrap();
    path
}

#[test]
fn a_job_across_processes_under_serve_is_restarted_whole_when_one_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Served::start(&data, &[]);
    let submitted = server.ok(&["job", "submit", spec(dir.path()).to_str().unwrap()]);
    assert!(submitted.contains("submitted job spread"), "{submitted}");
    server.wait_for("spread", Duration::from_secs(30), |s| s["batches"].as_u64().unwrap_or(0) >= 10);
    let server_pid = server.child.as_ref().unwrap().id();
    let followers = children(server_pid);
    assert_eq!(followers.len(), 1, "the server runs process 0 and one child: {followers:?}");
    let killed = std::process::Command::new("kill").args(["-KILL", &followers[0].to_string()]).status().unwrap();
    assert!(killed.success());

    // Failed, it shows as failed until its restart starts: only the end of the restarted run counts.
    let end = server.wait_for("spread", Duration::from_secs(60), |s| s["state"] == "finished");
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
    assert_eq!(end["state"], "finished", "{end}\n{log}");
    assert_eq!(end["restarts"], 1, "{end}");
    assert!(log.contains("lost process 1"), "the failure names the lost process:\n{log}");
    let batches = read_jsonl(&dir.path().join("totals.jsonl"));
    let times: Vec<u64> = batches.iter().map(|b| b["time"].as_u64().unwrap()).collect();
    assert_eq!(times, (1..=BATCHES).map(|i| i * 1000).collect::<Vec<_>>(), "every batch exactly once");
    let last = batches.last().unwrap()["records"].as_array().unwrap().clone();
    let totals: BTreeMap<String, u64> =
        last.iter().map(|r| (r["key"].as_str().unwrap().to_string(), r["value"].as_u64().unwrap())).collect();
    assert_eq!((totals["a"], totals["b"], totals["c"], totals["b7"]), (2 * BATCHES, BATCHES, BATCHES, 1));
    assert!(children(server_pid).is_empty(), "the run's child ended with it");
}

#[test]
fn weir_run_refuses_a_job_for_several_processes_and_weir_cluster_run_takes_their_number() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path());
    let whole = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, whole + "\n[state]\nephemeral = true\n").unwrap();
    let out = std::process::Command::new(weir_tests::weir_bin()).arg("run").arg(&spec).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("[job] processes = 2: start it with `weir cluster run`"),
        "{}",
        text(&out.stderr)
    );
    // `weir cluster run` takes the spec's processes when `--processes` is not given.
    let mut cluster = std::process::Command::new(weir_tests::weir_bin());
    let out = cluster.args(["cluster", "run"]).arg(&spec).args(["--batches", "3"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("weir cluster: 2 processes at"), "{}", text(&out.stderr));
}
