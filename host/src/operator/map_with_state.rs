//! `map_with_state` (Spark's `mapWithState`): only keys with data in a batch are updated and output; a key
//! idle for the timeout is removed at exactly the batch where its timeout expires, with a final
//! `(key, {"timed_out": state})` record; `state_snapshots` reads the whole state after each batch.

use std::collections::HashMap;

use serde_json::json;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::Partition;
use timely::dataflow::operators::generic::operator::Operator;
use weir_sdk::packed::{Batch, ValueRef};

use super::keyed_state::{StateConfig, fold, owned_groups, sorted_partials};
use crate::batcher::BatchTimes;
use crate::graph::dataflow::BatchStream;
use crate::state::{KeyedState, StateError, StateValue};

/// Which of the two outputs a batch goes to.
const MAPPED: u64 = 0;
const SNAPSHOTS: u64 = 1;

/// Extension trait for mapWithState.
pub trait MapWithStateExt<'s> {
    /// Folds this stream of per-batch keyed partials into durable state. Returns the mapped stream and the
    /// state-snapshots stream (empty unless `cfg.snapshots`).
    ///
    /// ```
    /// // Exercised end to end by tests/golden/map-with-state; timeouts fire at last data + timeout:
    /// let (last_seen, timeout) = (2000u64, 3000u64);
    /// assert_eq!(last_seen + timeout, 5000);
    /// ```
    fn map_with_state(self, cfg: StateConfig) -> (BatchStream<'s>, BatchStream<'s>);
}

/// Applies batch `t` to the state: updates keys with data, then fires the timeouts due at `t`.
fn apply(
    s: &mut KeyedState,
    cfg: &StateConfig,
    batches: &[Batch],
    t: u64,
    peers: usize,
    index: usize,
) -> Result<Batch, StateError> {
    let mut out = Batch::new();
    for &(g, key, partial) in &sorted_partials(batches) {
        let old = s.get(g, key)?;
        let now = fold(old.as_ref(), partial, cfg.merge);
        now.push(&mut out, Some(key), t as i64);
        if let Some(timeout) = cfg.timeout {
            s.set_timeout(g, key, old.as_ref().map(|o| o.last_seen + timeout), Some(t + timeout))?;
        }
        s.put(g, key, StateValue::from_agg(now, t));
    }
    if cfg.timeout.is_some() {
        for g in owned_groups(index, peers) {
            for key in s.take_expired(g, t)? {
                if let Some(v) = s.get(g, &key)? {
                    let final_call = json!({ "timed_out": v.json() }).to_string();
                    out.push(Some(&key), ValueRef::Json(&final_call), t as i64);
                    s.remove(g, &key);
                }
            }
        }
    }
    s.flush()?;
    Ok(out)
}

/// The whole state of this worker's key groups.
fn snapshot(s: &KeyedState, t: u64, peers: usize, index: usize) -> Result<Batch, StateError> {
    let mut out = Batch::new();
    for g in owned_groups(index, peers) {
        for r in s.scan(g) {
            let (key, v) = r?;
            out.push_raw(Some(&key), v.kind, &v.bytes, t as i64);
        }
    }
    Ok(out)
}

impl<'s> MapWithStateExt<'s> for BatchStream<'s> {
    fn map_with_state(self, cfg: StateConfig) -> (BatchStream<'s>, BatchStream<'s>) {
        let (index, peers) = (self.scope().index(), self.scope().peers());
        let name = cfg.name.clone();
        let both: Stream<'s, u64, Vec<(u64, Batch)>> = self.unary_frontier(Pipeline, &name, move |cap, _info| {
            let mut cap = Some(cap);
            let mut state = cfg.open(index, peers);
            let mut stash: HashMap<u64, Vec<Batch>> = HashMap::new();
            let mut times = BatchTimes::new(cfg.first_time, cfg.interval, cfg.shared.clone());
            move |(input, frontier), output| {
                input.for_each(|c, data| stash.entry(*c.time()).or_default().append(data));
                for t in times.completed(frontier) {
                    let batches = stash.remove(&t).unwrap_or_default();
                    let Some(s) = state.as_mut() else { continue };
                    let done = apply(s, &cfg, &batches, t, peers, index).and_then(|mapped| {
                        let snap = if cfg.snapshots { snapshot(s, t, peers, index)? } else { Batch::new() };
                        Ok((mapped, snap))
                    });
                    let Some((mapped, snap)) = cfg.check(done) else {
                        state = None;
                        continue;
                    };
                    let Some(c) = &cap else { continue };
                    let at = c.delayed(&t);
                    let mut session = output.session(&at);
                    for (tag, b) in [(MAPPED, mapped), (SNAPSHOTS, snap)] {
                        if !b.is_empty() {
                            session.give((tag, b));
                        }
                    }
                }
                times.hold(&mut cap, frontier);
            }
        });
        let mut parts =
            both.partition::<CapacityContainerBuilder<Vec<Batch>>, _, _>(2, |(tag, b): (u64, Batch)| (tag, b));
        let snapshots = parts.pop().expect("two parts");
        let mapped = parts.pop().expect("two parts");
        (mapped, snapshots)
    }
}
