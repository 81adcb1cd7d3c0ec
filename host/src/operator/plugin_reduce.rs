//! `reduce_by_key` with a `reducer` plugin: the records move to the worker owning their key group, each
//! batch's keys are reduced in one `combine` call, and windows combine the per-batch results again
//! (recomputed) or keep a running value per key updated with `combine` and `inverse` (incremental).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::Operator;
use weir_sdk::packed::{Batch, Kind};
use weir_sdk::reducer::Groups;

use crate::batcher::{BatchTimes, Shared};
use crate::checkpoint::{HookExt, HookSlot};
use crate::operator::exchange::ExchangeByKeyExt;
use crate::operator::grouped::{by_key, in_order};
use crate::operator::wasm::PluginSlot;
use crate::stream::BatchStream;
use crate::window::{Window, WindowBuffer, take_left};

/// Everything a plugin reduce needs besides its input.
pub struct PluginReduceConfig {
    /// The reducer, on this worker.
    pub slot: PluginSlot,
    /// Optional window.
    pub window: Option<Window>,
    /// Keep the window up to date with the plugin's inverse.
    pub inverse: bool,
    /// First batch time the input produces.
    pub first_time: u64,
    /// How often the input produces a batch.
    pub interval: u64,
    /// Batch progress shared with the batcher.
    pub shared: Arc<Shared>,
    /// Checkpoints of the window on this worker.
    pub hook: HookSlot,
}

/// Calls `combine` (or `inverse`) on `groups`; returns the reduced records, stamped with batch time `t`.
/// Refused values and the input of a failed call go to the dead letters.
fn call(slot: &mut PluginSlot, t: u64, inverse: bool, groups: Groups) -> Batch {
    if groups.is_empty() {
        return Batch::new();
    }
    let (result, groups) = match slot.instance(t) {
        Ok(inst) => inst.reduce(inverse, groups),
        Err(failure) => (Err(failure), groups),
    };
    match result {
        Ok(mut p) => {
            slot.refused(t, &p.rejected, |i| groups.values.get(i));
            p.records.event_times.iter_mut().for_each(|e| *e = t as i64);
            p.records
        }
        Err(failure) => {
            slot.failed(t, failure, groups.values.iter());
            Batch::new()
        }
    }
}

/// The running value of every key of an incremental window.
#[derive(serde::Serialize, serde::Deserialize)]
struct Running {
    window: Window,
    /// Per-batch results still inside the window, to take out when they leave.
    batches: BTreeMap<u64, Batch>,
    values: BTreeMap<Vec<u8>, (Kind, Vec<u8>)>,
}

impl Running {
    /// Folds `batch` into the running values with `combine` (or takes it out with `inverse`); keys new
    /// to the window simply take their value.
    fn fold(&mut self, slot: &mut PluginSlot, t: u64, inverse: bool, batch: &Batch) {
        let mut pairs = Groups { values: Batch::new(), bounds: vec![0] };
        for i in 0..batch.len() {
            let key = batch.key_bytes(i);
            match self.values.get(key) {
                Some((kind, bytes)) => {
                    pairs.values.push_raw(Some(key), *kind, bytes, t as i64);
                    pairs.values.push_from(batch, i);
                    pairs.bounds.push(pairs.values.len() as u32);
                }
                None if !inverse => {
                    self.values.insert(key.to_vec(), (batch.kind(i), batch.value_bytes(i).to_vec()));
                }
                None => {}
            }
        }
        let folded = call(slot, t, inverse, pairs);
        for i in 0..folded.len() {
            self.values.insert(folded.key_bytes(i).to_vec(), (folded.kind(i), folded.value_bytes(i).to_vec()));
        }
    }

    /// Adds batch `t`'s result, takes out the batches that left, and returns the window if one is due.
    fn step(&mut self, slot: &mut PluginSlot, t: u64, partial: Batch) -> Option<Batch> {
        self.fold(slot, t, false, &partial);
        self.batches.insert(t, partial);
        for gone in take_left(&mut self.batches, t, self.window.length) {
            self.fold(slot, t, true, &gone);
        }
        if !t.is_multiple_of(self.window.slide) {
            return None;
        }
        let mut out = Batch::new();
        for (key, (kind, bytes)) in &self.values {
            out.push_raw(Some(key), *kind, bytes, t as i64);
        }
        Some(out)
    }
}

/// Extension trait for reducing with a plugin.
pub trait PluginReduceExt<'s> {
    /// Reduces each key's values per batch (or window) with the plugin in `cfg`.
    ///
    /// ```
    /// // Exercised end to end by tests/golden/plugin-reduce; groups reach the plugin keyed and sorted:
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// let mut b = Batch::new();
    /// b.push(Some(b"k"), ValueRef::I64(1), 0);
    /// assert_eq!(weir::operator::grouped::by_key(&[&b]).len(), 1);
    /// ```
    fn plugin_reduce(self, name: &str, cfg: PluginReduceConfig) -> BatchStream<'s>;
}

impl<'s> PluginReduceExt<'s> for BatchStream<'s> {
    fn plugin_reduce(self, name: &str, cfg: PluginReduceConfig) -> BatchStream<'s> {
        let keyed = self.exchange_by_key(name, &cfg.slot.dead);
        keyed.unary_frontier(Pipeline, &format!("{name}-reduce"), move |cap, _info| {
            let PluginReduceConfig { mut slot, window, inverse, first_time, interval, shared, hook } = cfg;
            let mut cap = Some(cap);
            let mut stash: HashMap<u64, Vec<Batch>> = HashMap::new();
            let windows: WindowBuffer<Batch> = WindowBuffer::new(window);
            let running = match (window, inverse) {
                (Some(window), true) => Some(Running { window, batches: BTreeMap::new(), values: BTreeMap::new() }),
                _ => None,
            };
            let mut saved = (running, windows);
            let mut hook = hook.open(&mut saved, &shared);
            let (mut running, mut windows) = saved;
            let mut times = BatchTimes::new(first_time, interval, shared);
            move |(input, frontier), output| {
                input.for_each(|c, data| stash.entry(*c.time()).or_default().append(data));
                for t in times.completed(frontier) {
                    let batches = stash.remove(&t).unwrap_or_default();
                    let refs: Vec<&Batch> = batches.iter().collect();
                    let partial = call(&mut slot, t, false, by_key(&refs));
                    let out = match running.as_mut() {
                        Some(r) => r.step(&mut slot, t, partial),
                        None => windows.add(t, partial).map(|parts| match parts[..] {
                            [only] => only.clone(),
                            _ => call(&mut slot, t, false, in_order(&parts)),
                        }),
                    };
                    hook.after_batch(t, &(&running, &windows));
                    if let (Some(c), Some(out)) = (&cap, out.filter(|o| !o.is_empty())) {
                        output.session(&c.delayed(&t)).give(out);
                    }
                }
                hook.at_input_end(frontier.frontier().is_empty(), &(&running, &windows));
                times.hold(&mut cap, frontier);
            }
        })
    }
}
