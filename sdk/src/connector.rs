//! Sources and sinks written as plugins: the traits `#[weir::source]` and `#[weir::sink]` implement.
//!
//! A source's offset is any serde type; the host stores it as its compact JSON text and compares offsets
//! by that text, so use types whose encoding is deterministic (numbers, strings, structs, `BTreeMap`;
//! never `HashMap`).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Record;
use crate::operator::Plugin;

/// What one read of a source gave: records, where the source got to, and whether its input ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Read<O> {
    /// Records read, in order.
    pub records: Vec<Record<'static>>,
    /// Where the source is after them: read from here, the source goes on with the record after them.
    pub next: O,
    /// The input has ended: no record will ever follow these.
    pub finished: bool,
}

/// A source plugin (`#[weir::source]` implements it).
pub trait Source: Plugin {
    /// Where the source is in its input.
    type Offset: Default + Clone + PartialEq + Serialize + DeserializeOwned;

    /// At most `max` records from `from`; with `until`, none past it, and `next == until` once every
    /// record before it is read. The same `from` must always give the same records: a job resumed after
    /// a crash reads again from its checkpoint's offset and must cut the same batches.
    fn read(from: &Self::Offset, max: usize, until: Option<&Self::Offset>) -> Result<Read<Self::Offset>, String>;

    /// A checkpoint holding everything up to `through` has committed: acknowledge it upstream.
    fn commit(_through: &Self::Offset) -> Result<(), String> {
        Ok(())
    }
}

/// A sink plugin (`#[weir::sink]` implements it).
pub trait Sink: Plugin {
    /// Writes the batch at `time` (milliseconds). Must be idempotent by `time`: a job resumed after a
    /// crash writes the batches after its last checkpoint again, with the same records.
    fn write(time: i64, records: Vec<Record<'_>>) -> Result<(), String>;

    /// The newest batch time the target already holds, when the sink can tell.
    fn holds_through() -> Option<i64> {
        None
    }
}

/// The text the host stores for `offset`.
///
/// ```
/// assert_eq!(weir_sdk::connector::offset_text(&(3u64, "a")).unwrap(), r#"[3,"a"]"#);
/// ```
pub fn offset_text<O: Serialize>(offset: &O) -> Result<String, String> {
    serde_json::to_string(offset).map_err(|e| format!("cannot encode the offset: {e}"))
}

/// The offset the host stored as `text`.
///
/// ```
/// let o: u64 = weir_sdk::connector::parse_offset("17").unwrap();
/// assert_eq!(o, 17);
/// assert!(weir_sdk::connector::parse_offset::<u64>("\"x\"").unwrap_err().contains("\"x\""));
/// ```
pub fn parse_offset<O: DeserializeOwned>(text: &str) -> Result<O, String> {
    serde_json::from_str(text).map_err(|e| format!("offset {text:?} is not one of this source's: {e}"))
}
