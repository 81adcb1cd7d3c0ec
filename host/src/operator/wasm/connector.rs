//! The calls of the `source` and `sink` worlds on a plugin instance, each under the instance's deadline
//! and memory cap, as a stream plugin's calls are. A failed call (a trap, the deadline) leaves the
//! instance unusable: the caller drops it and makes a new one.

use std::sync::Arc;
use std::time::Duration;

use weir_sdk::packed::Batch;

use super::bindings::{connector, types as wit};
use super::engine::LoadedPlugin;
use super::instance::{PluginInstance, World};
use super::sandbox::Limits;
use super::{BatchFailure, PluginError};

/// A plugin source or sink as its job loaded and checked it: what each of its instances is made with.
#[derive(Clone)]
pub struct Connector {
    /// The component.
    pub plugin: Arc<LoadedPlugin>,
    /// Limits of each call.
    pub limits: Limits,
    /// Hosts it may reach over HTTP, and the timeout of one request.
    pub http: (Vec<String>, Duration),
}

/// What one `poll` read.
#[derive(Debug)]
pub struct Polled {
    /// Records read, in order.
    pub records: Batch,
    /// Where the source is after them, as its own text.
    pub offset: String,
    /// The input has ended.
    pub finished: bool,
}

/// The longest offset a source may return: it is stored with every batch and checkpoint.
pub const MAX_OFFSET: usize = 64 << 10;

/// A call's outcome: the sandbox's verdict, then the plugin's own answer.
pub type Called<T> = Result<Result<T, String>, BatchFailure>;

impl PluginInstance {
    /// What a source or sink says about itself.
    pub fn about(&mut self) -> Result<connector::About, PluginError> {
        self.arm();
        let r = match &self.world {
            World::Source(w) => w.call_describe(&mut self.store),
            World::Sink(w) => w.call_describe(&mut self.store),
            _ => return Err(self.not_a_connector()),
        };
        self.starting("describe", r)
    }

    /// Moves a source to `at` (none: the start of its input).
    pub fn seek(&mut self, at: Option<&str>) -> Called<()> {
        self.arm();
        let World::Source(w) = &self.world else { return Err(self.not_a("source")) };
        let at = at.map(str::to_string);
        let r = w.call_seek(&mut self.store, at.as_ref());
        self.finish(r)
    }

    /// Reads at most `max` records, none past `until`.
    pub fn poll(&mut self, max: u32, until: Option<&str>) -> Called<Polled> {
        self.arm();
        let World::Source(w) = &self.world else { return Err(self.not_a("source")) };
        let until = until.map(str::to_string);
        let r = w.call_poll_records(&mut self.store, max, until.as_ref());
        let polled = match self.finish(r)? {
            Ok(p) => p,
            Err(refused) => return Ok(Err(refused)),
        };
        let records = weir_sdk::move_columns!(polled.records => Batch);
        records.validate().map_err(|e| BatchFailure::BadOutput(e.to_string()))?;
        if records.len() > max as usize {
            return Err(BatchFailure::BadOutput(format!("{} records where at most {max} were asked", records.len())));
        }
        if polled.offset.len() > MAX_OFFSET {
            let msg = format!("an offset of {} bytes (at most {MAX_OFFSET})", polled.offset.len());
            return Err(BatchFailure::BadOutput(msg));
        }
        Ok(Ok(Polled { records, offset: polled.offset, finished: polled.finished }))
    }

    /// Tells a source a checkpoint holding `through` has committed.
    pub fn commit(&mut self, through: &str) -> Called<()> {
        self.arm();
        let World::Source(w) = &self.world else { return Err(self.not_a("source")) };
        let r = w.call_commit(&mut self.store, &through.to_string());
        self.finish(r)
    }

    /// The newest batch time a sink's target holds, if it can tell.
    pub fn holds_through(&mut self) -> Result<Option<i64>, BatchFailure> {
        self.arm();
        let World::Sink(w) = &self.world else { return Err(self.not_a("sink")) };
        let r = w.call_holds_through(&mut self.store);
        self.finish(r)
    }

    /// Writes the batch at `time` with a sink, and hands the batch back (to try it again).
    pub fn write(&mut self, time: u64, records: Batch) -> (Called<()>, Batch) {
        self.arm();
        let World::Sink(w) = &self.world else { return (Err(self.not_a("sink")), records) };
        let batch: wit::Batch = weir_sdk::move_columns!(records => wit::Batch);
        let r = w.call_write_batch(&mut self.store, time as i64, &batch);
        (self.finish(r), weir_sdk::move_columns!(batch => Batch))
    }

    /// The HTTP denial the plugin was given in its last call, if any: the call fails with it even if
    /// the plugin went on.
    pub fn take_denied(&mut self) -> Option<String> {
        self.store.data_mut().http.take_denied()
    }

    fn not_a_connector(&self) -> PluginError {
        let message = "the plugin is neither a `source` nor a `sink`".to_string();
        PluginError::Instantiate { operator: self.operator.to_string(), message }
    }
}
