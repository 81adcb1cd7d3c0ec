//! The one type every stage of a job's dataflow passes on: a stream of packed batches, timestamped with
//! batch times in milliseconds. It lives below the stages (receivers' inputs, operators, windows, sinks
//! and the graph that wires them) so that none imports it from another.

use timely::dataflow::Stream;
use weir_sdk::packed::Batch;

/// A stream of packed batches, timestamped with batch times in milliseconds.
pub type BatchStream<'s> = Stream<'s, u64, Vec<Batch>>;
