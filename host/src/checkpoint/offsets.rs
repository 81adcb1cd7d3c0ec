//! Source offsets: how far into its input a source was when a batch was cut, so a resumed job re-reads
//! exactly what came after. Receivers send [`OffsetMark`]s in line with their data; the batcher folds
//! them into one [`SourceOffset`] per source and records it with each checkpointed batch.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Where a source resumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceOffset {
    /// Nothing read yet.
    #[default]
    Start,
    /// Units consumed: script lines, or generated lines.
    Units(u64),
    /// Directory source: files read whole, and the file being read with the bytes already taken.
    Files {
        /// Files read to the end (or present at start and skipped).
        done: BTreeSet<String>,
        /// The file being read and the byte offset reached.
        current: Option<(String, u64)>,
        /// Of `done`, the files present at the start and skipped unread (`include_existing = false`).
        #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
        skipped: BTreeSet<String>,
        /// Other files partly read, by the byte reached: in a cluster's checkpoint, the file each other
        /// process was reading; after rescaling, the files one process takes over.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        reading: BTreeMap<String, u64>,
    },
    /// Write-ahead log position: bytes of the log already in batches.
    Log(u64),
    /// A connector's own offset, which only it reads (a Kafka source's next offset per partition).
    Own(serde_json::Value),
}

/// One step forward, sent by a receiver right after the data it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetMark {
    /// Units consumed so far.
    Units(u64),
    /// Directory source: `file` has been read up to byte `pos`.
    FileAt(String, u64),
    /// Directory source: `file` is read to its end.
    FileDone(String),
    /// Directory source: `file` was there at the start and is skipped unread.
    FileSkipped(String),
    /// Directory source: `file`, read or skipped earlier, is no longer in the directory, so the
    /// offset forgets it: offsets grow with the directory, not with every file ever read.
    FileGone(String),
    /// Write-ahead log: bytes logged so far.
    Log(u64),
    /// A connector's own offset, covering everything it sent before (it replaces the last one).
    Own(serde_json::Value),
}

impl SourceOffset {
    /// Moves this offset past `mark`.
    ///
    /// ```
    /// use weir::checkpoint::{OffsetMark, SourceOffset};
    /// let mut o = SourceOffset::Start;
    /// o.apply(OffsetMark::FileAt("a.txt".into(), 10));
    /// o.apply(OffsetMark::FileDone("a.txt".into()));
    /// o.apply(OffsetMark::FileAt("b.txt".into(), 4));
    /// assert_eq!(o.files_done().unwrap().len(), 1);
    /// assert_eq!(o.file_position(), Some(("b.txt", 4)));
    /// ```
    pub fn apply(&mut self, mark: OffsetMark) {
        match mark {
            OffsetMark::Units(n) => *self = SourceOffset::Units(n),
            OffsetMark::Log(n) => *self = SourceOffset::Log(n),
            OffsetMark::Own(v) => *self = SourceOffset::Own(v),
            OffsetMark::FileAt(file, pos) => {
                self.as_files();
                if let SourceOffset::Files { done, current, reading, .. } = self {
                    reading.remove(&file);
                    // A file left unfinished keeps its place: it is read on from there.
                    if let Some((f, p)) = current.take()
                        && f != file
                        && !done.contains(&f)
                    {
                        reading.insert(f, p);
                    }
                    *current = Some((file, pos));
                }
            }
            OffsetMark::FileSkipped(file) => {
                self.as_files();
                if let SourceOffset::Files { done, skipped, .. } = self {
                    skipped.insert(file.clone());
                    done.insert(file);
                }
            }
            OffsetMark::FileGone(file) => {
                if let SourceOffset::Files { done, skipped, reading, .. } = self {
                    done.remove(&file);
                    skipped.remove(&file);
                    reading.remove(&file);
                }
            }
            OffsetMark::FileDone(file) => {
                self.as_files();
                if let SourceOffset::Files { done, current, reading, .. } = self {
                    if current.as_ref().is_some_and(|(f, _)| *f == file) {
                        *current = None;
                    }
                    reading.remove(&file);
                    done.insert(file);
                }
            }
        }
    }

    fn as_files(&mut self) {
        if !matches!(self, SourceOffset::Files { .. }) {
            *self = SourceOffset::Files {
                done: BTreeSet::new(),
                current: None,
                skipped: BTreeSet::new(),
                reading: BTreeMap::new(),
            };
        }
    }

    /// Units consumed (0 at the start).
    pub fn units(&self) -> u64 {
        match self {
            SourceOffset::Units(n) | SourceOffset::Log(n) => *n,
            _ => 0,
        }
    }

    /// Directory source: the files already read.
    pub fn files_done(&self) -> Option<&BTreeSet<String>> {
        match self {
            SourceOffset::Files { done, .. } => Some(done),
            _ => None,
        }
    }

    /// Directory source: the files present at the start and skipped.
    pub fn files_skipped(&self) -> Option<&BTreeSet<String>> {
        match self {
            SourceOffset::Files { skipped, .. } => Some(skipped),
            _ => None,
        }
    }

    /// True when this offset has gone past `target`, coming from `from` (where the source was when it
    /// set out for `target`): a source replaying up to a logged batch's end overshot it, so that batch
    /// cannot be cut again exactly. A directory offset that lists a file `target` does not has gone
    /// past it only when the file is new since `from`: a file already listed there may have left the
    /// directory before `target` and be forgotten on the way. A connector's own offsets are never seen
    /// as past: the connector itself stops exactly at each logged end.
    ///
    /// ```
    /// use std::collections::BTreeSet;
    /// use weir::checkpoint::SourceOffset;
    /// let start = SourceOffset::Start;
    /// assert!(SourceOffset::Units(5).passed(&start, &SourceOffset::Units(4)));
    /// assert!(!SourceOffset::Units(4).passed(&start, &SourceOffset::Units(4)));
    /// assert!(!SourceOffset::Start.passed(&start, &SourceOffset::Log(9)));
    /// let files = |names: &[&str]| SourceOffset::Files {
    ///     done: names.iter().map(|n| n.to_string()).collect(),
    ///     current: None,
    ///     skipped: BTreeSet::new(),
    ///     reading: Default::default(),
    /// };
    /// // `a` left the directory on the way to the target: not past it.
    /// assert!(!files(&["a", "b"]).passed(&files(&["a", "b"]), &files(&["b", "c"])));
    /// // `d` was read, and the target never had it: past it.
    /// assert!(files(&["b", "d"]).passed(&files(&["a", "b"]), &files(&["b", "c"])));
    /// ```
    pub fn passed(&self, from: &SourceOffset, target: &SourceOffset) -> bool {
        match (self, target) {
            (SourceOffset::Start, _) => false,
            (_, SourceOffset::Start) => true,
            (SourceOffset::Files { done, .. }, SourceOffset::Files { .. }) => {
                let listed = |o: &SourceOffset, f: &str| {
                    o.files_done().is_some_and(|d| d.contains(f)) || o.position_of(f).is_some()
                };
                let new_beyond = |f: &str| !listed(target, f) && !listed(from, f);
                done.iter().any(|f| new_beyond(f))
                    || self.positions().any(|(f, p)| match target.position_of(f) {
                        Some(q) => p > q,
                        None => new_beyond(f),
                    })
            }
            (SourceOffset::Own(_), _) | (_, SourceOffset::Own(_)) => false,
            (a, b) => a.units() > b.units(),
        }
    }

    /// Directory source: the file being read and how far.
    pub fn file_position(&self) -> Option<(&str, u64)> {
        match self {
            SourceOffset::Files { current: Some((f, p)), .. } => Some((f.as_str(), *p)),
            _ => None,
        }
    }

    /// Directory source: every file partly read and how far, the current one first.
    ///
    /// ```
    /// use weir::checkpoint::{OffsetMark, SourceOffset};
    /// let mut o = SourceOffset::Start;
    /// o.apply(OffsetMark::FileAt("a".into(), 3));
    /// o.apply(OffsetMark::FileAt("b".into(), 4)); // `a` is not done: it keeps its place
    /// assert_eq!(o.positions().collect::<Vec<_>>(), [("b", 4), ("a", 3)]);
    /// assert_eq!(o.position_of("a"), Some(3));
    /// ```
    pub fn positions(&self) -> impl Iterator<Item = (&str, u64)> {
        let reading = match self {
            SourceOffset::Files { reading, .. } => Some(reading.iter().map(|(f, p)| (f.as_str(), *p))),
            _ => None,
        };
        self.file_position().into_iter().chain(reading.into_iter().flatten())
    }

    /// Directory source: how far `file` was read, when it is partly read.
    pub fn position_of(&self, file: &str) -> Option<u64> {
        self.positions().find(|(f, _)| *f == file).map(|(_, p)| p)
    }
}
