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
    // 1,200 names would take 40 KB; one batch's files (~30 names, more after a restart) a few KB.
    assert!(largest_entry < 8_000, "a batch-log entry took {largest_entry} bytes after {written} files");
    let manifest = newest_manifest(dir.path()).unwrap();
    let listed = manifest["offsets"]["lines"]["files"]["done"].as_array().unwrap().len();
    let present = std::fs::read_dir(&input).unwrap().count();
    assert_eq!(listed, present, "the checkpoint lists the files still in the directory, not every file read");
}
