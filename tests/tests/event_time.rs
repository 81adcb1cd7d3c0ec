//! Event time across crashes and in specs: the `event-time-update` golden case (sliding windows, update
//! mode, a late firing, a late record) and the `event-timeouts` one (`map_with_state` timing keys out
//! by the watermark), stopped or killed with SIGKILL mid-run and resumed, write exactly their golden
//! output, the watermark, open windows and keyed state coming back from the checkpoint; and bad windows,
//! timeouts and tops are refused naming the field.

use std::process::Stdio;

use weir_tests::crash::{env_or, run_with_kills, weir};
use weir_tests::{read_jsonl, repo_root};

/// Golden case `name` stopped after batch `stop` and resumed, then run from the start under SIGKILLs at
/// random moments: both times it writes exactly its golden `outputs` (file, expected file).
fn resumes_to_its_golden_output(name: &str, stop: u64, outputs: &[(&str, &str)]) {
    let (kills, seed) = (env_or("WEIR_CRASH_KILLS", 20).div_ceil(5), env_or("WEIR_CRASH_SEED", 20_261_207));
    let case = repo_root().join("tests/golden").join(name);
    let dir = tempfile::tempdir().unwrap();
    for file in ["input.jsonl", "job.toml"] {
        std::fs::copy(case.join(file), dir.path().join(file)).unwrap();
    }
    // Slowed down, so kills land between batches, and checkpointed after every batch.
    let spec = std::fs::read_to_string(dir.path().join("job.toml")).unwrap();
    let spec = spec.replace("path = \"input.jsonl\"\n", "path = \"input.jsonl\"\npace = \"400ms\"\n")
        + "\n[checkpoint]\ndir = \"checkpoints\"\nevery = 1\n";
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let batches = stop.to_string();
    assert!(weir(dir.path(), &["--batches", &batches]).stderr(Stdio::null()).status().unwrap().success());
    assert_eq!(read_jsonl(&dir.path().join(outputs[0].0)).len() as u64, stop);
    let landed = run_with_kills(dir.path(), 0, seed, 900..1700);
    assert_eq!(landed, 0);
    let same = |what: &str| {
        for (out, expected) in outputs {
            assert_eq!(read_jsonl(&dir.path().join(out)), read_jsonl(&case.join(expected)), "{name}: {out} {what}");
        }
    };
    same(&format!("after a stop at batch {stop}"));
    for (out, _) in outputs {
        std::fs::remove_file(dir.path().join(out)).unwrap();
    }
    std::fs::remove_dir_all(dir.path().join("checkpoints")).unwrap();
    let landed = run_with_kills(dir.path(), kills, seed, 900..1700);
    same(&format!("after {landed} kills (seed {seed})"));
}

#[test]
fn a_killed_event_time_job_resumes_with_its_watermark_and_writes_its_golden_output() {
    // Stopped after batch 3, where the watermark (16 s) has closed two windows: batch 4's record at 3 s
    // is late only if the resumed job has that watermark back.
    let outputs = [("out.jsonl", "expected.jsonl"), ("out_late.jsonl", "expected_late.jsonl")];
    resumes_to_its_golden_output("event-time-update", 3, &outputs);
}

#[test]
fn killed_event_time_timeouts_resume_with_their_watermark_and_fire_as_in_the_golden_output() {
    // Stopped after batch 3, where the watermark is 5 s: batch 4's `z` (deadline 4.5 s) times out in the
    // empty batch 5 only if the resumed job has that watermark back (batch 4 alone would make it 3 s).
    resumes_to_its_golden_output("event-timeouts", 3, &[("out.jsonl", "expected.jsonl")]);
}

/// Runs a job whose one stream `s` reads scripted source `in` with `body` (its `op` and fields): the
/// spec must be refused (exit 2) with a message naming `field` and saying `says`.
fn refused(body: &str, field: &str, says: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.jsonl"), "[]\n").unwrap();
    let spec = format!(
        "[job]\nname = \"s\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n\
         [sources.in]\nkind = \"scripted\"\npath = \"in.jsonl\"\n\n\
         [streams.s]\nfrom = \"in\"\n{body}\n\n[sinks.out]\nkind = \"print\"\nfrom = \"s\"\n"
    );
    std::fs::write(dir.path().join("job.toml"), &spec).unwrap();
    let out = weir(dir.path(), &[]).stderr(Stdio::piped()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{body}: {err}");
    assert!(err.contains(field) && err.contains(says), "{body}: {err}");
}

#[test]
fn windows_that_cannot_be_are_refused_naming_the_field() {
    let window = "op = \"event_window\"\nreducer = \"sum\"";
    for (fields, field, says) in [
        ("length = \"10s\"\ngap = \"5s\"", "streams.s.gap", "not both"),
        ("reducer_x = 1", "", "unknown field"),
        ("length = \"10s\"\nslide = \"20s\"", "streams.s.slide", "longer than the window"),
        ("gap = \"5s\"\nslide = \"1s\"", "streams.s.slide", "no slide"),
        ("length = \"10s\"\noffset = \"10s\"", "streams.s.offset", "not shorter than the slide"),
    ] {
        refused(&format!("{window}\n{fields}"), field, says);
    }
    // A late_records stream must read an event_window stream.
    refused("op = \"late_records\"", "streams.s.from", "not an event_window or drop_duplicates stream");
}

#[test]
fn event_time_timeouts_that_cannot_be_are_refused_naming_the_field() {
    let plugin = weir_tests::plugin("running_total").display().to_string();
    let state = "op = \"map_with_state\"";
    refused(
        &format!("{state}\nfunction = \"sum\"\ntimeout_on = \"event_time\""),
        "streams.s.timeout",
        "needs a `timeout`",
    );
    let body = format!("{state}\nplugin = \"{plugin}\"\ntimeout = \"3s\"\ntimeout_on = \"event_time\"");
    refused(&body, "streams.s.timeout_on", "need a built-in `function`");
    refused(&format!("{state}\nfunction = \"sum\"\ntimeout = \"3s\"\ntimeout_on = \"wall_clock\""), "", "batch_time");
}

#[test]
fn a_top_that_cannot_be_is_refused_naming_the_field() {
    refused("op = \"top\"\nn = 0", "streams.s.n", "");
    refused("op = \"top\"\nn = 3\nper = \"hour\"", "", "event_time");
}

#[test]
fn a_brokers_timestamp_is_refused_on_a_source_that_has_none() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "[job]\nname = \"s\"\nbatch_interval = \"1s\"\n\n\
                [sources.in]\nkind = \"socket\"\nport = 9999\nevent_time = \"@timestamp\"\n\n\
                [sinks.out]\nkind = \"print\"\nfrom = \"in\"\n";
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let out = weir(dir.path(), &[]).stderr(Stdio::piped()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("sources.in.event_time") && err.contains("only a `kafka` source"), "{err}");
}
