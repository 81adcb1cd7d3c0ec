//! One worker's hold on a plugin: the instance (made on first use and anew after a failed call), its
//! parameters and limits, and what a failed call does — count the batch as failed and send its input to
//! the dead letters with a reason naming the operator and batch.

use std::collections::BTreeMap;
use std::sync::Arc;

use weir_sdk::packed::RecordRef;

use super::{BatchFailure, FailedBatches, Limits, LoadedPlugin, PluginInstance, Versions};
use crate::event::{Events, JobEvent};
use crate::operator::dead_letter::DeadLetters;

/// A plugin as one operator on one worker uses it.
pub struct PluginSlot {
    /// Stream name.
    pub name: String,
    /// Job name.
    pub job: String,
    /// The compiled plugin this worker runs now.
    pub plugin: Arc<LoadedPlugin>,
    /// The stream's plugin by batch time (a swap adds one).
    pub versions: Arc<Versions<LoadedPlugin>>,
    /// Parameters for `init`.
    pub params: BTreeMap<String, String>,
    /// Instance limits.
    pub limits: Limits,
    /// Refused records.
    pub dead: Arc<DeadLetters>,
    /// Times of failed batches, job-wide (a batch failing on two workers counts once).
    pub failures: FailedBatches,
    /// Where a failed call is told.
    pub events: Events,
    /// The live instance, if any.
    pub instance: Option<PluginInstance>,
    /// Where the stream's plugin calls are counted.
    pub meter: Arc<super::Meter>,
}

/// `params` with its `model` replaced by `model`.
///
/// ```
/// let params = [("model".to_string(), "old".to_string()), ("k".into(), "v".into())].into();
/// let swapped = weir::operator::wasm::with_model(&params, "new");
/// assert_eq!((swapped["model"].as_str(), swapped["k"].as_str()), ("new", "v"));
/// ```
pub fn with_model(params: &BTreeMap<String, String>, model: &str) -> BTreeMap<String, String> {
    let mut params = params.clone();
    params.insert("model".to_string(), model.to_string());
    params
}

impl PluginSlot {
    /// Takes the plugin version batch `time` runs with; a new one drops the old instance.
    pub fn sync(&mut self, time: u64) {
        let now = self.versions.for_batch(time);
        if !Arc::ptr_eq(&now, &self.plugin) {
            self.plugin = now;
            self.instance = None;
        }
    }

    /// The live instance for batch `time`, made (and `init`ed) if there is none.
    pub fn instance(&mut self, time: u64) -> Result<&mut PluginInstance, BatchFailure> {
        self.sync(time);
        if self.instance.is_none() {
            let mut inst = PluginInstance::new(&self.plugin, self.limits, &self.job, &self.name)
                .map_err(|e| BatchFailure::Restart(e.to_string()))?
                .metered(self.meter.clone());
            let swapped = self.plugin.model.as_ref().map(|m| with_model(&self.params, m));
            inst.init(swapped.as_ref().unwrap_or(&self.params)).map_err(|e| BatchFailure::Restart(e.to_string()))?;
            self.instance = Some(inst);
        }
        Ok(self.instance.as_mut().expect("instance just made"))
    }

    /// Sends the records a plugin refused to the dead letters.
    pub fn refused<'a>(&self, time: u64, rejected: &[(u32, String)], record: impl Fn(usize) -> RecordRef<'a>) {
        for (i, reason) in rejected {
            self.dead.record(&self.name, time, &record(*i as usize), reason);
        }
    }

    /// Handles a failed call: drops the instance, counts the batch as failed, logs, and sends `records`
    /// (the call's input) to the dead letters. Returns the reason they were given.
    pub fn failed<'a>(
        &mut self,
        time: u64,
        failure: BatchFailure,
        records: impl Iterator<Item = RecordRef<'a>>,
    ) -> String {
        self.failed_on(time, failure, records, "")
    }

    /// [`PluginSlot::failed`], with `note` (when not empty) added to the reason.
    pub fn failed_on<'a>(
        &mut self,
        time: u64,
        failure: BatchFailure,
        records: impl Iterator<Item = RecordRef<'a>>,
        note: &str,
    ) -> String {
        self.instance = None;
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).insert(time);
        let mut reason = format!("operator `{}` failed batch {time} ms: {failure}", self.name);
        if !note.is_empty() {
            reason = format!("{reason} ({note})");
        }
        tracing::error!(job = %self.job, operator = %self.name, batch_time = time, "{reason}");
        self.events.emit(JobEvent::PluginFailed {
            stream: self.name.clone(),
            batch_time: time,
            reason: reason.clone(),
        });
        for r in records {
            self.dead.record(&self.name, time, &r, &reason);
        }
        reason
    }
}
