//! `hostile`: a transform written against the raw WIT (no SDK) that returns what a well-behaved plugin
//! never does, for the host's tests. Each input record's text picks the misbehaviour of the whole call:
//! `backwards` (value offsets that go back), `past-end` (a last offset past the value bytes), `ragged`
//! (columns of different lengths), `bad-index` (a `bad-record` index out of range), `fatal` (a fatal
//! error from a transform). Any other text passes through. It declares kind `map`, so the host
//! isolates the record that provoked it.

#[allow(clippy::too_many_arguments)]
mod bindings {
    wit_bindgen::generate!({ path: "../../wit/deps/operator-0.1.0", world: "transform" });
}

use bindings::weir::operator::types::{BadRecord, Error, TransformKind};
use bindings::{Batch, Descriptor, Guest, Output, Param};

struct Hostile;

impl Guest for Hostile {
    fn describe() -> Descriptor {
        Descriptor { name: "hostile".into(), version: "0.1.0".into(), kind: TransformKind::Map, params: Vec::new() }
    }

    fn init(_params: Vec<Param>) -> Result<(), String> {
        Ok(())
    }

    fn process(_batch_time: i64, input: Batch) -> Output {
        let n = input.kinds.len();
        let text = |i: usize| {
            let (s, e) = (input.value_offsets[i] as usize, input.value_offsets[i + 1] as usize);
            String::from_utf8_lossy(&input.values[s..e]).into_owned()
        };
        let asked: Vec<String> = (0..n).map(text).collect();
        let mut records = input;
        let mut errors = Vec::new();
        if asked.iter().any(|t| t == "backwards") && n > 0 {
            records.value_offsets[n] = 0;
            records.value_offsets[0] = 1;
        } else if asked.iter().any(|t| t == "past-end") {
            records.value_offsets[n] += 100;
        } else if asked.iter().any(|t| t == "ragged") {
            records.event_times.push(0);
        } else if asked.iter().any(|t| t == "bad-index") {
            errors.push(Error::BadRecord(BadRecord { index: n as u32 + 7, reason: "out of range".into() }));
        } else if asked.iter().any(|t| t == "fatal") {
            errors.push(Error::Fatal("asked to give up".into()));
        }
        Output { records, errors }
    }
}

bindings::export!(Hostile with_types_in bindings);
