//! What a broker sink has written, kept beside the job's checkpoints: the last batch every message of
//! which the broker acknowledged, and (Kafka) where each partition ended after it. A resumed job skips
//! the batches through it; a Kafka sink reads back only from those ends to learn what a batch cut
//! short left.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::checkpoint::file::{open_json, seal_json, write_atomic};

/// The record.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// The last batch written whole (0: none).
    pub through: u64,
    /// Kafka: per partition, the offset after the last message acknowledged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ends: BTreeMap<i32, i64>,
}

/// Where the record lives.
pub struct WrittenFile(pub PathBuf);

impl WrittenFile {
    /// The record, or an empty one when the sink never finished a batch. A damaged record is refused:
    /// guessing could write a batch twice or skip one.
    ///
    /// ```
    /// # use weir::sink::written::{Written, WrittenFile};
    /// let dir = tempfile::tempdir().unwrap();
    /// let file = WrittenFile(dir.path().join("sink").join("written.json"));
    /// assert_eq!(file.load().unwrap(), Written::default());
    /// let w = Written { through: 2000, ends: [(0, 17)].into() };
    /// file.save(&w).unwrap();
    /// assert_eq!(file.load().unwrap(), w);
    /// std::fs::write(&file.0, "{\"through\": 9}").unwrap();
    /// assert!(file.load().unwrap_err().contains("checksum"));
    /// ```
    pub fn load(&self) -> Result<Written, String> {
        let text = match std::fs::read_to_string(&self.0) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Written::default()),
            Err(e) => return Err(format!("{}: {e}", self.0.display())),
        };
        let json = open_json(&self.0, &text).map_err(|e| e.to_string())?;
        serde_json::from_str(json).map_err(|e| format!("{}: {e}", self.0.display()))
    }

    /// Saves `w` atomically and durably.
    pub fn save(&self, w: &Written) -> Result<(), String> {
        if let Some(dir) = self.0.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let json = serde_json::to_string(w).map_err(|e| e.to_string())?;
        write_atomic(&self.0, seal_json(&json).as_bytes()).map_err(|e| e.to_string())
    }
}

/// A sink's record of what it has written: absent without checkpoints.
#[derive(Default)]
pub struct Record(Option<(Written, WrittenFile)>);

impl Record {
    /// The record kept in `state` (the sink's folder beside the checkpoints, if any): read back when
    /// the job resumes, empty otherwise.
    ///
    /// ```
    /// # use weir::sink::written::Record;
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut r = Record::open(Some(dir.path()), false).unwrap();
    /// r.done(3000, Default::default()).unwrap();
    /// let again = Record::open(Some(dir.path()), true).unwrap();
    /// assert!(again.holds(3000) && !again.holds(4000));
    /// assert!(!Record::open(None, true).unwrap().holds(0));
    /// ```
    pub fn open(state: Option<&std::path::Path>, resume: bool) -> Result<Record, String> {
        Ok(Record(match state.map(|d| WrittenFile(d.join("written.json"))) {
            Some(file) if resume => Some((file.load()?, file)),
            Some(file) => Some((Written::default(), file)),
            None => None,
        }))
    }

    /// True when batch `time` was written whole before.
    pub fn holds(&self, time: u64) -> bool {
        self.0.as_ref().is_some_and(|(w, _)| time <= w.through)
    }

    /// Kafka: where each partition ended after the last batch written whole.
    pub fn ends(&self) -> BTreeMap<i32, i64> {
        self.0.as_ref().map(|(w, _)| w.ends.clone()).unwrap_or_default()
    }

    /// Records batch `time` as written whole, with where partitions now end (Kafka; else empty).
    pub fn done(&mut self, time: u64, ends: BTreeMap<i32, i64>) -> Result<(), String> {
        let Some((w, file)) = &mut self.0 else { return Ok(()) };
        w.through = time;
        w.ends.extend(ends);
        file.save(w).map_err(|e| format!("batch {time}: cannot record it as written: {e}"))
    }
}
