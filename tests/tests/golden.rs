//! Golden per-batch tests, as data: every folder under `tests/golden/` holds a `job.toml` (scripted
//! source, manual clock, a `jsonl` sink writing `out.jsonl`), the `input.jsonl` it reads, the
//! `expected.jsonl` its sink must write, and optionally `expected_dead.jsonl` (dead letters, compared
//! without the order). Each case runs with 1 and with 2 workers; both must match exactly.

use std::path::Path;

use weir_tests::{read_jsonl, run_spec, with_operators};

fn copy_case(case: &Path, to: &Path) {
    for entry in std::fs::read_dir(case).unwrap() {
        let entry = entry.unwrap();
        let text = std::fs::read_to_string(entry.path()).unwrap();
        std::fs::write(to.join(entry.file_name()), with_operators(&text)).unwrap();
    }
}

fn sorted_dead(path: &Path) -> Vec<String> {
    if !path.exists() {
        return Vec::new();
    }
    let mut v: Vec<String> = read_jsonl(path).into_iter().map(|v| v.to_string()).collect();
    v.sort();
    v
}

fn run_case(name: &str) {
    let case = weir_tests::repo_root().join("tests/golden").join(name);
    // expected.jsonl ↔ out.jsonl, expected_max.jsonl ↔ out_max.jsonl, ...
    let mut outputs: Vec<(String, Vec<serde_json::Value>)> = Vec::new();
    for entry in std::fs::read_dir(&case).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(suffix) = file.strip_prefix("expected").and_then(|f| f.strip_suffix(".jsonl"))
            && suffix != "_dead"
        {
            outputs.push((format!("out{suffix}.jsonl"), read_jsonl(&case.join(&file))));
        }
    }
    assert!(!outputs.is_empty(), "case `{name}` has no expected*.jsonl");
    let spec = std::fs::read_to_string(case.join("job.toml")).unwrap();
    assert!(spec.contains("[dead_letter]\npath = \"dead.jsonl\""), "case `{name}`: its dead letters are not compared");
    let expected_dead = sorted_dead(&case.join("expected_dead.jsonl"));
    for workers in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        copy_case(&case, dir.path());
        let report = run_spec(&dir.path().join("job.toml"), workers).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        for (out, expected) in &outputs {
            let got = read_jsonl(&dir.path().join(out));
            for (i, (g, e)) in got.iter().zip(expected).enumerate() {
                assert_eq!(g, e, "case `{name}`, {out}, {workers} worker(s): line {} differs", i + 1);
            }
            assert_eq!(got.len(), expected.len(), "case `{name}`, {out}, {workers} worker(s): line count");
        }
        assert_eq!(report.failed_batches, 0, "case `{name}`: failed batches");
        assert_eq!(
            sorted_dead(&dir.path().join("dead.jsonl")),
            expected_dead,
            "case `{name}`, {workers} worker(s): dead letters"
        );
    }
}

macro_rules! golden {
    ($($case:ident),* $(,)?) => {
        $(#[test] fn $case() { run_case(&stringify!($case).replace('_', "-")); })*

        #[test]
        fn every_case_folder_is_listed() {
            let listed: Vec<String> = vec![$(stringify!($case).replace('_', "-")),*];
            for entry in std::fs::read_dir(weir_tests::repo_root().join("tests/golden")).unwrap() {
                let name = entry.unwrap().file_name().to_string_lossy().into_owned();
                assert!(listed.contains(&name), "tests/golden/{name} is not listed in tests/tests/golden.rs");
            }
        }
    };
}

golden!(
    wordcount_wasm,
    wordcount_native,
    reduce_min_max_count,
    count,
    count_by_value,
    parse_clicks,
    window_reduce,
    window_count,
    window_slide_over_length,
    window_of_window,
    passthrough,
    reduce,
    top,
    top_per_window,
    event_time_append,
    event_time_session,
    event_time_update,
    event_timeouts,
    drop_duplicates,
    window_records,
    join,
    group_by_key,
    repartition_union,
    update_state_by_key,
    map_with_state,
    window_inverse,
    plugin_reduce,
    plugin_state,
    join_table,
    map_filter,
);
