//! What a benchmark checks it timed, so that a broken fast path cannot look fast: the corpus's word
//! counts made here, independently of the engine (split on ASCII whitespace, a `HashMap`), compared with
//! what the timed job left behind (its state database or its output file), and a run report with no
//! failed batch and no dead letter.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;

use weir::job::RunReport;

/// Word counts reduced to what a comparison needs: the words, the distinct keys, and a digest of every
/// (word, count) pair that does not depend on their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub words: u64,
    pub keys: usize,
    pub digest: u64,
}

impl Counts {
    pub fn of<K: AsRef<[u8]>>(counts: impl IntoIterator<Item = (K, u64)>) -> Counts {
        let (mut words, mut keys, mut digest) = (0, 0, 0u64);
        for (key, n) in counts {
            // SipHash with fixed keys: the same pair hashes the same in every run.
            let mut h = std::hash::DefaultHasher::new();
            (key.as_ref(), n).hash(&mut h);
            digest = digest.wrapping_add(h.finish());
            words += n;
            keys += 1;
        }
        Counts { words, keys, digest }
    }

    /// Fails the benchmark unless `got`, what the job made, equals these counts.
    pub fn assert_same(&self, got: Counts, what: &str) {
        assert_eq!(got, *self, "{what}: the job's word counts differ from the independent count");
    }
}

/// The word counts of every `.txt` file in `data`, made without the engine.
pub fn corpus_counts(data: &Path) -> Counts {
    let mut counts: HashMap<Vec<u8>, u64> = HashMap::new();
    for entry in std::fs::read_dir(data).expect("corpus").flatten() {
        if entry.path().extension().is_some_and(|e| e == "txt") {
            let bytes = std::fs::read(entry.path()).expect("corpus file");
            for word in bytes.split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty()) {
                *counts.entry(word.to_vec()).or_default() += 1;
            }
        }
    }
    Counts::of(counts)
}

/// The counts a keyed stream holds in the state database at `dir`, after its job has ended.
pub fn state_counts(dir: &Path, stream: &str) -> Counts {
    let db = weir::state::StateDb::open(Some(dir), 1000).expect("the job's state database");
    let state = db.keyed(stream).expect("the stream's state");
    let mut counts = Vec::new();
    for group in 0..=u8::MAX {
        for entry in state.scan(group) {
            let (key, value) = entry.expect("a state entry");
            counts.push((key, value.as_i64().expect("a count") as u64));
        }
    }
    Counts::of(counts)
}

/// The counts of a `jsonl` sink's file of per-batch counts (`{"key": .., "value": ..}` records), summed
/// over the batches.
pub fn summed_output(path: &Path) -> Counts {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for record in super::jsonl_records(path) {
        let key = record["key"].as_str().expect("a word").to_string();
        *counts.entry(key).or_default() += record["value"].as_u64().expect("a count");
    }
    Counts::of(counts)
}

/// Fails the benchmark unless the run cut `batches` batches with no failed batch and no dead letter.
pub fn assert_clean(report: &RunReport, batches: u64) {
    assert_eq!(report.batches, batches, "batches cut");
    assert_eq!(report.failed_batches, 0, "batches a plugin failed: {report:?}");
    assert_eq!(report.dead_letters, 0, "records sent to the dead letters: {report:?}");
}
