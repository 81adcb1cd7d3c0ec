//! Event-time windows across crashes and in specs: the `event-time-update` golden case (sliding windows,
//! update mode, a late firing, a late record) killed with SIGKILL mid-run and resumed writes exactly its
//! golden output, the watermark and open windows coming back from the checkpoint; and bad windows are
//! refused naming the field.

use std::process::Stdio;

use weir_tests::crash::{env_or, run_with_kills, weir};
use weir_tests::{read_jsonl, repo_root};

#[test]
fn a_killed_event_time_job_resumes_with_its_watermark_and_writes_its_golden_output() {
    let (kills, seed) = (env_or("WEIR_CRASH_KILLS", 20).div_ceil(5), env_or("WEIR_CRASH_SEED", 20_261_207));
    let case = repo_root().join("tests/golden/event-time-update");
    let dir = tempfile::tempdir().unwrap();
    for file in ["input.jsonl", "job.toml"] {
        std::fs::copy(case.join(file), dir.path().join(file)).unwrap();
    }
    // Slowed down, so kills land between batches, and checkpointed after every batch.
    let spec = std::fs::read_to_string(dir.path().join("job.toml")).unwrap();
    let spec = spec.replace("path = \"input.jsonl\"\n", "path = \"input.jsonl\"\npace = \"400ms\"\n")
        + "\n[checkpoint]\ndir = \"checkpoints\"\nevery = 1\n";
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    // First a stop after batch 3, where the watermark (16 s) has closed two windows: batch 4's record at
    // 3 s is late only if the resumed job has that watermark back.
    assert!(weir(dir.path(), &["--batches", "3"]).stderr(Stdio::null()).status().unwrap().success());
    assert_eq!(read_jsonl(&dir.path().join("out.jsonl")).len(), 3);
    let landed = run_with_kills(dir.path(), 0, seed, 900..1700);
    assert_eq!(landed, 0);
    let same = |what: &str| {
        for (out, expected) in [("out.jsonl", "expected.jsonl"), ("out_late.jsonl", "expected_late.jsonl")] {
            assert_eq!(read_jsonl(&dir.path().join(out)), read_jsonl(&case.join(expected)), "{out} {what}");
        }
    };
    same("after a stop at batch 3");
    // Then from the start again under SIGKILLs at random moments.
    for f in ["out.jsonl", "out_late.jsonl"] {
        std::fs::remove_file(dir.path().join(f)).unwrap();
    }
    std::fs::remove_dir_all(dir.path().join("checkpoints")).unwrap();
    let landed = run_with_kills(dir.path(), kills, seed, 900..1700);
    same(&format!("after {landed} kills (seed {seed})"));
}

#[test]
fn windows_that_cannot_be_are_refused_naming_the_field() {
    let cases = [
        ("length = \"10s\"\ngap = \"5s\"", "streams.w.gap", "not both"),
        ("reducer_x = 1", "", "unknown field"),
        ("length = \"10s\"\nslide = \"20s\"", "streams.w.slide", "longer than the window"),
        ("gap = \"5s\"\nslide = \"1s\"", "streams.w.slide", "no slide"),
        ("length = \"10s\"\noffset = \"10s\"", "streams.w.offset", "not shorter than the slide"),
    ];
    for (fields, field, says) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("in.jsonl"), "[]\n").unwrap();
        let spec = format!(
            "[job]\nname = \"w\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n\
             [sources.in]\nkind = \"scripted\"\npath = \"in.jsonl\"\n\n\
             [streams.w]\nop = \"event_window\"\nfrom = \"in\"\nreducer = \"sum\"\n{fields}\n\n\
             [sinks.out]\nkind = \"print\"\nfrom = \"w\"\n"
        );
        std::fs::write(dir.path().join("job.toml"), &spec).unwrap();
        let out = weir(dir.path(), &[]).stderr(Stdio::piped()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{fields}: {err}");
        assert!(err.contains(field) && err.contains(says), "{fields}: {err}");
    }
    // A late_records stream must read an event_window stream.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.jsonl"), "[]\n").unwrap();
    let spec = "[job]\nname = \"w\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n\
                [sources.in]\nkind = \"scripted\"\npath = \"in.jsonl\"\n\n\
                [streams.late]\nop = \"late_records\"\nfrom = \"in\"\n\n[sinks.out]\nkind = \"print\"\nfrom = \"late\"\n";
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let out = weir(dir.path(), &[]).stderr(Stdio::piped()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("streams.late.from") && err.contains("not an event_window or drop_duplicates stream"),
        "{err}"
    );
}
