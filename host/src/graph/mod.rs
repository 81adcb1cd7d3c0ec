//! The job graph: spec (TOML) → checked plan → timely dataflow, and the loop that drives each worker.

mod check_connectors;
mod check_event_time;
pub mod dataflow;
pub mod grants;
pub mod key_origin;
mod locate;
pub mod millis;
pub mod placement;
pub mod plan;
pub mod relay;
pub mod restart;
mod sink_spec;
mod source_spec;
pub mod spec;
pub mod streams;
pub mod worker;

pub use key_origin::key_origin;
pub use plan::{Plan, SpecError, load, parse, parse_placed};
