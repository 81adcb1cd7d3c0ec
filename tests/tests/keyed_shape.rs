//! One keyed-record shape in and out: the `jsonl` sink writes a keyed record as
//! `{"key": k, "value": v}`, the shape scripted sources and `initial_state` read, so one job's output is
//! another's input unchanged; a JSON array `[k, v]` is one unkeyed value, and a keyed operator that gets
//! one says how to key it.

use std::path::Path;
use std::process::Command;

use weir_tests::{read_jsonl, weir_bin};

/// Runs a manual-clock job reading the script `input` through `streams` into `out.jsonl`.
fn run(dir: &Path, input: &str, streams: &str) -> String {
    std::fs::write(dir.join("input.jsonl"), input).unwrap();
    let spec = format!(
        "[job]\nname = \"keyed\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n\
         [sources.in]\nkind = \"scripted\"\npath = \"input.jsonl\"\n\n{streams}\n\n\
         [sinks.out]\nkind = \"jsonl\"\nfrom = \"counts\"\npath = \"out.jsonl\"\n\n\
         [dead_letter]\npath = \"dead.jsonl\"\n"
    );
    std::fs::write(dir.join("job.toml"), spec).unwrap();
    let out = Command::new(weir_bin()).args(["run", "job.toml"]).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const SUM: &str = "[streams.counts]\nop = \"reduce_by_key\"\nfrom = \"in\"\nreducer = \"sum\"";

#[test]
fn a_jobs_keyed_output_is_another_jobs_input_unchanged() {
    let first = tempfile::tempdir().unwrap();
    let words = "[\"a b a\", \"c\"]\n[]\n[\"b b\"]\n";
    let tokenize = "[streams.words]\nop = \"tokenize\"\nfrom = \"in\"\n\n\
                    [streams.pairs]\nop = \"map_to_pair\"\nfrom = \"words\"\n\n\
                    [streams.counts]\nop = \"reduce_by_key\"\nfrom = \"pairs\"\nreducer = \"sum\"";
    run(first.path(), words, tokenize);
    let output = std::fs::read_to_string(first.path().join("out.jsonl")).unwrap();
    let batches = read_jsonl(&first.path().join("out.jsonl"));
    assert_eq!(batches[0]["records"][0], serde_json::json!({"key": "a", "value": 2}), "{output}");

    // The first job's output file is the second job's script: one batch per line, the records keyed.
    let second = tempfile::tempdir().unwrap();
    run(second.path(), &output, SUM);
    assert_eq!(read_jsonl(&second.path().join("out.jsonl")), batches, "summing again by key changes nothing");
    assert_eq!(
        read_jsonl(&second.path().join("dead.jsonl")),
        Vec::<serde_json::Value>::new(),
        "no record lost its key"
    );
}

#[test]
fn a_two_element_array_is_one_value_and_the_dead_letter_says_how_to_key_it() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = run(dir.path(), "[[\"a\", 1], {\"key\": \"a\", \"value\": 2}]\n", SUM);
    let out = read_jsonl(&dir.path().join("out.jsonl"));
    assert_eq!(out[0]["records"], serde_json::json!([{"key": "a", "value": 2}]));
    let dead = read_jsonl(&dir.path().join("dead.jsonl"));
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["record"], serde_json::json!(["a", 1]), "the record as it came");
    let reason = dead[0]["reason"].as_str().unwrap();
    assert!(reason.contains("map_to_pair") && reason.contains(r#"{"key": .., "value": ..}"#), "{reason}");
    assert!(stderr.contains("dead_lettered=1"), "the summary counts it: {stderr}");
}
