//! A directory read by a job across processes: each file is read by the process its name's hash picks
//! (`Peers::owns_file`), its records stay on that process's workers, and the checkpoint lists every file
//! whatever process read it. With `kill -9` of a random process while files arrive, restarted by
//! `weir cluster run --restarts`, every line reaches the output exactly once.

use std::path::Path;
use std::process::{Command, Stdio};

use weir::checkpoint::Peers;
use weir_tests::broker::{Copies, copy_job, drain_when};
use weir_tests::crash::{Rng, cluster_of_two, env_or, kill_one_of_fresh, newest_checkpoint, setup};
use weir_tests::read_jsonl;

/// A job copying the JSON lines of directory `in` to `out.jsonl`, 2 workers per process.
fn job() -> String {
    let source = "kind = \"directory\"\npath = \"in\"\ninclude_existing = true\nformat = \"json\"";
    copy_job("100ms", 2, source, "kind = \"jsonl\"\npath = \"out.jsonl\"")
}

/// File `i` of `lines` lines `{"f":i,"n":n}`, written by atomic rename, and what it holds. With `bad`,
/// it ends with a line cut short that names the file.
fn write_file(dir: &Path, i: usize, lines: usize, bad: bool) -> Vec<String> {
    let values: Vec<String> = (0..lines).map(|n| format!("{{\"f\":{i},\"n\":{n}}}")).collect();
    let mut text = values.join("\n") + "\n";
    if bad {
        text += &format!("{{\"bad\": \"{}\"\n", name(i));
    }
    std::fs::write(dir.join(format!(".{}", name(i))), text).unwrap();
    std::fs::rename(dir.join(format!(".{}", name(i))), dir.join(name(i))).unwrap();
    values
}

fn name(i: usize) -> String {
    format!("part-{i:04}.json")
}

/// Every record of the batches in `dir/out.jsonl`, as compact JSON.
fn written(dir: &Path) -> Vec<String> {
    let batches = read_jsonl(&dir.join("out.jsonl"));
    batches.iter().flat_map(|b| b["records"].as_array().cloned().unwrap_or_default()).map(|r| r.to_string()).collect()
}

/// How many records the whole lines of `dir/out.jsonl` hold so far, while the job writes it.
fn written_so_far(dir: &Path) -> usize {
    let text = std::fs::read_to_string(dir.join("out.jsonl")).unwrap_or_default();
    let whole = text.rfind('\n').map_or("", |i| &text[..i]);
    let batches = whole.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok());
    batches.map(|b| b["records"].as_array().map_or(0, Vec::len)).sum()
}

/// The files named in the dead letters of `file`.
fn dead_files(file: &Path) -> Vec<String> {
    let mut named: Vec<String> = read_jsonl(file)
        .iter()
        .map(|d| d["input"].as_str().unwrap().trim_start_matches("{\"bad\": \"").trim_end_matches('"').to_string())
        .collect();
    named.sort();
    named
}

#[test]
fn each_process_reads_the_files_its_hash_picks_and_the_checkpoint_lists_them_all() {
    let dir = setup(&job());
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let values: Vec<String> = (0..16).flat_map(|i| write_file(&input, i, 200, true)).collect();
    let child = cluster_of_two(dir.path(), &[]);
    drain_when(child, dir.path(), || written_so_far(dir.path()) >= values.len());

    Copies::of(&written(dir.path()), &values, 0).assert_exactly_once();
    // A bad line is refused where its file is read: into that process's dead letters.
    for (process, dead) in [(0, "dead.jsonl"), (1, "dead.process-1.jsonl")] {
        let peers = Peers { process, processes: 2 };
        let owned: Vec<String> = (0..16).map(name).filter(|f| peers.owns_file(f)).collect();
        assert!(!owned.is_empty(), "process {process} owns none of the files: pick other names");
        assert_eq!(dead_files(&dir.path().join(dead)), owned, "process {process}'s dead letters");
    }
    let (_, ck) = newest_checkpoint(dir.path());
    let path = ck.join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(weir::checkpoint::file::open_json(&path, &text).unwrap()).unwrap();
    let files = &manifest["offsets"]["events"]["files"];
    let done: Vec<String> = files["done"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().into()).collect();
    assert_eq!(done, (0..16).map(name).collect::<Vec<_>>(), "the manifest lists both processes' files: {files}");
}

#[test]
fn a_cluster_killed_while_files_arrive_writes_each_line_once() {
    let (kills, seed) = (env_or("WEIR_CLUSTER_DIRECTORY_KILLS", 10), env_or("WEIR_CRASH_SEED", 31));
    let dir = setup(&job());
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let mut launcher = cluster_of_two(dir.path(), &["--restarts", &(kills + 3).to_string()]);
    let feeder = {
        let input = input.clone();
        // Every 10th file large enough to be cut into batches in pieces: a checkpoint can fall inside it.
        std::thread::spawn(move || {
            let mut values = Vec::new();
            for i in 0..120 {
                values.extend(write_file(&input, i, if i % 10 == 3 { 30_000 } else { 200 }, false));
                std::thread::sleep(std::time::Duration::from_millis(40));
            }
            values
        })
    };
    let (mut rng, mut seen) = (Rng(seed | 1), Vec::new());
    for _ in 0..kills {
        kill_one_of_fresh(&mut launcher, 2, &mut seen, &mut rng, 200..1200, &dir.path().join("runs.log"));
    }
    let values = feeder.join().unwrap();
    drain_when(launcher, dir.path(), || written_so_far(dir.path()) >= values.len());

    Copies::of(&written(dir.path()), &values, kills).assert_exactly_once();
    let log = std::fs::read_to_string(dir.path().join("runs.log")).unwrap();
    assert_eq!(log.matches("weir cluster: restarting every process").count() as u64, kills, "see runs.log");
    assert!(!log.contains("cannot cut the logged batch again"), "a logged batch was not cut exactly:\n{log}");
}

#[test]
fn files_follow_their_new_process_when_the_job_is_rescaled_from_2_to_3_to_1() {
    let dir = setup(&job());
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let mut values = Vec::new();
    let runs: [&[&str]; 3] = [
        &["cluster", "run", "job.toml", "--processes", "2"],
        &["cluster", "run", "job.toml", "--processes", "3"],
        &["run", "job.toml"],
    ];
    for (run, args) in runs.iter().enumerate() {
        // Files there at the start, and files that come while the job runs.
        values.extend((0..8).flat_map(|i| write_file(&input, run * 100 + i, 300, false)));
        let job = Command::new(weir_tests::weir_bin())
            .args(*args)
            .args(["--duration", "2s"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        values.extend((8..16).flat_map(|i| write_file(&input, run * 100 + i, 300, false)));
        let out = job.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let (_, ck) = newest_checkpoint(dir.path());
        let manifest = std::fs::read_to_string(ck.join("manifest.json")).unwrap();
        let unlisted: Vec<String> = (0..=run)
            .flat_map(|r| (0..16).map(move |i| name(r * 100 + i)))
            .filter(|f| !manifest.contains(f.as_str()))
            .collect();
        assert!(unlisted.is_empty(), "run {run}: the final checkpoint does not list {unlisted:?}:\n{manifest}");
    }
    Copies::of(&written(dir.path()), &values, 0).assert_exactly_once();
}
