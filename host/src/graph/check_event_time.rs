//! Checks of event-time streams: an `event_window`'s window (a length or a gap, not both; a slide that
//! fits its length; an offset within the slide) and a `late_records` stream reading an `event_window` or a
//! `drop_duplicates`.
//! A refusal is the field at fault and why; `plan.rs` adds the section, name and line.

use std::collections::BTreeMap;

use super::check_connectors::Refusal;
use super::spec::{ReducerKind, StreamSpec};

fn refuse(field: &'static str, message: impl Into<String>) -> Result<(), Refusal> {
    Err((field, message.into()))
}

/// Checks `stream` (other kinds pass) among the job's `streams`.
pub(super) fn stream(stream: &StreamSpec, streams: &BTreeMap<String, StreamSpec>) -> Result<(), Refusal> {
    match stream {
        StreamSpec::EventWindow { length, slide, gap, offset, reducer, .. } => {
            if !matches!(reducer, ReducerKind::Sum | ReducerKind::Count | ReducerKind::Min | ReducerKind::Max) {
                return refuse("reducer", "an event-time window folds with `sum`, `count`, `min` or `max`");
            }
            match (length, gap) {
                (Some(_), Some(_)) => {
                    refuse("gap", "a window has a `length` (tumbling, sliding) or a `gap` (sessions), not both")
                }
                (None, None) => {
                    refuse("length", "give the window a `length` (tumbling, sliding) or a `gap` (sessions)")
                }
                (None, Some(g)) if g.0 == 0 => refuse("gap", "must be above 0"),
                (None, Some(_)) if slide.is_some() => refuse("slide", "session windows have no slide"),
                (None, Some(_)) => Ok(()),
                (Some(l), _) => {
                    let slide = slide.unwrap_or(*l);
                    if l.0 == 0 || slide.0 == 0 {
                        refuse("length", "the length and the slide must be above 0")
                    } else if slide.0 > l.0 {
                        refuse(
                            "slide",
                            format!(
                                "a slide of {slide} is longer than the window ({l}): records would fall between windows"
                            ),
                        )
                    } else if offset.0 >= slide.0 {
                        refuse("offset", format!("an offset of {offset} is not shorter than the slide ({slide})"))
                    } else {
                        Ok(())
                    }
                }
            }
        }
        StreamSpec::LateRecords { from }
            if !matches!(
                streams.get(from),
                Some(StreamSpec::EventWindow { .. } | StreamSpec::DropDuplicates { .. })
            ) =>
        {
            refuse("from", format!("`{from}` is not an event_window or drop_duplicates stream"))
        }
        _ => Ok(()),
    }
}
