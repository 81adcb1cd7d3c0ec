//! A sink written as a Wasm component (the `sink` world): each batch is handed to the plugin's `write`
//! with its batch time, which the plugin must treat as an idempotency key. With checkpoints the sink
//! records the last batch written whole ([`super::written`]) and skips it and earlier ones when a
//! resumed job writes them again; the batch being written at a crash is written again, the same: at
//! least once into the plugin, exactly once in a target that keeps one copy per batch time.

use std::collections::BTreeMap;
use std::path::Path;

use weir_sdk::packed::Batch;

use super::written::Record;
use super::{Sink, SinkError, retry};
use crate::operator::wasm::PluginInstance;
use crate::operator::wasm::connector::Connector;
use crate::operator::wasm::http::HttpGate;

/// A plugin sink.
pub struct PluginSink {
    name: String,
    job: String,
    connector: Connector,
    params: BTreeMap<String, String>,
    inst: Option<PluginInstance>,
    written: Record,
    holds: Option<u64>,
}

impl PluginSink {
    /// Opens sink `name` of job `job`: an instance, its `init`, and what its target already holds;
    /// `state`/`resume` as for the broker sinks (the last batch written whole, beside the checkpoints).
    pub fn new(
        job: &str,
        name: &str,
        connector: Connector,
        params: BTreeMap<String, String>,
        resume: bool,
        state: Option<&Path>,
    ) -> Result<PluginSink, SinkError> {
        let broker = |message: String| SinkError::Broker { sink: name.into(), message };
        let written = Record::open(state, resume).map_err(broker)?;
        let mut sink =
            PluginSink { name: name.into(), job: job.into(), connector, params, inst: None, written, holds: None };
        let holds = sink.instance()?.holds_through();
        sink.holds = match holds {
            Ok(t) => t.filter(|t| *t > 0).map(|t| t as u64),
            Err(failure) => return Err(broker(format!("`holds-through` failed: {failure}"))),
        };
        Ok(sink)
    }

    /// The instance, made anew after a failed call.
    fn instance(&mut self) -> Result<&mut PluginInstance, SinkError> {
        if self.inst.is_none() {
            let c = &self.connector;
            let gate = HttpGate::open(&format!("sink `{}`", self.name), &c.http.0, c.http.1);
            let err = |e: crate::operator::wasm::PluginError| SinkError::Broker {
                sink: self.name.clone(),
                message: e.to_string(),
            };
            let mut inst = PluginInstance::with_gate(&c.plugin, c.limits, &self.job, &self.name, gate).map_err(err)?;
            inst.init(&self.params).map_err(err)?;
            self.inst = Some(inst);
        }
        Ok(self.inst.as_mut().expect("made above"))
    }

    fn attempt(&mut self, time: u64, batch: &mut Batch) -> Result<(), SinkError> {
        let sink = self.name.clone();
        let inst = self.instance()?;
        let (r, back) = inst.write(time, std::mem::take(batch));
        *batch = back;
        if let Some(message) = inst.take_denied() {
            return Err(SinkError::Denied { sink, message });
        }
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(m)) => Err(SinkError::Broker { sink, message: format!("batch {time}: {m}") }),
            Err(failure) => {
                self.inst = None;
                Err(SinkError::Broker { sink, message: format!("batch {time}: the plugin failed: {failure}") })
            }
        }
    }
}

impl Sink for PluginSink {
    fn holds_through(&self) -> Option<u64> {
        self.holds
    }

    fn write_batch(&mut self, time: u64, records: &Batch, order: &[usize]) -> Result<(), SinkError> {
        if self.written.holds(time) {
            tracing::info!(sink = %self.name, batch_time = time, "already written");
            return Ok(());
        }
        let mut batch = Batch::with_capacity(order.len(), records.values.len());
        order.iter().for_each(|&i| batch.push_from(records, i));
        retry::patiently(retry::REFUSALS, || self.attempt(time, &mut batch))?;
        let done = self.written.done(time, Default::default());
        done.map_err(|message| SinkError::Broker { sink: self.name.clone(), message })
    }
}
