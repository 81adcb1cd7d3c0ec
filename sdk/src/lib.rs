//! # weir-sdk
//!
//! Write Weir stream operators as plain per-record Rust functions. Depend on this crate under the name
//! `weir` and put one attribute on one function; the attribute builds the whole WebAssembly component:
//!
//! ```toml
//! [dependencies]
//! weir = { package = "weir-sdk", version = "0.1" }
//! ```
//!
//! ```ignore
//! use weir::Record;
//!
//! #[weir::flat_map]
//! fn tokenize(r: Record<'_>) -> impl Iterator<Item = Record<'_>> {
//!     let text = match r.value { weir::Value::Text(std::borrow::Cow::Borrowed(s)) => s, _ => "" };
//!     text.split_whitespace().map(Record::text)
//! }
//! ```
//!
//! The transform attributes are [`map`], [`flat_map`], [`filter`], [`filter_map`] and [`batch`] (the
//! whole batch); keyed functions use [`reduce`] (with an optional inverse), [`update_state`] and
//! [`map_with_state`], whose arguments convert through [`Datum`]. Each also defines a unit
//! struct named after the function in PascalCase (`tokenize` → `Tokenize`) that [`testing::Harness`] runs
//! natively. A function may return `Result<_, E: Display>`: an `Err` sends that input record to the job's
//! dead-letter output with the message as the reason. Output records left at time 0 inherit the input's
//! event time. Declared parameters (`#[weir::map(params = ["sep"])]`) are read with [`param`]; any other
//! parameter in the job spec is refused before the job starts.
//!
//! Sources and sinks are plugins too: [`source`] turns `fn(from: O, max: usize, until: Option<O>) ->
//! Result<Read<O>, E>` into a source with offsets of type `O`, and [`sink`] turns `fn(time: i64, records:
//! Vec<Record>) -> Result<(), E>` into a sink; they reach outside only through [`http`], to the hosts the
//! job grants. [`testing::SourceHarness`] and [`testing::SinkHarness`] run them natively.
//!
//! Build with `weir op build <dir>` or `cargo build --release --target wasm32-wasip2`.

extern crate self as weir;

pub mod connector;
pub mod datum;
pub mod http;
pub mod log;
pub mod model;
pub mod operator;
pub mod packed;
pub mod record;
pub mod reducer;
pub mod state;
pub mod testing;
pub mod text;

#[cfg(feature = "guest")]
mod guest;

pub use connector::{Read, Sink, Source};
pub use datum::{Datum, Fallible, FromKey, Json};
pub use operator::{Operator, Output, Plugin, TransformKind, param, param_as, set_params};
pub use record::{Record, Value};
pub use reducer::{Groups, Reducer};
pub use state::{State, StateInput, StateOutput, StateUpdater};
pub use weir_sdk_macros::{
    batch, filter, filter_map, flat_map, map, map_with_state, reduce, sink, source, update_state,
};

/// Glue used by the attribute macros' expansions; not a stable API.
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "guest")]
    pub use crate::guest::{
        bindings, combine, connector, describe, init, inverse, process, reducer_bindings, sink_bindings,
        source_bindings, state_bindings, update,
    };
}
