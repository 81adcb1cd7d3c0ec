//! Where a stream's keys come from: the nearest operator upstream that sets them. Keyed state is only
//! meaningful under the keys it was built with, so a checkpoint records each stateful stream's key origin
//! and a resumed job whose keys come from elsewhere (a new key expression, `map_to_pair` swapped for a
//! `map`) refuses that state, as it refuses a changed reducer or window.

use std::collections::BTreeSet;

use super::Plan;
use super::spec::StreamSpec;

/// A short description of what sets the keys of `stream` (a stream or source of `plan`). Operators that
/// keep their input's keys (filters, windows, joins, reductions by key, ...) are looked through; a Wasm
/// transform may set keys, so its keys come from "a wasm transform", whichever version it is (a plugin
/// upgrade keeps state).
///
/// ```
/// let plan = weir::graph::parse(std::path::Path::new("job.toml"), r#"
/// [job]
/// name = "k"
/// batch_interval = "1s"
/// [sources.lines]
/// kind = "socket"
/// port = 9999
/// [streams.pairs]
/// op = "map"
/// from = "lines"
/// key = "str::to_uppercase(value)"
/// [streams.kept]
/// op = "filter"
/// from = "pairs"
/// where = "value != \"\""
/// [sinks.out]
/// kind = "print"
/// from = "kept"
/// "#).unwrap();
/// assert_eq!(weir::graph::key_origin(&plan, "kept"), "map key = `str::to_uppercase(value)` (stream `pairs`)");
/// assert_eq!(weir::graph::key_origin(&plan, "lines"), "source `lines`");
/// ```
pub fn key_origin(plan: &Plan, stream: &str) -> String {
    let Some((_, spec)) = plan.streams.iter().find(|(n, _)| n == stream) else {
        return format!("source `{stream}`");
    };
    let set = |what: String| format!("{what} (stream `{stream}`)");
    match spec {
        StreamSpec::MapToPair { .. } => set("map_to_pair".into()),
        StreamSpec::Map { key: Some(key), .. } => set(format!("map key = `{key}`")),
        StreamSpec::Wasm { .. } => set("a wasm transform".into()),
        StreamSpec::CountByValue { .. } => set("count_by_value".into()),
        StreamSpec::Count { .. } | StreamSpec::Reduce { .. } => set("none".into()),
        other => {
            // Several inputs (union, join, cogroup): each distinct origin, in a stable order.
            let origins: BTreeSet<String> = other.inputs().into_iter().map(|i| key_origin(plan, i)).collect();
            origins.into_iter().collect::<Vec<_>>().join(" + ")
        }
    }
}
