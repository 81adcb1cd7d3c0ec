//! Sources and sinks written as Wasm components (WIT `weir:operator@0.2.0`, worlds `source` and `sink`),
//! with 0.1.0 frozen beside it: a component built against 0.1.0 still runs; the example `event_gen`
//! source replays exactly after `kill -9`; the `http_sink` plugin posts each batch once by its batch
//! time and reaches only the hosts the job grants.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use weir::operator::wasm::connector::Connector;
use weir::operator::wasm::{Limits, PluginEngine};
use weir::sink::Sink;
use weir::sink::plugin::PluginSink;
use weir_sdk::packed::{Batch, ValueRef};
use weir_tests::crash::{env_or, rising_times, run_killed_recutting, setup, weir};
use weir_tests::webhook::receiver;
use weir_tests::{plugin, read_jsonl, repo_root, run_spec};

/// The purchases of `event_gen` (`limit` events of `users` users), summed per user each batch into
/// `per_batch.jsonl` and as running totals into `totals.jsonl`; `extra` adds tables.
fn purchases(job: &str, clock: &str, source: &str, extra: &str) -> String {
    format!(
        r#"
[job]
name = "{job}"
batch_interval = "100ms"
clock = "{clock}"

[sources.events]
kind = "plugin"
plugin = "{plugin}"
params = {{ limit = "30000", users = "50", seed = "9" }}
{source}

[streams.spent]
op = "reduce_by_key"
from = "events"
reducer = "sum"

[streams.totals]
op = "update_state_by_key"
from = "spent"
updater = "sum"

[sinks.per_batch]
kind = "jsonl"
from = "spent"
path = "per_batch.jsonl"

[sinks.totals_file]
kind = "jsonl"
from = "totals"
path = "totals.jsonl"
{extra}
"#,
        plugin = plugin("event_gen").display(),
        // Without checkpoints, the running totals live in a temporary folder, on purpose.
        extra = if extra.contains("[checkpoint]") {
            extra.to_string()
        } else {
            format!("{extra}\n[state]\nephemeral = true\n")
        },
    )
}

/// User → amount in a batch's `records`.
fn amounts(records: &serde_json::Value) -> BTreeMap<String, i64> {
    let rows = records.as_array().expect("records");
    rows.iter().map(|r| (r["key"].as_str().unwrap().to_string(), r["value"].as_i64().unwrap())).collect()
}

fn final_totals(dir: &Path) -> BTreeMap<String, i64> {
    amounts(&read_jsonl(&dir.join("totals.jsonl")).last().expect("a batch")["records"])
}

#[test]
fn the_0_1_0_contract_is_frozen_byte_for_byte() {
    let out = Command::new("sha256sum").arg(repo_root().join("wit/deps/operator-0.1.0/operator.wit")).output().unwrap();
    let hash = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string();
    assert_eq!(hash, "98db907ad0a53ecd939559c4796672646084313430c358286e82d4cb712f97eb", "0.1.0 was edited");
}

#[test]
fn a_component_built_against_0_1_0_still_loads_and_runs_and_each_world_is_told() {
    let engine = PluginEngine::new().unwrap();
    let old = repo_root().join("tests/fixtures/components/tokenize-0.1.0.wasm");
    let d = engine.describe(&old).unwrap();
    assert_eq!((d.world, d.kind), ("transform", "flat-map"));
    for (name, world) in [("event_gen", "source"), ("http_sink", "sink"), ("running_total", "state-updater")] {
        let d = engine.describe(&plugin(name)).unwrap();
        assert_eq!((d.world, d.kind), (world, if world == "state-updater" { "update-state" } else { world }));
    }
    // In a job: the old tokenizer's word count equals the built-in one's.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.jsonl"), "[\"a b a\"]\n[\"b c\"]\n").unwrap();
    let job = |op: &str| {
        format!(
            "[job]\nname = \"old\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n[sources.lines]\nkind = \"scripted\"\npath = \"in.jsonl\"\n\n\
             [streams.words]\n{op}\nfrom = \"lines\"\n\n[streams.pairs]\nop = \"map_to_pair\"\nfrom = \"words\"\n\n\
             [streams.counts]\nop = \"reduce_by_key\"\nfrom = \"pairs\"\nreducer = \"sum\"\n\n\
             [sinks.out]\nkind = \"jsonl\"\nfrom = \"counts\"\npath = \"counts.jsonl\"\n"
        )
    };
    let spec = dir.path().join("job.toml");
    std::fs::write(&spec, job(&format!("op = \"wasm\"\nplugin = \"{}\"", old.display()))).unwrap();
    run_spec(&spec, 1).unwrap();
    let old_out = read_jsonl(&dir.path().join("counts.jsonl"));
    std::fs::write(&spec, job("op = \"tokenize\"")).unwrap();
    run_spec(&spec, 1).unwrap();
    assert_eq!(old_out, read_jsonl(&dir.path().join("counts.jsonl")));
    assert_eq!(amounts(&old_out[0]["records"]), BTreeMap::from([("a".into(), 2), ("b".into(), 1)]));
}

#[test]
fn with_the_manual_clock_each_poll_is_a_batch_and_a_stopped_job_resumes_at_its_offset() {
    let source = "poll_records = 3000\n";
    let whole = setup(&purchases("gen-whole", "manual", source, ""));
    assert!(weir(whole.path(), &[]).stderr(Stdio::null()).status().unwrap().success());
    let batches = read_jsonl(&whole.path().join("per_batch.jsonl"));
    assert_eq!(batches.len(), 10, "30,000 events, 3,000 a poll");
    let total: i64 = final_totals(whole.path()).values().sum();
    let summed: i64 = batches.iter().flat_map(|b| amounts(&b["records"]).into_values()).sum();
    assert_eq!(summed, total);
    assert_eq!(final_totals(whole.path()).len(), 50, "every user");

    // Stopped after 3 batches, then resumed from its checkpoint: the same batches, none twice.
    let ck = "\n[checkpoint]\ndir = \"checkpoints\"\nevery = 1\n";
    let resumed = setup(&purchases("gen-resumed", "manual", source, ck));
    assert!(weir(resumed.path(), &["--batches", "3"]).stderr(Stdio::null()).status().unwrap().success());
    assert_eq!(read_jsonl(&resumed.path().join("per_batch.jsonl")).len(), 3);
    let out = weir(resumed.path(), &[]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(read_jsonl(&resumed.path().join("per_batch.jsonl")), batches);
    assert_eq!(final_totals(resumed.path()), final_totals(whole.path()));
}

#[test]
fn a_realtime_job_with_a_plugin_source_and_sink_killed_at_random_moments_writes_every_event_once() {
    let (kills, seed) = (env_or("WEIR_CRASH_KILLS", 20).div_ceil(2), env_or("WEIR_CRASH_SEED", 20_261_207));
    let reference = setup(&purchases("gen-ref", "manual", "poll_records = 30000", ""));
    assert!(weir(reference.path(), &[]).stderr(Stdio::null()).status().unwrap().success());
    let want = final_totals(reference.path());

    let dir = tempfile::tempdir().unwrap();
    let (_receiver, port) = receiver(dir.path(), &[]);
    let extra = format!(
        "\n[sinks.post]\nkind = \"plugin\"\nfrom = \"spent\"\nplugin = \"{}\"\n\
         params = {{ url = \"http://127.0.0.1:{port}/batches\", key_prefix = \"gen/\" }}\n\
         grants = {{ http = [\"127.0.0.1:{port}\"] }}\n\n[checkpoint]\ndir = \"checkpoints\"\nevery = 5\n",
        plugin("http_sink").display()
    );
    // 5,000 events a second: 6 s of input, longer than the runs the kills cut short.
    let text = purchases("gen-crash", "realtime", "poll_records = 500\nmax_rate = 5000", &extra);
    std::fs::write(dir.path().join("job.toml"), text).unwrap();
    run_killed_recutting(dir.path(), kills, seed);

    assert_eq!(final_totals(dir.path()), want, "running totals after {kills} kills (seed {seed})");
    let batches = read_jsonl(&dir.path().join("per_batch.jsonl"));
    let times = rising_times(&batches);
    let mut summed: BTreeMap<String, i64> = BTreeMap::new();
    for b in &batches {
        for (user, n) in amounts(&b["records"]) {
            *summed.entry(user).or_default() += n;
        }
    }
    assert_eq!(summed, want, "per-batch sums do not add up to the events (seed {seed})");

    // The plugin sink: a batch posted again after a crash went with the same key and the same records,
    // and by key the receiver holds every batch once, the same as the file.
    let mut by_key: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut again = 0;
    for post in read_jsonl(&dir.path().join("received.jsonl")) {
        let key = post["key"].as_str().unwrap().to_string();
        if let Some(before) = by_key.insert(key.clone(), post["body"].clone()) {
            assert_eq!(before, post["body"], "batch {key} posted twice with other records");
            again += 1;
        }
    }
    let keys: BTreeSet<String> = times.iter().map(|t| format!("gen/{t}")).collect();
    assert_eq!(by_key.keys().cloned().collect::<BTreeSet<_>>(), keys, "posted batches differ from the file's");
    let posted: BTreeMap<String, i64> = by_key.values().fold(BTreeMap::new(), |mut m, body| {
        for r in body["records"].as_array().unwrap() {
            *m.entry(r["key"].as_str().unwrap().to_string()).or_default() += r["value"].as_i64().unwrap();
        }
        m
    });
    assert_eq!(posted, want, "by key, the receiver holds every event once");
    println!("{kills} kills: {} batches, {} posted again after a crash (same key, same records)", times.len(), again);
}

/// The `http_sink` plugin, loaded, granted `hosts`.
fn http_sink(hosts: &[String]) -> Connector {
    let engine = PluginEngine::new().unwrap();
    let loaded = engine.load(&plugin("http_sink")).unwrap();
    let limits = Limits { deadline: Duration::from_secs(30), memory: 64 << 20 };
    Connector { plugin: Arc::new(loaded), limits, http: (hosts.to_vec(), Duration::from_secs(5)) }
}

fn batch(values: &[(&str, i64)]) -> Batch {
    let mut b = Batch::new();
    values.iter().for_each(|(k, v)| b.push(Some(k.as_bytes()), ValueRef::I64(*v), 0));
    b
}

#[test]
fn a_plugin_sink_is_idempotent_by_batch_time_across_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    let (_receiver, port) = receiver(dir.path(), &[]);
    let hosts = vec![format!("127.0.0.1:{port}")];
    let params = BTreeMap::from([("url".to_string(), format!("http://127.0.0.1:{port}/x"))]);
    let state = dir.path().join("sink");
    let b = batch(&[("u1", 5), ("u2", 7)]);
    let open = |resume| PluginSink::new("job", "out", http_sink(&hosts), params.clone(), resume, Some(&state)).unwrap();
    let mut sink = open(false);
    sink.write_batch(1000, &b, &[0, 1]).unwrap();
    sink.write_batch(2000, &b, &[1, 0]).unwrap();
    let posts = || read_jsonl(&dir.path().join("received.jsonl"));
    assert_eq!(posts().len(), 2);
    // Resumed: what it recorded as written is skipped.
    open(true).write_batch(2000, &b, &[1, 0]).unwrap();
    assert_eq!(posts().len(), 2, "a batch recorded as written went out again");
    // A crash between the POST and the record: the batch goes again, with the same key and body.
    std::fs::remove_file(state.join("written.json")).unwrap();
    open(true).write_batch(2000, &b, &[1, 0]).unwrap();
    let all = posts();
    assert_eq!(all.len(), 3);
    assert_eq!((&all[2]["key"], &all[2]["body"]), (&all[1]["key"], &all[1]["body"]));
    assert_eq!(all[1]["key"], "2000");
    assert_eq!(all[1]["body"]["records"][0], serde_json::json!({"key": "u2", "value": 7}), "in the order given");
}

/// A manual job of two scripted batches into the `http_sink` plugin with `sink` fields added.
fn posting_job(dir: &Path, sink: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("in.jsonl"), "[\"a\"]\n[\"b\"]\n").unwrap();
    let text = format!(
        "[job]\nname = \"post\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n[sources.lines]\nkind = \"scripted\"\npath = \"in.jsonl\"\n\n\
         [sinks.out]\nkind = \"plugin\"\nfrom = \"lines\"\nplugin = \"{}\"\n{sink}",
        plugin("http_sink").display()
    );
    std::fs::write(dir.join("job.toml"), text).unwrap();
    dir.join("job.toml")
}

#[test]
fn each_batch_is_posted_once_and_a_host_the_job_does_not_grant_is_denied_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_receiver, port) = receiver(dir.path(), &[]);
    let granted = format!("grants = {{ http = [\"127.0.0.1:{port}\"] }}\n");
    let spec = posting_job(dir.path(), &format!("params = {{ url = \"http://127.0.0.1:{port}/\" }}\n{granted}"));
    run_spec(&spec, 1).unwrap();
    let keys: Vec<_> = read_jsonl(&dir.path().join("received.jsonl")).iter().map(|p| p["key"].clone()).collect();
    assert_eq!(keys, [serde_json::json!("1000"), serde_json::json!("2000")]);

    std::fs::remove_file(dir.path().join("received.jsonl")).unwrap();
    let spec = posting_job(dir.path(), &format!("params = {{ url = \"http://127.0.0.2:{port}/\" }}\n{granted}"));
    let err = format!("{:#}", run_spec(&spec, 1).unwrap_err());
    for part in ["sink `out`", "127.0.0.2", "denied", "grants.http"] {
        assert!(err.contains(part), "`{part}` missing from: {err}");
    }
    assert!(!dir.path().join("received.jsonl").exists(), "a request went out");

    // A plugin that imports HTTP, granted nothing, is refused before any batch.
    let spec = posting_job(dir.path(), &format!("params = {{ url = \"http://127.0.0.1:{port}/\" }}\n"));
    let err = format!("{:#}", run_spec(&spec, 1).unwrap_err());
    assert!(err.contains("sink `out`") && err.contains("`grants.http`") && err.contains("grants it no host"), "{err}");
}

#[test]
fn bad_grants_and_a_plugin_of_the_wrong_world_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    for (grants, says) in [
        ("grants = { http = [\"https://x.example\"] }", "write a host"),
        ("grants = { http = [\"*.example\"] }", "no wildcards"),
        ("grants = { http = [\"x.example\"], http_timeout = \"40s\" }", "shorter than"),
    ] {
        let spec = posting_job(dir.path(), &format!("params = {{ url = \"http://x.example/\" }}\n{grants}\n"));
        let err = weir::graph::load(&spec).unwrap_err().to_string();
        assert!(err.contains("sinks.out.grants") && err.contains("job.toml:15:") && err.contains(says), "{err}");
    }
    let text = std::fs::read_to_string(posting_job(dir.path(), "")).unwrap();
    let spec = dir.path().join("job.toml");
    std::fs::write(
        &spec,
        text.replace(&plugin("http_sink").display().to_string(), &plugin("tokenize").display().to_string()),
    )
    .unwrap();
    let err = format!("{:#}", run_spec(&spec, 1).unwrap_err());
    assert!(err.contains("is a `transform`; a sink plugin must be a `sink`"), "{err}");
}

#[test]
fn op_test_polls_a_source_once_and_hands_a_sink_one_batch() {
    let op_test = |component: &str, args: &[&str]| {
        let out = Command::new(weir_tests::weir_bin())
            .args(["op", "test"])
            .arg(plugin(component))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = op_test("event_gen", &["-p", "limit=3", "-p", "users=2"]);
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("# event-gen 0.1.0 (source)"), "{stdout}");
    assert_eq!(lines.len(), 5, "a header, 3 records and the offset: {stdout}");
    assert_eq!(lines[4], r#"{"finished":true,"offset":"3"}"#);
    // The sink is granted no host here: its request is denied, and said so.
    let (ok, _, stderr) = op_test("http_sink", &["-p", "url=http://127.0.0.1:9/", "--text", "a"]);
    assert!(!ok && stderr.contains("denied") && stderr.contains("127.0.0.1:9"), "{stderr}");
}
