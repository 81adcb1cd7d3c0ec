//! `greedy`: a transform that imports an interface the host does not offer (`weir:greedy/secrets`),
//! written against the raw WIT. The host must refuse to load it, naming the stream; it never runs.

#[allow(clippy::too_many_arguments)]
mod bindings {
    wit_bindgen::generate!({ path: ["../../wit/deps/operator-0.1.0", "wit"], world: "weir:greedy/greedy", generate_all });
}

use bindings::weir::operator::types::TransformKind;
use bindings::{Batch, Descriptor, Guest, Output, Param};

struct Greedy;

impl Guest for Greedy {
    fn describe() -> Descriptor {
        Descriptor { name: "greedy".into(), version: "0.1.0".into(), kind: TransformKind::Map, params: Vec::new() }
    }

    fn init(_params: Vec<Param>) -> Result<(), String> {
        Ok(())
    }

    fn process(_batch_time: i64, input: Batch) -> Output {
        let _ = bindings::weir::greedy::secrets::read();
        Output { records: input, errors: Vec::new() }
    }
}

bindings::export!(Greedy with_types_in bindings);
