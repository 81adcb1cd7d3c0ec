//! Checkpoint files and what a resumed job accepts: damaged files of every type are detected and the
//! previous checkpoint is used (or the job refuses, naming the file); a plugin upgrade keeps the state;
//! a job whose state no longer fits is refused naming the stream; keyed state follows a change in the
//! number of workers; the directory source resumes without reading a file twice.

use std::path::Path;
use std::process::{Command, Output};

use weir_tests::crash::newest_checkpoint;
use weir_tests::spec::{running_counts, word_pairs};
use weir_tests::{copy_dir, plugin, read_jsonl, weir_bin};

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(weir_bin()).current_dir(dir).arg("run").arg("job.toml").args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

/// Eight batches of words; `extra` goes into the spec (streams, sinks), `tokenizer` is the plugin.
fn job(tokenizer: &str, extra: &str) -> String {
    format!(
        r#"
[job]
name = "ck"
batch_interval = "1s"
clock = "manual"
workers = 2

[sources.lines]
kind = "scripted"
path = "script.jsonl"
{pairs}{counts}
[sinks.counts_file]
kind = "jsonl"
from = "counts"
path = "counts.jsonl"

[checkpoint]
dir = "checkpoints"
keep = 3
{extra}
"#,
        pairs = word_pairs("lines", Some(&plugin(tokenizer))),
        counts = running_counts("counts", ""),
    )
}

const WINDOW: &str = r#"
[streams.recent]
op = "reduce_by_key"
from = "pairs"
reducer = "sum"
window = { length = "3s" }

[sinks.recent_file]
kind = "jsonl"
from = "recent"
path = "recent.jsonl"
"#;

const SCRIPT: &str = r#"["the cat", "The dog"]
["a cat and a dog"]
["The end"]
["dog days"]
["the cat sat"]
["A Cat"]
["end of the day"]
["the dog"]
"#;

fn setup(spec: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    std::fs::write(dir.path().join("script.jsonl"), SCRIPT).unwrap();
    dir
}

fn manifest(ck: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(ck.join("manifest.json")).unwrap();
    serde_json::from_str(&text[..text.rfind("\n#crc32=").unwrap()]).unwrap()
}

fn damage(file: &Path, how: &str) {
    let mut bytes = std::fs::read(file).unwrap();
    match how {
        "truncated" => bytes.truncate(bytes.len() / 2),
        _ => {
            let i = bytes.len() / 2;
            bytes[i] ^= 0x10;
        }
    }
    std::fs::write(file, bytes).unwrap();
}

#[test]
fn damaged_checkpoint_files_of_every_type_fall_back_to_the_previous_checkpoint() {
    let spec = job("tokenize", WINDOW);
    let reference = setup(&spec);
    ok(run(reference.path(), &[]));
    let stopped = setup(&spec);
    ok(run(stopped.path(), &["--batches", "5"]));
    let newest = newest_checkpoint(stopped.path()).1;
    let m = manifest(&newest);
    assert_eq!(m["time"], 5000);
    assert_eq!(m["state"]["recent"].as_str().unwrap().split(' ').next(), Some("window"));
    let mut files = vec!["manifest.json".to_string()];
    // One part of each kind: keyed state (`counts`) and a window buffer (`recent`).
    for stream in ["counts", "recent"] {
        let part = m["parts"].as_array().unwrap().iter().find(|p| p["stream"] == stream).unwrap();
        files.push(part["file"].as_str().unwrap().to_string());
    }
    for file in &files {
        for how in ["truncated", "bit-flipped"] {
            let case = tempfile::tempdir().unwrap();
            copy_dir(stopped.path(), case.path());
            let ck = newest_checkpoint(case.path()).1;
            damage(&ck.join(file), how);
            let out = ok(run(case.path(), &[]));
            let log = stderr(&out);
            assert!(log.contains(file.as_str()) && log.contains("damaged"), "{file} {how}: not reported: {log}");
            assert!(log.contains("batch_time=4000"), "{file} {how}: did not resume from batch 4000: {log}");
            for out in ["counts.jsonl", "recent.jsonl"] {
                assert_eq!(
                    read_jsonl(&case.path().join(out)),
                    read_jsonl(&reference.path().join(out)),
                    "{out} after a {how} {file}"
                );
            }
        }
    }
    // Every checkpoint damaged: refuse, naming the files, and write nothing.
    let case = tempfile::tempdir().unwrap();
    copy_dir(stopped.path(), case.path());
    for e in std::fs::read_dir(case.path().join("checkpoints")).unwrap() {
        let dir = e.unwrap().path();
        if dir.join("manifest.json").is_file() {
            damage(&dir.join("manifest.json"), "bit-flipped");
        }
    }
    let before = std::fs::read(case.path().join("counts.jsonl")).unwrap();
    let out = run(case.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no usable checkpoint") && stderr(&out).contains("manifest.json"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(case.path().join("counts.jsonl")).unwrap(), before);
}

#[test]
fn checkpoint_ls_lists_what_a_resume_would_use_and_names_damaged_files() {
    let dir = setup(&job("tokenize", WINDOW));
    ok(run(dir.path(), &[]));
    let ls = |json: bool| {
        let mut args = vec!["checkpoint", "ls", "checkpoints"];
        args.extend(json.then_some("--json"));
        Command::new(weir_bin()).args(&args).current_dir(dir.path()).output().unwrap()
    };
    let listed = |o: &Output| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let out = ls(true);
    assert!(out.status.success(), "{}", stderr(&out));
    let all = listed(&out);
    // keep = 3; the final checkpoint is at the last of the 8 batches, newest first.
    let times: Vec<u64> = all.iter().map(|c| c["time"].as_u64().unwrap()).collect();
    assert_eq!(times.len(), 3, "{all:?}");
    assert_eq!(times[0], 8000);
    assert!(times.windows(2).all(|w| w[0] > w[1]), "{times:?}");
    assert_eq!(all[0]["resume"], true);
    assert!(all.iter().all(|c| c["ok"] == true));
    assert_eq!(all[0]["offsets"]["lines"], serde_json::json!({ "units": 8 }));
    assert_eq!(all[0]["state"].as_object().unwrap().keys().collect::<Vec<_>>(), ["counts", "recent"]);
    // Damage the newest checkpoint's part: it is listed as damaged, naming the file, and the next one
    // is where a run would resume.
    let newest = newest_checkpoint(dir.path()).1;
    let part = manifest(&newest)["parts"][0]["file"].as_str().unwrap().to_string();
    damage(&newest.join(&part), "bit-flipped");
    let all = listed(&ls(true));
    assert_eq!((all[0]["ok"].clone(), all[0]["resume"].clone()), (false.into(), false.into()));
    assert!(all[0]["error"].as_str().unwrap().contains(&part), "{all:?}");
    assert_eq!(all[1]["resume"], true);
    let text = ls(false);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("batch 8000 ms  DAMAGED") && text.contains("`weir run` resumes here"), "{text}");
    // Every checkpoint damaged: exit 1, as `weir run` would refuse.
    for c in &all {
        damage(&dir.path().join(c["dir"].as_str().unwrap()).join("manifest.json"), "truncated");
    }
    assert_eq!(ls(false).status.code(), Some(1));
}

#[test]
fn state_dump_reads_the_keyed_state_of_a_checkpoint() {
    let dir = setup(&job("tokenize", WINDOW));
    ok(run(dir.path(), &[]));
    let dump = |target: &Path, stream: &str| {
        let out = Command::new(weir_bin())
            .args(["state", "dump"])
            .arg(target)
            .args(["--stream", stream])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let state: std::collections::BTreeMap<String, i64> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|e| (e["key"].as_str().unwrap().to_string(), e["value"].as_i64().unwrap()))
            .collect();
        (out, state)
    };
    // The newest checkpoint holds the final counts; an older one the counts of its own batch.
    let (out, newest) = dump(Path::new("checkpoints"), "counts");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(newest, final_counts(dir.path()));
    let batches = read_jsonl(&dir.path().join("counts.jsonl"));
    let at_6000 = batches.iter().find(|b| b["time"] == 6000).unwrap()["records"].as_array().unwrap().clone();
    let want: std::collections::BTreeMap<String, i64> =
        at_6000.iter().map(|r| (r["key"].as_str().unwrap().to_string(), r["value"].as_i64().unwrap())).collect();
    let (_, older) = dump(&dir.path().join("checkpoints/checkpoint-00000000000000006000"), "counts");
    assert_eq!(older, want);
    assert_ne!(older, newest);
    let (out, _) = dump(Path::new("checkpoints"), "recent");
    assert!(stderr(&out).contains("window buffers"), "{}", stderr(&out));
    let (out, _) = dump(Path::new("checkpoints"), "nope");
    assert!(stderr(&out).contains("streams with state: counts, recent"), "{}", stderr(&out));
}

/// The final state of `counts.jsonl`: word → count.
fn final_counts(dir: &Path) -> std::collections::BTreeMap<String, i64> {
    let lines = read_jsonl(&dir.join("counts.jsonl"));
    let last = lines.last().unwrap()["records"].as_array().unwrap().clone();
    last.iter().map(|r| (r["key"].as_str().unwrap().to_string(), r["value"].as_i64().unwrap())).collect()
}

#[test]
fn an_upgraded_plugin_continues_the_state_of_the_old_one() {
    let dir = setup(&job("tokenize", ""));
    ok(run(dir.path(), &["--batches", "3"]));
    let v1 = manifest(&newest_checkpoint(dir.path()).1);
    std::fs::write(dir.path().join("job.toml"), job("tokenize_v2", "")).unwrap();
    ok(run(dir.path(), &[]));
    let v2 = manifest(&newest_checkpoint(dir.path()).1);
    assert_eq!(v1["plugins"]["words"]["version"], "0.1.0");
    assert_eq!(v2["plugins"]["words"]["version"], "0.2.0");
    assert_ne!(v1["plugins"]["words"]["hash"], v2["plugins"]["words"]["hash"]);
    // Batches 1-3 counted as they were written, the rest lowercased by 0.2.0, all in one state.
    let mut want = std::collections::BTreeMap::new();
    for (i, line) in SCRIPT.lines().enumerate() {
        let lines: Vec<String> = serde_json::from_str(line).unwrap();
        for w in lines.iter().flat_map(|l| l.split_whitespace()) {
            let w = if i < 3 { w.to_string() } else { w.to_lowercase() };
            *want.entry(w).or_insert(0) += 1;
        }
    }
    assert_eq!(final_counts(dir.path()), want);
    assert_eq!(want["The"], 2, "words counted by 0.1.0 keep their counts");
}

#[test]
fn state_that_no_longer_fits_the_job_is_refused_naming_the_stream() {
    let dir = setup(&job("tokenize", WINDOW));
    ok(run(dir.path(), &["--batches", "2"]));
    let renamed = job("tokenize", WINDOW)
        .replace("[streams.counts]", "[streams.totals]")
        .replace("from = \"counts\"\npath = \"counts.jsonl\"", "from = \"totals\"\npath = \"counts.jsonl\"");
    std::fs::write(dir.path().join("job.toml"), &renamed).unwrap();
    let out = run(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("stream `counts`") && stderr(&out).contains("--allow-dropped-state"),
        "{}",
        stderr(&out)
    );
    let longer = job("tokenize", &WINDOW.replace("length = \"3s\"", "length = \"4s\""));
    std::fs::write(dir.path().join("job.toml"), longer).unwrap();
    let out = run(dir.path(), &[]);
    assert!(stderr(&out).contains("stream `recent` changed the shape of its state"), "{}", stderr(&out));
    std::fs::write(dir.path().join("job.toml"), job("tokenize", WINDOW)).unwrap();
    let out = run(dir.path(), &["--workers", "1"]);
    assert!(stderr(&out).contains("a watermark of 2 workers"), "{}", stderr(&out));
    std::fs::write(dir.path().join("job.toml"), &renamed).unwrap();
    ok(run(dir.path(), &["--allow-dropped-state"]));
}

#[test]
fn state_whose_key_changed_is_refused_naming_the_stream() {
    let dir = setup(&job("tokenize", ""));
    ok(run(dir.path(), &["--batches", "2"]));
    let keyed = manifest(&newest_checkpoint(dir.path()).1)["keys"]["counts"].clone();
    assert_eq!(keyed, "map_to_pair (stream `pairs`)");
    // Same stream, same reducer, but keyed by upper-cased words: the old counts would mix with new keys.
    let upper = job("tokenize", "").replace(
        "op = \"map_to_pair\"\nfrom = \"words\"",
        "op = \"map\"\nfrom = \"words\"\nkey = \"str::to_uppercase(value)\"\nvalue = \"1\"",
    );
    std::fs::write(dir.path().join("job.toml"), &upper).unwrap();
    let out = run(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("stream `counts` changed its key") && err.contains("str::to_uppercase(value)"), "{err}");
    assert!(err.contains("--allow-dropped-state"), "{err}");
    // Dropping the state starts the counts afresh under the new keys: no lower-case word is carried over.
    ok(run(dir.path(), &["--allow-dropped-state"]));
    let counts = final_counts(dir.path());
    assert!(counts.keys().all(|k| *k == k.to_uppercase()), "{counts:?}");
    assert_eq!(counts["THE"], 4, "{counts:?}");
}

#[test]
fn keyed_state_resumes_on_another_number_of_workers() {
    let reference = setup(&job("tokenize", ""));
    ok(run(reference.path(), &[]));
    let dir = setup(&job("tokenize", ""));
    ok(run(dir.path(), &["--batches", "4"]));
    ok(run(dir.path(), &["--workers", "1"]));
    assert_eq!(read_jsonl(&dir.path().join("counts.jsonl")), read_jsonl(&reference.path().join("counts.jsonl")));
}

#[test]
fn checkpoints_must_fall_on_every_window_slide() {
    let spec = job("tokenize", &WINDOW.replace("length = \"3s\"", "length = \"4s\", slide = \"2s\""));
    let dir = setup(&spec);
    let out = run(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`checkpoint.every`") && stderr(&out).contains("`recent`"), "{}", stderr(&out));
    std::fs::write(dir.path().join("job.toml"), spec.replace("keep = 3", "keep = 3\nevery = 2")).unwrap();
    ok(run(dir.path(), &[]));
    assert!(newest_checkpoint(dir.path()).1.ends_with("checkpoint-00000000000000008000"));
}

#[test]
fn the_directory_source_resumes_without_reading_a_file_twice() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for i in 0..5 {
        std::fs::write(input.join(format!("f{i}.txt")), format!("x y\nx f{i}\n")).unwrap();
    }
    let spec = job("tokenize", "").replace(
        "kind = \"scripted\"\npath = \"script.jsonl\"",
        "kind = \"directory\"\npath = \"in\"\ninclude_existing = true\nfiles_per_batch = 1",
    );
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    ok(run(dir.path(), &["--batches", "2"]));
    ok(run(dir.path(), &[]));
    let counts = final_counts(dir.path());
    assert_eq!((counts["x"], counts["y"], counts["f0"], counts["f4"]), (10, 5, 1, 1));
    assert_eq!(read_jsonl(&dir.path().join("counts.jsonl")).len(), 5, "one batch per file");
}
