//! Plugin sandbox: a runaway loop is stopped by its deadline, an allocation past the cap is refused, a
//! trap fails only its batch, and the plugin can reach no file, environment variable or socket. All run
//! the real `operators/sandbox` component.

use std::time::{Duration, Instant};

use weir::operator::wasm::instance::Processed;
use weir::operator::wasm::{BatchFailure, Limits, PluginEngine, PluginInstance};
use weir_sdk::packed::{Batch, ValueRef};

fn batch(texts: &[&str]) -> Batch {
    let mut b = Batch::new();
    for t in texts {
        b.push(None, ValueRef::Text(t), 1000);
    }
    b
}

fn texts(p: &Processed) -> Vec<String> {
    p.records
        .iter()
        .map(|r| match r.value {
            ValueRef::Text(s) => s.to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

fn instance(limits: Limits) -> PluginInstance {
    let engine = PluginEngine::new().unwrap();
    let plugin = engine.load(&weir_tests::plugin("sandbox")).unwrap();
    let mut inst = PluginInstance::new(&plugin, limits, "sandbox-test", "guarded").unwrap();
    inst.init(&Default::default()).unwrap();
    inst
}

const LIMITS: Limits = Limits { deadline: Duration::from_millis(300), memory: 32 << 20 };

#[test]
fn runaway_loop_is_stopped_by_the_deadline() {
    let mut inst = instance(LIMITS);
    let start = Instant::now();
    let (result, input) = inst.process(2000, batch(&["spin"]));
    let took = start.elapsed();
    assert!(matches!(result, Err(BatchFailure::Deadline(d)) if d == LIMITS.deadline), "{:?}", result.err());
    assert!(took < Duration::from_secs(3), "stopped after {took:?}");
    assert_eq!(input.len(), 1, "the input comes back for the dead letters");
}

#[test]
fn allocation_past_the_memory_cap_is_refused() {
    let mut inst = instance(Limits { deadline: Duration::from_secs(10), memory: 16 << 20 });
    let (result, _) = inst.process(3000, batch(&["hog"]));
    assert_eq!(result.err(), Some(BatchFailure::MemoryCap(16 << 20)));
}

#[test]
fn a_trap_fails_the_batch_with_the_panic_message() {
    let mut inst = instance(LIMITS);
    let (result, _) = inst.process(4000, batch(&["boom"]));
    match result {
        Err(BatchFailure::Trap(msg)) => assert!(msg.contains("boom requested"), "{msg}"),
        other => panic!("expected a trap, got {:?}", other.map(|p| texts(&p))),
    }
}

#[test]
fn files_environment_and_network_are_out_of_reach() {
    std::fs::write("/tmp/weir-sandbox-secret", "secret").unwrap();
    let mut inst = instance(LIMITS);
    let (result, _) = inst.process(
        1000,
        batch(&[
            "open:/tmp/weir-sandbox-secret",
            "open:/etc/passwd",
            "open:.",
            "env:HOME",
            "env:PATH",
            "connect:127.0.0.1:5432",
            "plain",
        ]),
    );
    let out = texts(&result.unwrap());
    assert_eq!(out.len(), 7);
    for line in &out[..6] {
        assert!(line.starts_with("denied: "), "{line}");
    }
    assert_eq!(out[6], "plain");
}

#[test]
fn the_clocks_a_plugin_sees_are_frozen_at_zero() {
    let mut inst = instance(LIMITS);
    let (result, _) = inst.process(1000, batch(&["clock"]));
    let out = texts(&result.unwrap());
    assert!(out[0].starts_with("wall 0 elapsed 0 "), "the plugin saw time pass: {out:?}");
}

#[test]
fn the_deadline_applies_to_init_and_describe() {
    let engine = PluginEngine::new().unwrap();
    let limits = Limits { deadline: Duration::from_millis(200), memory: 32 << 20 };
    let plugin = engine.load(&weir_tests::plugin("sandbox")).unwrap();
    let mut inst = PluginInstance::new(&plugin, limits, "deadline-test", "guarded").unwrap();
    let start = Instant::now();
    let err = inst.init(&[("stall".to_string(), "init".to_string())].into()).unwrap_err().to_string();
    assert!(start.elapsed() < Duration::from_secs(5), "init ran for {:?}", start.elapsed());
    assert!(err.contains("guarded") && err.contains("deadline"), "{err}");

    let plugin = engine.load(&weir_tests::plugin("stuck")).unwrap();
    let start = Instant::now();
    let err = PluginInstance::new(&plugin, limits, "deadline-test", "stuck")
        .and_then(|mut i| i.describe().map(|_| ()))
        .unwrap_err()
        .to_string();
    assert!(start.elapsed() < Duration::from_secs(5), "describe ran for {:?}", start.elapsed());
    assert!(err.contains("stuck") && err.contains("deadline"), "{err}");
}

#[test]
fn plugin_output_is_captured_not_printed() {
    let mut inst = instance(LIMITS);
    let (result, _) = inst.process(1000, batch(&["print:hello"]));
    assert_eq!(texts(&result.unwrap()), vec!["printed hello"]);
}

#[test]
fn a_failed_batch_does_not_stop_the_job_and_its_records_reach_the_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("input.jsonl"), "[\"a\"]\n[\"boom\"]\n[\"b\"]\n").unwrap();
    let spec = format!(
        r#"
[job]
name = "trap-job"
batch_interval = "1s"
clock = "manual"

[limits]
deadline = "2s"

[sources.in]
kind = "scripted"
path = "input.jsonl"

[streams.guarded]
op = "wasm"
from = "in"
plugin = "{}"

[sinks.out]
kind = "jsonl"
from = "guarded"
path = "out.jsonl"

[dead_letter]
path = "dead.jsonl"
"#,
        weir_tests::plugin("sandbox").display()
    );
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let report = weir_tests::run_spec(&dir.path().join("job.toml"), 1).unwrap();
    assert_eq!((report.batches, report.failed_batches, report.dead_letters), (3, 1, 1));
    let out = weir_tests::read_jsonl(&dir.path().join("out.jsonl"));
    let records: Vec<String> = out.iter().map(|l| l["records"].to_string()).collect();
    assert_eq!(records, vec![r#"["a"]"#, "[]", r#"["b"]"#]);
    let dead = weir_tests::read_jsonl(&dir.path().join("dead.jsonl"));
    assert_eq!(dead[0]["record"], "boom");
    let reason = dead[0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("operator `guarded` failed batch 2000 ms: plugin trapped"), "{reason}");
}

/// A manual-clock job `job` reading `input.jsonl`, whose stream `stream` runs operator `plugin` (with
/// `stream_extra` in its table), writing `out.jsonl` and dead letters to `dead.jsonl`; `tail` ends the spec.
fn plugin_job(job: &str, stream: &str, plugin: &str, stream_extra: &str, tail: &str) -> String {
    format!(
        "[job]\nname = \"{job}\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n[sources.in]\nkind = \"scripted\"\n\
         path = \"input.jsonl\"\n\n[streams.{stream}]\nop = \"wasm\"\nfrom = \"in\"\nplugin = \"{}\"\n{stream_extra}\n\
         [sinks.out]\nkind = \"jsonl\"\nfrom = \"{stream}\"\npath = \"out.jsonl\"\n\n[dead_letter]\npath = \"dead.jsonl\"\n{tail}\n",
        weir_tests::plugin(plugin).display()
    )
}

/// Runs the `sandbox` plugin over `script` (one batch per line), with `limits`; returns the report, the
/// output batches (records sorted) and the dead letters.
fn sandboxed(script: &str, limits: &str) -> (weir::job::RunReport, Vec<Vec<String>>, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("input.jsonl"), script).unwrap();
    let spec = plugin_job("slices", "guarded", "sandbox", "", limits);
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let report = weir_tests::run_spec(&dir.path().join("job.toml"), 1).unwrap();
    let out = weir_tests::read_jsonl(&dir.path().join("out.jsonl"));
    let batches = out
        .iter()
        .map(|b| b["records"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect())
        .collect();
    (report, batches, weir_tests::read_jsonl(&dir.path().join("dead.jsonl")))
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn a_big_batch_goes_to_a_one_record_plugin_in_slices_and_only_the_record_that_fails_it_is_dead_lettered() {
    use weir::operator::wasm::SLICE;
    let n = 2 * SLICE + SLICE / 2;
    let words: Vec<String> = (0..n).map(|i| format!("w{i}")).collect();
    let mut trapping = words.clone();
    trapping[SLICE + 10] = "boom".into();
    let script = format!(
        "{}\n{}\n[\"after\"]\n",
        serde_json::to_string(&words).unwrap(),
        serde_json::to_string(&trapping).unwrap()
    );
    let (report, batches, dead) = sandboxed(&script, "");
    assert_eq!((report.batches, report.failed_batches, report.dead_letters), (3, 1, 1));
    assert!(batches[0] == sorted(words.clone()), "not every record of a batch of {n} came through three slices");
    let good: Vec<String> = trapping.iter().filter(|w| *w != "boom").cloned().collect();
    assert!(batches[1] == sorted(good), "the good records of the failed slice and the later slices went through");
    assert_eq!(batches[2], vec!["after"], "the plugin was made anew for the next batch");
    assert_eq!(dead.len(), 1, "only the culprit: {dead:?}");
    assert_eq!(dead[0]["record"], "boom");
    let reason = dead[0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("operator `guarded` failed batch 2000 ms: plugin trapped"), "{reason}");
    assert!(reason.ends_with("(this record alone makes the plugin fail)"), "{reason}");
}

#[test]
fn records_that_run_past_the_deadline_or_trap_are_found_among_good_ones() {
    let mut words: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
    words[37] = "spin".into();
    words[70] = "boom".into();
    let script = format!("{}\n", serde_json::to_string(&words).unwrap());
    let (report, batches, dead) = sandboxed(&script, "[limits]\ndeadline = \"200ms\"");
    assert_eq!((report.failed_batches, report.dead_letters), (1, 2));
    let good: Vec<String> = words.iter().filter(|w| *w != "spin" && *w != "boom").cloned().collect();
    assert_eq!(batches[0], sorted(good));
    let culprits: Vec<(&str, &str)> =
        dead.iter().map(|d| (d["record"].as_str().unwrap(), d["reason"].as_str().unwrap())).collect();
    assert_eq!(culprits[0].0, "spin");
    assert!(culprits[0].1.contains("deadline") && culprits[0].1.contains("this record alone"), "{culprits:?}");
    assert_eq!(culprits[1].0, "boom");
}

#[test]
fn a_parameter_with_a_bad_value_refuses_the_job_at_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("input.jsonl"), "[\"a\"]\n").unwrap();
    let spec =
        |margin: &str| plugin_job("params", "guarded", "sandbox", &format!("params = {{ margin = \"{margin}\" }}"), "");
    let run = |margin: &str| {
        std::fs::write(dir.path().join("job.toml"), spec(margin)).unwrap();
        std::process::Command::new(weir_tests::weir_bin())
            .args(["run", "job.toml"])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run("abc");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("operator `guarded`") && stderr.contains("parameter `margin`: `abc` is not a valid f64"),
        "{stderr}"
    );
    assert!(!dir.path().join("out.jsonl").exists(), "no batch ran");
    let out = run("0.25");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A parameter the plugin does not declare is refused before it is even asked.
    std::fs::write(dir.path().join("job.toml"), spec("1").replace("margin = ", "margn = ")).unwrap();
    let out = std::process::Command::new(weir_tests::weir_bin())
        .args(["run", "job.toml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`params.margn`: plugin `sandbox` has no such parameter (it accepts: margin, stall)"),
        "{stderr}"
    );
}

#[test]
fn a_plugin_that_returns_malformed_output_is_refused_and_only_the_record_that_provoked_it_is_blamed() {
    let dir = tempfile::tempdir().unwrap();
    let cases = ["backwards", "past-end", "ragged", "bad-index", "fatal"];
    let batch: Vec<String> =
        ["a", "b"].iter().map(|s| s.to_string()).chain(cases.iter().map(|s| s.to_string())).collect();
    std::fs::write(
        dir.path().join("input.jsonl"),
        format!("{}\n[\"after\"]\n", serde_json::to_string(&batch).unwrap()),
    )
    .unwrap();
    let spec = plugin_job("hostile", "raw", "hostile", "", "");
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let report = weir_tests::run_spec(&dir.path().join("job.toml"), 1).unwrap();
    assert_eq!((report.batches, report.failed_batches), (2, 1));
    let out = weir_tests::read_jsonl(&dir.path().join("out.jsonl"));
    assert_eq!(out[0]["records"], serde_json::json!(["a", "b"]), "the good records went through");
    assert_eq!(out[1]["records"], serde_json::json!(["after"]), "the job went on");
    let dead = weir_tests::read_jsonl(&dir.path().join("dead.jsonl"));
    let blamed: Vec<(&str, &str)> =
        dead.iter().map(|d| (d["record"].as_str().unwrap(), d["reason"].as_str().unwrap())).collect();
    assert_eq!(blamed.iter().map(|b| b.0).collect::<Vec<_>>(), cases, "{blamed:?}");
    for (record, reason) in &blamed {
        assert!(reason.starts_with("operator `raw` failed batch 1000 ms: "), "{record}: {reason}");
        let says = match *record {
            "fatal" => "plugin reported a fatal error: asked to give up",
            _ => "plugin returned malformed output",
        };
        assert!(reason.contains(says) && reason.contains("this record alone"), "{record}: {reason}");
    }
}

#[test]
fn a_plugin_that_imports_what_the_host_does_not_offer_is_refused_at_start_naming_stream_and_import() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("input.jsonl"), "[\"a\"]\n").unwrap();
    let spec = plugin_job("greedy", "raw", "greedy", "", "");
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let out = std::process::Command::new(weir_tests::weir_bin())
        .args(["run", "job.toml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for needle in ["stream `raw`", "imports something Weir does not offer", "weir:greedy/secrets"] {
        assert!(stderr.contains(needle), "lacks {needle:?}: {stderr}");
    }
    assert!(!dir.path().join("out.jsonl").exists(), "it never ran");
}
