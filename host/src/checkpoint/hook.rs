//! A stateful operator's handle on the checkpoints: it saves the operator's state after each
//! checkpointed batch and at the end of the input, and gives back the state it resumed from.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{CheckpointError, Checkpointer};

/// One stream's state on one worker, as the checkpoints see it.
pub struct PartHook {
    ckpt: Arc<Checkpointer>,
    stream: String,
    worker: usize,
    last: Option<u64>,
}

impl PartHook {
    /// The hook of `stream` on `worker`.
    pub fn new(ckpt: Arc<Checkpointer>, stream: &str, worker: usize) -> PartHook {
        PartHook { ckpt, stream: stream.into(), worker, last: None }
    }

    /// True when the state after batch `t` must be saved.
    pub fn due(&self, t: u64) -> bool {
        self.ckpt.due(t) && self.last != Some(t)
    }

    /// The final checkpoint's batch, once the input has ended, if this part has not saved it yet.
    pub fn end_time(&self) -> Option<u64> {
        self.ckpt.final_time().filter(|t| self.last != Some(*t))
    }

    /// Saves `state` as this part of the checkpoint of batch `t`.
    pub fn save<T: Serialize>(&mut self, t: u64, state: &T) {
        match postcard::to_stdvec(state) {
            Ok(bytes) => self.ckpt.save_part(&self.stream, self.worker, t, &bytes),
            Err(e) => tracing::error!(stream = %self.stream, "cannot encode state for the checkpoint: {e}"),
        }
        self.last = Some(t);
    }

    /// Saves `state` if batch `t` is checkpointed.
    pub fn after<T: Serialize>(&mut self, t: u64, state: &T) {
        if self.due(t) {
            self.save(t, state);
        }
    }

    /// Saves `state` for the final checkpoint, once, when the input has ended.
    pub fn at_end<T: Serialize>(&mut self, state: &T) {
        if let Some(t) = self.end_time() {
            self.save(t, state);
        }
    }

    /// The state this part resumed from, if the job resumed from a checkpoint.
    pub fn restore<T: DeserializeOwned>(&self) -> Result<Option<T>, CheckpointError> {
        let Some(bytes) = self.ckpt.take_restored(&self.stream, self.worker) else { return Ok(None) };
        postcard::from_bytes(&bytes).map(Some).map_err(|e| CheckpointError::Decode {
            stream: self.stream.clone(),
            worker: self.worker,
            reason: e.to_string(),
        })
    }
}

/// A hook an operator's config carries until the operator, once built, takes it.
#[derive(Default)]
pub struct HookSlot(std::sync::Mutex<Option<PartHook>>);

impl HookSlot {
    /// A slot holding `hook` (none when the job takes no checkpoints or the stream keeps no state).
    pub fn new(hook: Option<PartHook>) -> HookSlot {
        HookSlot(std::sync::Mutex::new(hook))
    }

    /// Takes the hook out.
    pub fn take(&self) -> Option<PartHook> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Takes the hook out and, when the job resumed from a checkpoint, replaces `state` with the state
    /// saved there. A part that does not decode stops the job through `shared`.
    pub fn open<T: DeserializeOwned>(&self, state: &mut T, shared: &crate::batcher::Shared) -> Option<PartHook> {
        let hook = self.take()?;
        match hook.restore() {
            Ok(Some(saved)) => *state = saved,
            Ok(None) => {}
            Err(e) => shared.fail(e.to_string()),
        }
        Some(hook)
    }
}

/// How a windowed operator drives its hook, if it has one: once after each batch, once at the end.
pub trait HookExt {
    /// Saves `state` if batch `t` is checkpointed.
    fn after_batch<T: Serialize>(&mut self, t: u64, state: &T);
    /// Saves `state` for the final checkpoint once the input has `ended`.
    fn at_input_end<T: Serialize>(&mut self, ended: bool, state: &T);
}

impl HookExt for Option<PartHook> {
    fn after_batch<T: Serialize>(&mut self, t: u64, state: &T) {
        if let Some(h) = self.as_mut() {
            h.after(t, state);
        }
    }

    fn at_input_end<T: Serialize>(&mut self, ended: bool, state: &T) {
        if let (true, Some(h)) = (ended, self.as_mut()) {
            h.at_end(state);
        }
    }
}
