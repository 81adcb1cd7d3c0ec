//! `stuck`: a transform written against the raw WIT whose `describe` loops forever, for the host's test
//! that the deadline applies to `describe` too (the first call a plugin gets, before any parameter).

#[allow(clippy::too_many_arguments)]
mod bindings {
    wit_bindgen::generate!({ path: "../../wit/deps/operator-0.1.0", world: "transform" });
}

use std::hint::black_box;

use bindings::{Batch, Descriptor, Guest, Output, Param};

struct Stuck;

impl Guest for Stuck {
    fn describe() -> Descriptor {
        let mut n = 0u64;
        loop {
            n = black_box(n.wrapping_add(1));
        }
    }

    fn init(_params: Vec<Param>) -> Result<(), String> {
        Ok(())
    }

    fn process(_batch_time: i64, input: Batch) -> Output {
        Output { records: input, errors: Vec::new() }
    }
}

bindings::export!(Stuck with_types_in bindings);
