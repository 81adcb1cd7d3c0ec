//! The directory source's offsets stay the size of the directory and of one batch: a batch-log entry
//! lists the files of its batch, a checkpoint the files still in the directory, however many files the
//! job has read; with files deleted once read and `kill -9` between, each file is still counted once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use weir_tests::crash::{drain, kill, setup, stderr, totals, weir, word_count};

/// The words of the batches at or before the newest committed checkpoint.
fn checkpointed_words(dir: &Path) -> BTreeSet<String> {
    let Ok(manifest) = newest_manifest(dir) else { return BTreeSet::new() };
    let through = manifest["time"].as_u64().unwrap();
    let text = std::fs::read_to_string(dir.join("counts.jsonl")).unwrap_or_default();
    let whole = text.rfind('\n').map_or("", |i| &text[..i]);
    let batches = whole.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok());
    let kept = batches.filter(|b| b["time"].as_u64().unwrap() <= through);
    kept.flat_map(|b| b["records"].as_array().cloned().unwrap())
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect()
}

fn newest_manifest(dir: &Path) -> Result<serde_json::Value, String> {
    let entries = std::fs::read_dir(dir.join("checkpoints")).map_err(|e| e.to_string())?;
    let newest = entries.map(|e| e.unwrap().path()).filter(|p| p.join("manifest.json").is_file()).max();
    let path = newest.ok_or("no checkpoint")?.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    let json = weir::checkpoint::file::open_json(&path, &text).map_err(|e| e.to_string())?;
    serde_json::from_str(json).map_err(|e| e.to_string())
}

#[test]
fn directory_offsets_stay_compact_as_files_are_read_and_deleted() {
    let source = "kind = \"directory\"\npath = \"in\"";
    let dir = setup(&word_count("compact", source, 1));
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let job = || weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut child = job();
    // Files written before the source first lists the directory would be skipped as already there.
    let listed = dir.path().join("checkpoints/sources/lines/existing.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !listed.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (mut written, mut deleted, mut largest_entry) = (0, 0, 0);
    for round in 0..40 {
        for _ in 0..30 {
            let name = format!("file-with-a-longish-name-{written:05}.txt");
            std::fs::write(input.join(format!(".{name}")), format!("w{written} common\n")).unwrap();
            std::fs::rename(input.join(format!(".{name}")), input.join(&name)).unwrap();
            written += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
        // Files whose batch is checkpointed are deleted, as a retention job would.
        let done = checkpointed_words(dir.path());
        while deleted < written && done.contains(&format!("w{deleted}")) {
            std::fs::remove_file(input.join(format!("file-with-a-longish-name-{deleted:05}.txt"))).unwrap();
            deleted += 1;
        }
        for e in std::fs::read_dir(dir.path().join("checkpoints/batches")).into_iter().flatten() {
            largest_entry = largest_entry.max(e.unwrap().metadata().map_or(0, |m| m.len()));
        }
        if round % 13 == 12 {
            kill(child);
            child = job();
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let out = drain(child);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut want: BTreeMap<String, u64> = (0..written).map(|i| (format!("w{i}"), 1)).collect();
    want.insert("common".into(), written as u64);
    let got = totals(&dir.path().join("counts.jsonl"));
    let wrong: Vec<_> = want.iter().filter(|(w, n)| got.get(*w) != Some(n)).map(|(w, n)| (w, n, got.get(w))).collect();
    assert!(wrong.is_empty() && got.len() == want.len(), "not each file once (word, want, got): {wrong:?}");
    assert!(deleted > written / 2, "only {deleted} of {written} files were deleted: the checkpoints lag");
    eprintln!("largest batch-log entry: {largest_entry} bytes after {written} files ({deleted} deleted)");
    // 1,200 names would take 40 KB; one batch's files (~30 names) a few KB, and up to ~100 names after a
    // restart on a loaded machine (12 KB seen once in a full suite run).
    assert!(largest_entry < 20_000, "a batch-log entry took {largest_entry} bytes after {written} files");
    let manifest = newest_manifest(dir.path()).unwrap();
    let listed = manifest["offsets"]["lines"]["files"]["done"].as_array().unwrap().len();
    let present = std::fs::read_dir(&input).unwrap().count();
    assert_eq!(listed, present, "the checkpoint lists the files still in the directory, not every file read");
}

/// Whether the newest checkpoint lists `file` as read.
fn checkpoint_lists(dir: &Path, file: &str) -> bool {
    let Ok(manifest) = newest_manifest(dir) else { return false };
    let done = manifest["offsets"]["lines"]["files"]["done"].as_array().cloned().unwrap_or_default();
    done.iter().any(|f| f == file)
}

/// A file deleted after a checkpoint and a new file read in the batch logged next: after a `kill -9`
/// that batch is cut again exactly (forgetting the deleted file is not going past the logged batch),
/// so the new file is counted once, not once more in a later batch.
#[test]
fn a_batch_that_forgot_a_deleted_file_is_cut_again_exactly() {
    let source = "kind = \"directory\"\npath = \"in\"";
    // Checkpoints every 30 batches (3 s): the batch after one stays uncheckpointed long enough to kill.
    let dir = setup(&word_count("forgot", source, 30));
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "gave up waiting: {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait("the first listing", &|| dir.path().join("checkpoints/sources/lines/existing.json").exists());
    for (name, word) in [("a.txt", "wa"), ("b.txt", "wb")] {
        std::fs::write(input.join(format!(".{name}")), format!("{word}\n")).unwrap();
        std::fs::rename(input.join(format!(".{name}")), input.join(name)).unwrap();
    }
    wait("a checkpoint listing a and b", &|| checkpoint_lists(dir.path(), "b.txt"));
    std::fs::remove_file(input.join("a.txt")).unwrap();
    std::fs::write(input.join(".c.txt"), "wc\n").unwrap();
    std::fs::rename(input.join(".c.txt"), input.join("c.txt")).unwrap();
    wait("c in the output", &|| totals(&dir.path().join("counts.jsonl")).contains_key("wc"));
    assert!(!checkpoint_lists(dir.path(), "c.txt"), "a checkpoint came too soon: the case is not made");
    kill(child);
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let out = drain(child);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("cannot cut the logged batch again"), "{}", stderr(&out));
    let got = totals(&dir.path().join("counts.jsonl"));
    assert_eq!((got.get("wa"), got.get("wb"), got.get("wc")), (Some(&1), Some(&1), Some(&1)), "{got:?}");
}
