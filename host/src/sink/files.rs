//! `files`: one text file per batch, `<prefix>-<t>.<suffix>` (Spark's `saveAsTextFiles`), one record per
//! line, written to a temporary name and renamed so readers never see half a batch.

use std::path::PathBuf;

use weir_sdk::packed::Batch;

use super::{Sink, SinkError};
use crate::render;

/// Writes per-batch files.
pub struct Files {
    /// Sink name.
    pub name: String,
    /// Path prefix.
    pub prefix: PathBuf,
    /// File suffix.
    pub suffix: String,
}

impl Sink for Files {
    /// The newest `<prefix>-<t>.<suffix>` file there is.
    fn holds_through(&self) -> Option<u64> {
        let dir = self.prefix.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        let stem = format!("{}-", self.prefix.file_name()?.to_string_lossy());
        let end = format!(".{}", self.suffix);
        let names = std::fs::read_dir(dir).ok()?.flatten().map(|e| e.file_name().to_string_lossy().into_owned());
        names.filter_map(|n| n.strip_prefix(&stem)?.strip_suffix(&end)?.parse().ok()).max()
    }

    fn write_batch(&mut self, time: u64, records: &Batch, order: &[usize]) -> Result<(), SinkError> {
        let path = PathBuf::from(format!("{}-{time}.{}", self.prefix.display(), self.suffix));
        let tmp = path.with_extension(format!("{}.tmp", self.suffix));
        let mut text = String::new();
        for &i in order {
            text.push_str(&render::text(&records.get(i)));
            text.push('\n');
        }
        let io = |source| SinkError::Io { sink: self.name.clone(), path: path.clone(), source };
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}
