//! What a directory offset changed between two batches. The batch log records each directory offset as
//! the change from the batch logged before it, so an entry costs the files of one batch, not the names
//! of every file in the directory; a manifest keeps the whole offset.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::SourceOffset;

/// A directory offset's change from the offset of the batch before.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesChange {
    /// Files read to the end (or skipped) since.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub done: BTreeSet<String>,
    /// Of `done`, the files skipped unread.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub skipped: BTreeSet<String>,
    /// Files forgotten since (no longer in the directory).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub gone: BTreeSet<String>,
    /// The file being read and the byte offset reached.
    pub current: Option<(String, u64)>,
    /// Other files partly read (see [`SourceOffset::Files`]), whole: there are few.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reading: BTreeMap<String, u64>,
}

impl FilesChange {
    /// The change from `before` to `after`, when both are directory offsets (`before` may be the start).
    ///
    /// ```
    /// use weir::checkpoint::{FilesChange, OffsetMark, SourceOffset};
    /// let mut before = SourceOffset::Start;
    /// before.apply(OffsetMark::FileDone("a".into()));
    /// before.apply(OffsetMark::FileDone("b".into()));
    /// let mut after = before.clone();
    /// after.apply(OffsetMark::FileGone("a".into()));
    /// after.apply(OffsetMark::FileAt("c".into(), 7));
    /// let change = FilesChange::between(&before, &after).unwrap();
    /// assert_eq!(change.gone.len(), 1);
    /// assert_eq!(change.apply_to(&before), after);
    /// ```
    pub fn between(before: &SourceOffset, after: &SourceOffset) -> Option<FilesChange> {
        let empty = BTreeSet::new();
        let (had, had_skipped) = match before {
            SourceOffset::Start => (&empty, &empty),
            other => (other.files_done()?, other.files_skipped()?),
        };
        let (done, skipped) = (after.files_done()?, after.files_skipped()?);
        Some(FilesChange {
            done: done.difference(had).cloned().collect(),
            skipped: skipped.difference(had_skipped).cloned().collect(),
            gone: had.difference(done).cloned().collect(),
            current: after.file_position().map(|(f, p)| (f.to_string(), p)),
            reading: match after {
                SourceOffset::Files { reading, .. } => reading.clone(),
                _ => BTreeMap::new(),
            },
        })
    }

    /// The offset `before` moved on by this change.
    pub fn apply_to(&self, before: &SourceOffset) -> SourceOffset {
        let (mut done, mut skipped) = match before {
            SourceOffset::Files { done, skipped, .. } => (done.clone(), skipped.clone()),
            _ => Default::default(),
        };
        for f in &self.gone {
            done.remove(f);
            skipped.remove(f);
        }
        done.extend(self.done.iter().cloned());
        skipped.extend(self.skipped.iter().cloned());
        SourceOffset::Files { done, current: self.current.clone(), skipped, reading: self.reading.clone() }
    }
}
