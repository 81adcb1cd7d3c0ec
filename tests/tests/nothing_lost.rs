//! Nothing lost silently: crashes at awkward moments and damaged logs beside the checkpoints either
//! recover with every record counted once or are refused with the reason, never silently wrong; one
//! process at a time per checkpoint directory; killed jobs leave no state directories behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use weir_tests::copy_dir;
use weir_tests::crash::{PG_URL, Rng, drain, env_or, generated, kill, psql, setup, stderr, totals, weir, word_count};

fn write_atomically(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(format!("{name}.tmp")), text).unwrap();
    std::fs::rename(dir.join(format!("{name}.tmp")), dir.join(name)).unwrap();
}

#[test]
fn a_file_that_came_after_the_first_start_is_read_once_whatever_the_kills_before_the_first_batch() {
    // Batches of 10 s: every kill lands before the first batch is logged.
    let source = "kind = \"directory\"\npath = \"in\"\ninclude_existing = false";
    let dir = setup(&word_count("early", source, 1).replace("batch_interval = \"100ms\"", "batch_interval = \"10s\""));
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    write_atomically(&input, "old.txt", "old old\n");
    let kills = env_or("WEIR_EARLY_KILLS", 20);
    let mut rng = Rng(env_or("WEIR_CRASH_SEED", 20_261_206) | 1);
    for i in 0..kills {
        let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        if i == 0 {
            // The files "present at the start" are those there when the source first looks: on a busy
            // machine that can be a while after the process starts. (An old build never records them.)
            let listed = dir.path().join("checkpoints/sources/lines/existing.json");
            let deadline = Instant::now() + Duration::from_secs(3);
            while !listed.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let (write_at, kill_at) = (rng.below(250), 250 + rng.below(250));
        std::thread::sleep(Duration::from_millis(write_at));
        write_atomically(&input, &format!("new-{i:02}.txt"), &format!("n{i} new\n"));
        std::thread::sleep(Duration::from_millis(kill_at - write_at));
        kill(child);
    }
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let out = drain(child);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut want: BTreeMap<String, u64> = (0..kills).map(|i| (format!("n{i}"), 1)).collect();
    want.insert("new".into(), kills);
    assert_eq!(totals(&dir.path().join("counts.jsonl")), want, "each new file once, the old one never");
}

/// The batch-log entries after the newest checkpoint.
fn logged_after_checkpoint(dir: &Path) -> Vec<PathBuf> {
    let committed = newest_committed(dir);
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join("checkpoints/batches"))
        .map(|r| r.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    found.retain(|p| batch_time(p).is_some_and(|t| t > committed));
    found.sort();
    found
}

fn batch_time(p: &Path) -> Option<u64> {
    p.file_name()?.to_str()?.strip_prefix("batch-")?.strip_suffix(".json")?.parse().ok()
}

fn newest_committed(dir: &Path) -> u64 {
    let entries = std::fs::read_dir(dir.join("checkpoints")).into_iter().flatten().map(|e| e.unwrap().path());
    let committed = entries.filter(|p| p.join("manifest.json").is_file());
    committed.filter_map(|p| p.file_name()?.to_str()?.strip_prefix("checkpoint-")?.parse().ok()).max().unwrap_or(0)
}

/// Runs the generated job and kills it once at least `n` batches are logged after its newest checkpoint.
fn killed_with_logged_batches(name: &str, n: usize, edit: impl Fn(String) -> String) -> tempfile::TempDir {
    for _ in 0..20 {
        let dir = setup(&edit(generated(name)));
        let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        // Caught when the sink also holds a batch after the checkpoint.
        let caught = |d: &Path| {
            let c = newest_committed(d);
            c > 0 && logged_after_checkpoint(d).len() >= n && sink_holds_through(d) > c
        };
        while !caught(dir.path()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        kill(child);
        if caught(dir.path()) {
            return dir;
        }
    }
    panic!("never caught the job with {n} batches logged after a checkpoint");
}

/// The newest batch `counts.jsonl` holds whole (0 for none).
fn sink_holds_through(dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("counts.jsonl")).unwrap_or_default();
    let whole = text.rfind('\n').map_or("", |i| &text[..i]);
    let last = whole.lines().last().and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok());
    last.and_then(|v| v["time"].as_u64()).unwrap_or(0)
}

fn damage(file: &Path, how: &str) {
    let mut bytes = std::fs::read(file).unwrap();
    match how {
        "deleted" => return std::fs::remove_file(file).unwrap(),
        "emptied" => bytes.clear(),
        "truncated" => bytes.truncate(bytes.len() / 2),
        _ => {
            let i = bytes.len() / 3;
            bytes[i] ^= 0x04;
        }
    }
    std::fs::write(file, bytes).unwrap();
}

/// The word totals of the generated job (after `edit`), all in manual batches.
fn want_words(edit: impl Fn(String) -> String) -> BTreeMap<String, u64> {
    let spec = edit(generated("reference"))
        .replace("batch_interval = \"100ms\"", "batch_interval = \"100ms\"\nclock = \"manual\"");
    let reference = setup(&spec);
    let out = weir(reference.path(), &[]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    totals(&reference.path().join("counts.jsonl"))
}

#[test]
fn a_damaged_or_missing_batch_log_entry_after_the_checkpoint_is_refused_never_cut_from_a_guess() {
    let killed = killed_with_logged_batches("log", 2, |s| s);
    let first = logged_after_checkpoint(killed.path())[0].file_name().unwrap().to_owned();
    for how in ["deleted", "truncated", "bit-flipped", "emptied"] {
        let case = tempfile::tempdir().unwrap();
        copy_dir(killed.path(), case.path());
        damage(&case.path().join("checkpoints/batches").join(&first), how);
        let before = std::fs::read(case.path().join("counts.jsonl")).unwrap_or_default();
        let out = weir(case.path(), &[]).output().unwrap();
        let log = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{how} {first:?}: not refused: {log}");
        assert!(
            log.contains("cannot resume from checkpoint directory") && log.contains("--start-over"),
            "{how}: {log}"
        );
        assert!(log.contains("batch"), "{how}: the entry is not named: {log}");
        assert_eq!(std::fs::read(case.path().join("counts.jsonl")).unwrap_or_default(), before, "{how}: wrote output");
    }
    // The last entries deleted, from the newest batch the sink holds: no chain shows it, the sink does.
    let case = tempfile::tempdir().unwrap();
    copy_dir(killed.path(), case.path());
    let held = sink_holds_through(case.path());
    for entry in logged_after_checkpoint(case.path()).into_iter().filter(|e| batch_time(e) >= Some(held)) {
        std::fs::remove_file(entry).unwrap();
    }
    let out = weir(case.path(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "not refused: {}", stderr(&out));
    assert!(stderr(&out).contains(&format!("sink `out` holds batch {held}")), "{}", stderr(&out));
    // The undamaged directory resumes and counts every word once.
    let out = weir(killed.path(), &[]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(totals(&killed.path().join("counts.jsonl")), want_words(|s| s));
}

#[test]
fn a_database_sink_holding_batches_the_log_lost_refuses_the_resume() {
    let (job, table) = ("dblog", format!("weir_dblog_{}", std::process::id()));
    psql(&format!("DROP TABLE IF EXISTS {table}; DELETE FROM weir_sink_commits WHERE job = '{job}'"));
    let with_db = |s: String| {
        format!("{s}\n[sinks.db]\nkind = \"postgres\"\nfrom = \"counts\"\nurl = \"{PG_URL}\"\ntable = \"{table}\"\n")
    };
    // Caught when the table (written on its own thread) also holds a batch after the checkpoint.
    let (killed, committed) = (0..10)
        .find_map(|_| {
            psql(&format!("DROP TABLE IF EXISTS {table}; DELETE FROM weir_sink_commits WHERE job = '{job}'"));
            let killed = killed_with_logged_batches(job, 2, with_db);
            let marked = psql(&format!("SELECT max(batch_time) FROM weir_sink_commits WHERE job = '{job}'"));
            let committed = newest_committed(killed.path());
            marked[0].parse::<u64>().is_ok_and(|held| held > committed).then_some((killed, committed))
        })
        .expect("the table never held a batch after the checkpoint");
    // Only the table knows of the batches whose entries are gone: the file sink is cut back to the
    // checkpoint, and every entry after the checkpoint is deleted.
    let text = std::fs::read_to_string(killed.path().join("counts.jsonl")).unwrap();
    let kept: String =
        text.lines().filter(|l| l.contains(&format!("\"time\":{committed},"))).map(|l| format!("{l}\n")).collect();
    let upto = text.find(&kept).map_or(0, |i| i + kept.len());
    std::fs::write(killed.path().join("counts.jsonl"), &text[..upto]).unwrap();
    logged_after_checkpoint(killed.path()).into_iter().for_each(|entry| std::fs::remove_file(entry).unwrap());
    let out = weir(killed.path(), &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "not refused: {}", stderr(&out));
    assert!(stderr(&out).contains("sink `db` holds batch"), "{}", stderr(&out));
    psql(&format!("DROP TABLE IF EXISTS {table}; DELETE FROM weir_sink_commits WHERE job = '{job}'"));
}

#[test]
fn a_stop_while_logged_batches_are_cut_again_finishes_them_first() {
    // Big batches (20,000 lines), so replaying one takes long enough for a stop to land inside it.
    let heavy = |spec: String| spec.replace("rate = 10000", "rate = 200000").replace("limit = 20000", "limit = 400000");
    let want = want_words(heavy);
    for _ in 0..env_or("WEIR_RECUT_STOPS", 3) {
        let dir = killed_with_logged_batches("recut", 2, heavy);
        // Stop at the first boundary: the batches logged before the kill must still be cut whole.
        let out = weir(dir.path(), &["--duration", "1ms"]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let out = weir(dir.path(), &[]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(totals(&dir.path().join("counts.jsonl")), want, "every word once over all batches");
    }
}

#[test]
fn a_directory_whose_manifests_are_gone_is_refused_and_start_over_starts_afresh() {
    let killed = killed_with_logged_batches("orphan", 1, |s| s);
    // With the marker of a committed checkpoint, and without it (the batch log tells).
    for marker in [false, true] {
        let case = tempfile::tempdir().unwrap();
        copy_dir(killed.path(), case.path());
        for e in std::fs::read_dir(case.path().join("checkpoints")).unwrap() {
            let p = e.unwrap().path();
            if p.join("manifest.json").is_file() {
                std::fs::remove_file(p.join("manifest.json")).unwrap();
            }
        }
        if marker {
            std::fs::remove_file(case.path().join("checkpoints/COMMITTED")).unwrap();
        }
        let out = weir(case.path(), &[]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "not refused: {}", stderr(&out));
        let log = stderr(&out);
        let why = if marker { "its batch log starts at batch" } else { "every manifest is gone" };
        assert!(log.contains("cannot resume from checkpoint directory") && log.contains(why), "{log}");
        assert!(log.contains("--start-over"), "{log}");
    }
    std::fs::remove_file(killed.path().join("counts.jsonl")).unwrap();
    let out = weir(killed.path(), &["--start-over"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(totals(&killed.path().join("counts.jsonl")), want_words(|s| s));
}

#[test]
fn a_crash_between_a_manifest_and_the_committed_mark_resumes_and_marks_it() {
    let killed = killed_with_logged_batches("unmarked", 1, |s| s);
    // The first manifest is written before the mark: a kill between the two leaves a manifest alone.
    std::fs::remove_file(killed.path().join("checkpoints/COMMITTED")).unwrap();
    let out = weir(killed.path(), &["--duration", "1s"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("resuming from the checkpoint"), "{}", stderr(&out));
    assert!(killed.path().join("checkpoints/COMMITTED").is_file(), "the resume marks the checkpoint it took");
}

#[test]
fn a_second_process_on_a_checkpoint_directory_is_refused_naming_it_and_its_holder() {
    let dir = setup(&generated("twice").replace("rate = 10000", "rate = 1000"));
    let first = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dir.path().join("checkpoints/LOCK").exists() {
        assert!(Instant::now() < deadline, "the first process never locked its directory");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    let second = weir(dir.path(), &[]).output().unwrap();
    let log = stderr(&second);
    assert_eq!(second.status.code(), Some(1), "{log}");
    let holder = format!("(pid {})", first.id());
    assert!(log.contains("checkpoints is in use by another weir process") && log.contains(&holder), "{log}");
    kill(first);
}

/// A word count fed over a socket, with a write-ahead log; returns the dir once `lines` lines are logged,
/// batches have been cut and the job was killed.
fn socket_job_killed(lines: usize) -> tempfile::TempDir {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = setup(&word_count("wal", &format!("kind = \"socket\"\nport = {port}"), 1000));
    let child = weir(dir.path(), &[]).stderr(Stdio::null()).spawn().unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    for i in 0..lines {
        std::io::Write::write_all(&mut peer, format!("w{} x\n", i % 10).as_bytes()).unwrap();
        if i % 1000 == 999 {
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    let (deadline, logged) = (Instant::now() + Duration::from_secs(20), lines * "w0 x\n".len());
    while wal_bytes(dir.path()) < logged || logged_after_checkpoint(dir.path()).len() < 2 {
        assert!(Instant::now() < deadline, "the socket data never reached the log");
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(300));
    kill(child);
    dir
}

fn wal_segments(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> =
        std::fs::read_dir(dir.join("checkpoints/wal/lines")).unwrap().map(|e| e.unwrap().path()).collect();
    found.sort();
    found
}

fn wal_bytes(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("checkpoints/wal/lines"))
        .map_or(0, |r| r.map(|e| e.unwrap().metadata().unwrap().len() as usize).sum())
}

#[test]
fn a_damaged_write_ahead_log_is_refused_or_its_loss_reported_never_silent() {
    let lines = 5000;
    let killed = socket_job_killed(lines);
    let segment = wal_segments(killed.path())[0].file_name().unwrap().to_owned();
    for how in ["deleted", "emptied", "truncated", "bit-flipped"] {
        let case = tempfile::tempdir().unwrap();
        copy_dir(killed.path(), case.path());
        damage(&case.path().join("checkpoints/wal/lines").join(&segment), how);
        let out = weir(case.path(), &["--duration", "500ms"]).output().unwrap();
        let log = stderr(&out);
        // Every batch cut before the kill needs its lines: damage below them is refused.
        assert_eq!(out.status.code(), Some(1), "{how}: not refused: {log}");
        assert!(
            log.contains("write-ahead log") && log.contains("is damaged") && log.contains("position"),
            "{how}: {log}"
        );
    }
    // Undamaged, the log replays every line once.
    let out = weir(killed.path(), &["--duration", "500ms"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let counted = totals(&killed.path().join("counts.jsonl"));
    assert_eq!(counted.get("x"), Some(&(lines as u64)), "{counted:?}");
}

#[test]
fn a_killed_job_leaves_no_state_directory_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = generated("leak").replace("rate = 10000", "rate = 500").replace(
        "[streams.counts]\nop = \"reduce_by_key\"\nfrom = \"pairs\"\nreducer = \"sum\"",
        "[streams.counts]\nop = \"update_state_by_key\"\nfrom = \"pairs\"\nupdater = \"sum\"",
    );
    let dir = setup(&spec);
    let state_dirs = || -> Vec<PathBuf> {
        let found = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().path());
        found.filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("weir-state-")).collect()
    };
    for _ in 0..3 {
        let child = weir(dir.path(), &[]).env("TMPDIR", tmp.path()).stderr(Stdio::null()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while state_dirs().is_empty() {
            assert!(Instant::now() < deadline, "no state directory made");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(300));
        kill(child);
        assert_eq!(state_dirs().len(), 1, "the next start removes the last one's");
    }
    let out = weir(dir.path(), &["--duration", "300ms"]).env("TMPDIR", tmp.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("removed the state directory of a job that was killed"), "{}", stderr(&out));
    assert_eq!(state_dirs(), Vec::<PathBuf>::new());
}

#[test]
fn zero_workers_on_the_command_line_are_refused() {
    let dir = setup(&generated("zero"));
    let out = weir(dir.path(), &["--workers", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--workers"), "{}", stderr(&out));
    assert!(!dir.path().join("checkpoints").exists());
}

#[test]
fn a_state_directory_in_use_is_named_once_in_plain_words() {
    let dir = setup(&generated("busy").replace("rate = 10000", "rate = 100").replace(
        "[streams.counts]\nop = \"reduce_by_key\"\nfrom = \"pairs\"\nreducer = \"sum\"",
        "[streams.counts]\nop = \"update_state_by_key\"\nfrom = \"pairs\"\nupdater = \"sum\"\n\n[state]\ndir = \"state\"",
    ));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dir.path().join("state/conf").exists() {
        assert!(Instant::now() < deadline, "the job never opened its state");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    let dump = std::process::Command::new(weir_tests::weir_bin())
        .args(["state", "dump", "state", "--stream", "counts"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let log = stderr(&dump);
    kill(child);
    assert!(!dump.status.success());
    assert_eq!(log.matches("is in use by another weir process").count(), 1, "{log}");
    assert!(!log.contains("WouldBlock"), "{log}");
}
