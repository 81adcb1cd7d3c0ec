//! Golden per-batch tests, as data: every folder under `tests/golden/` holds a `job.toml` (scripted
//! source, manual clock, a `jsonl` sink writing `out.jsonl`), the `input.jsonl` it reads, the
//! `expected.jsonl` its sink must write, and optionally `expected_dead.jsonl` (dead letters, compared
//! without the order). Each case runs with 1 and with 2 workers, then across 2 and 3 processes (`weir
//! cluster run`, one worker each): every run must match exactly.

use std::path::Path;

use weir_tests::{read_jsonl, run_spec, with_operators};

fn copy_case(case: &Path, to: &Path) {
    for entry in std::fs::read_dir(case).unwrap() {
        let entry = entry.unwrap();
        let text = std::fs::read_to_string(entry.path()).unwrap();
        std::fs::write(to.join(entry.file_name()), with_operators(&text)).unwrap();
    }
}

/// The dead letters of a run in `dir`, sorted: `dead.jsonl` and, from a cluster's other processes,
/// `dead.process-I.jsonl`.
fn sorted_dead(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "dead.jsonl" || (name.starts_with("dead.process-") && name.ends_with(".jsonl")) {
            v.extend(read_jsonl(&path).into_iter().map(|v| v.to_string()));
        }
    }
    v.sort();
    v
}

/// Runs the case in `dir` across `processes` processes of one worker each.
fn run_cluster(dir: &Path, processes: usize) -> Result<(), String> {
    let out = std::process::Command::new(weir_tests::weir_bin())
        .current_dir(dir)
        .args(["cluster", "run", "job.toml", "--workers", "1", "--processes", &processes.to_string()])
        .output()
        .unwrap();
    match out.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
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
    let expected_dead = match case.join("expected_dead.jsonl").exists() {
        true => {
            let mut v: Vec<String> =
                read_jsonl(&case.join("expected_dead.jsonl")).iter().map(|v| v.to_string()).collect();
            v.sort();
            v
        }
        false => Vec::new(),
    };
    let runs = [(1, 0), (2, 0), (1, 2), (1, 3)];
    for (workers, processes) in runs {
        let how = match processes {
            0 => format!("{workers} worker(s)"),
            p => format!("{p} processes"),
        };
        let dir = tempfile::tempdir().unwrap();
        copy_case(&case, dir.path());
        if processes == 0 {
            let report = run_spec(&dir.path().join("job.toml"), workers).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert_eq!(report.failed_batches, 0, "case `{name}`: failed batches");
        } else {
            run_cluster(dir.path(), processes).unwrap_or_else(|e| panic!("{name}, {how}: {e}"));
        }
        for (out, expected) in &outputs {
            let got = read_jsonl(&dir.path().join(out));
            for (i, (g, e)) in got.iter().zip(expected).enumerate() {
                assert_eq!(g, e, "case `{name}`, {out}, {how}: line {} differs", i + 1);
            }
            assert_eq!(got.len(), expected.len(), "case `{name}`, {out}, {how}: line count");
        }
        assert_eq!(sorted_dead(dir.path()), expected_dead, "case `{name}`, {how}: dead letters");
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
