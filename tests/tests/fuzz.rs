//! Property-based fuzzing of everything that reads untrusted bytes: job specs, packed batches (as the
//! host reads a plugin's output and as the SDK reads the host's input), checkpoint parts and manifests,
//! batch-log entries, write-ahead-log segments and script lines. Each must answer with a value or a
//! clear error, never panic. The suite runs 256 cases each; `scripts/fuzz.sh` runs many more
//! (`PROPTEST_CASES`).

use std::path::Path;

use proptest::prelude::*;
use weir_sdk::packed::Batch;

const SPEC: &str = r#"[job]
name = "fuzz"
batch_interval = "1s"
clock = "manual"

[sources.in]
kind = "generator"
rate = 10
limit = 10

[streams.words]
op = "tokenize"
from = "in"

[streams.pairs]
op = "map_to_pair"
from = "words"

[streams.counts]
op = "reduce_by_key"
from = "pairs"
reducer = "sum"
window = { length = "2s", slide = "1s" }

[sinks.out]
kind = "print"
from = "counts"

[checkpoint]
dir = "ck"
"#;

/// `text` with `edits` applied: (position, byte to put there, or delete when `None`).
fn mutate(text: &str, edits: &[(usize, Option<u8>)]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for &(at, byte) in edits {
        let at = at % (bytes.len() + 1);
        match byte {
            Some(b) if at < bytes.len() && b % 2 == 0 => bytes[at] = b,
            Some(b) => bytes.insert(at, b),
            None if at < bytes.len() => {
                bytes.remove(at);
            }
            None => {}
        }
    }
    bytes
}

fn edits() -> impl Strategy<Value = Vec<(usize, Option<u8>)>> {
    prop::collection::vec((any::<usize>(), prop::option::of(any::<u8>())), 1..8)
}

/// Reads every record and value of a batch the way the host and the SDK do.
fn read_all(b: &Batch) {
    for r in b.iter() {
        let _ = weir::render::text(&r);
        let _ = serde_json::to_string(&weir::render::RecordJson(r));
        let _ = weir_sdk::Record::from_ref(r).as_text();
    }
}

proptest! {
    #[test]
    fn a_spec_of_any_bytes_is_a_plan_or_an_error_naming_the_file(edits in edits()) {
        let text = String::from_utf8_lossy(&mutate(SPEC, &edits)).into_owned();
        if let Err(e) = weir::graph::parse(Path::new("job.toml"), &text) {
            prop_assert!(e.to_string().starts_with("job.toml"), "{e}");
        }
    }

    #[test]
    fn a_packed_batch_that_validates_reads_without_panicking(
        kinds in prop::collection::vec(any::<u8>(), 0..8),
        keys in prop::collection::vec(any::<u8>(), 0..40),
        values in prop::collection::vec(any::<u8>(), 0..80),
        cuts in prop::collection::vec(any::<u32>(), 0..20),
    ) {
        let n = kinds.len();
        let offsets = |len: usize, salt: usize| -> Vec<u32> {
            let mut o: Vec<u32> = (0..=n).map(|i| cuts.get(i + salt).copied().unwrap_or(0) % (len as u32 + 1)).collect();
            o.sort_unstable();
            if let (Some(first), true) = (o.first_mut(), salt % 3 != 2) { *first = 0; }
            if let (Some(last), true) = (o.last_mut(), salt % 5 != 4) { *last = len as u32; }
            o
        };
        let batch = Batch {
            key_offsets: offsets(keys.len(), 0),
            value_offsets: offsets(values.len(), 1),
            keys,
            values,
            event_times: vec![0; n],
            kinds,
        };
        if batch.validate().is_ok() {
            read_all(&batch);
        }
    }

    #[test]
    fn a_damaged_part_or_manifest_is_an_error_not_a_panic(payload in prop::collection::vec(any::<u8>(), 0..64), edits in edits()) {
        use weir::checkpoint::file::{decode_part, encode_part, open_json, seal_json};
        let (part, _) = encode_part(&payload);
        let damaged = mutate(&String::from_utf8_lossy(&part), &edits);
        let _ = decode_part(Path::new("p.part"), &damaged);
        let sealed = seal_json(&format!("{{\"payload\":{payload:?}}}"));
        let text = String::from_utf8_lossy(&mutate(&sealed, &edits)).into_owned();
        let _ = open_json(Path::new("manifest.json"), &text);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("manifest.json"), &text).unwrap();
        let _ = weir::checkpoint::Manifest::read(dir.path());
    }

    #[test]
    fn a_damaged_batch_log_is_refused_or_read_never_a_panic(edits in edits(), which in 0usize..3) {
        use weir::checkpoint::{BatchLog, LoggedBatch, OffsetMark, SourceOffset};
        let dir = tempfile::tempdir().unwrap();
        let log = BatchLog::new(dir.path());
        log.create().unwrap();
        // A write-ahead log position and a directory offset, which the log writes as changes.
        let (mut files, mut logged) = (SourceOffset::Start, Vec::new());
        for t in [100, 200, 300] {
            files.apply(OffsetMark::FileDone(format!("f{t}")));
            files.apply(OffsetMark::FileAt(format!("g{t}"), t));
            let offsets = [("s".to_string(), SourceOffset::Log(t * 3)), ("d".to_string(), files.clone())].into();
            let batch = LoggedBatch { time: t, offsets, after: Some(t - 100) };
            log.record(&batch, logged.last()).unwrap();
            logged.push(batch);
        }
        let path = dir.path().join(format!("batches/batch-{:020}.json", (which + 1) * 100));
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, mutate(&text, &edits)).unwrap();
        if let Ok(batches) = log.after(0, &Default::default(), &[100]) {
            // What is read back is what was logged, in order, or the damage is refused.
            prop_assert!(batches.iter().zip(&logged).all(|(b, l)| b == l), "{batches:?}");
        }
    }

    #[test]
    fn a_damaged_write_ahead_log_replays_whole_records_or_is_refused(
        lines in prop::collection::vec("[a-z ]{0,12}", 1..20),
        edits in edits(),
        needed in 0u64..400,
    ) {
        use weir_sdk::packed::ValueRef;
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = weir::receiver::wal::Wal::open(dir.path(), 0, 0).unwrap();
        let mut chunk = Batch::new();
        for l in &lines { chunk.push(None, ValueRef::Text(l), 0); }
        wal.append(&chunk).unwrap();
        wal.append(&chunk).unwrap();
        drop(wal);
        let seg = dir.path().join(format!("{:020}.wal", 0));
        let bytes = std::fs::read(&seg).unwrap();
        std::fs::write(&seg, mutate(&String::from_utf8_lossy(&bytes), &edits)).unwrap();
        if let Ok((_, replay)) = weir::receiver::wal::Wal::open(dir.path(), 0, needed) {
            let whole: String = lines.iter().map(|l| format!("{l}\n")).collect();
            // Every replayed record is one that was written, and the needed part is all there.
            let mut start = 0;
            for &(end, _) in &replay.records {
                prop_assert_eq!(&replay.bytes[start..end], whole.as_bytes());
                start = end;
            }
            prop_assert!(replay.records.last().map_or(0, |r| r.1) >= needed);
        }
    }

    #[test]
    fn a_script_line_of_any_text_is_a_batch_or_an_error(line in ".{0,60}", edits in edits()) {
        let _ = weir::receiver::scripted::parse_line(&line);
        let json = String::from_utf8_lossy(&mutate(r#"["a b", 3, 1.5, {"key": "k", "value": [1, {"x": null}], "time": 7}]"#, &edits)).into_owned();
        if let Ok(b) = weir::receiver::scripted::parse_line(&json) {
            prop_assert!(b.validate().is_ok());
            read_all(&b);
        }
    }
}
