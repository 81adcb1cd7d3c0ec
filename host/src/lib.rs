//! # Weir
//!
//! A WebAssembly-pluggable micro-batch stream processor on timely-dataflow. One record's path:
//! `receiver` (tokio task per source) → `batcher` (batch clock, one timely epoch per batch) → `graph`
//! (spec → plan → dataflow) → `operator` (native and Wasm) → `window` → `sink`. See
//! `docs/ARCHITECTURE.md`.

pub mod batcher;
pub mod checkpoint;
pub mod event;
pub mod graph;
pub mod job;
pub mod lock;
pub mod memory;
pub mod metrics;
#[cfg(feature = "nats")]
pub mod nats;
pub mod operator;
pub mod pace;
pub mod pg;
pub mod receiver;
pub mod registry;
pub mod render;
pub mod rpc;
pub mod server;
pub mod sink;
pub mod state;
pub mod stream;
pub mod table;
pub mod ui;
pub mod window;
