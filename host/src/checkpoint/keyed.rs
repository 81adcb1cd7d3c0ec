//! Reading one stream's keyed state out of a checkpoint: for `weir state dump` and for `weir serve`'s
//! QueryState, which answers from the newest committed checkpoint so that every answer holds the state
//! of one batch, never a mix of a batch half processed.

use thiserror::Error;

use super::{CheckpointError, Restored};
use crate::state::{KeyedPart, StateValue};

/// Why a checkpoint's keyed state could not be read.
#[derive(Debug, Error)]
pub enum KeyedStateError {
    /// The stream keeps no state in the checkpoint.
    #[error("no state for stream `{stream}` in {dir} (streams with state: {held})")]
    NoState {
        /// The stream.
        stream: String,
        /// The checkpoint.
        dir: String,
        /// The streams that have some.
        held: String,
    },
    /// The stream keeps window buffers, not keyed state.
    #[error("stream `{stream}` keeps window buffers (`{shape}`), not keyed state")]
    NotKeyed {
        /// The stream.
        stream: String,
        /// Its state's shape.
        shape: String,
    },
    /// A part or value does not decode.
    #[error("state of stream `{stream}`: {what} does not decode")]
    Decode {
        /// The stream.
        stream: String,
        /// What.
        what: String,
    },
    /// The checkpoint could not be read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// `stream`'s keyed state in `restored`, as (key, value) in key-group order.
pub fn keyed_state(restored: &Restored, stream: &str) -> Result<Vec<(Vec<u8>, StateValue)>, KeyedStateError> {
    let m = &restored.manifest;
    match m.state.get(stream) {
        Some(shape) if shape.starts_with("keyed") => {}
        Some(shape) => return Err(KeyedStateError::NotKeyed { stream: stream.into(), shape: shape.clone() }),
        None => {
            let held: Vec<&str> = m.state.keys().map(String::as_str).collect();
            let held = if held.is_empty() { "none".into() } else { held.join(", ") };
            let dir = restored.dir.display().to_string();
            return Err(KeyedStateError::NoState { stream: stream.into(), dir, held });
        }
    }
    let bad = |what: String| KeyedStateError::Decode { stream: stream.into(), what };
    let mut entries = Vec::new();
    for ((s, worker), payload) in &restored.parts {
        if s == stream {
            let part: KeyedPart =
                postcard::from_bytes(payload).map_err(|e| bad(format!("the part of worker {worker} ({e})")))?;
            entries.extend(part.entries);
        }
    }
    // Sorted by [group][key], the order the state database scans in.
    entries.sort();
    entries
        .into_iter()
        .map(|(full, raw)| {
            let v = StateValue::decode(&raw).ok_or_else(|| bad("a value".into()))?;
            Ok((full.get(1..).unwrap_or_default().to_vec(), v))
        })
        .collect()
}
