//! What updateStateByKey and mapWithState share: their config, the key groups a worker owns, seeding
//! the state from an initial-state file, and folding a batch's partials into stored state.
//!
//! Both run after a per-batch `reduce_by_key` (`reduce.rs`), which has already combined each key's new
//! values and moved them to the worker owning the key's group, so these operators never exchange data.

use std::collections::HashMap;
use std::sync::Arc;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::Partition;
use timely::dataflow::operators::generic::operator::Operator;
use weir_sdk::packed::Batch;

use crate::batcher::{BatchTimes, Shared};
use crate::checkpoint::HookSlot;
use crate::graph::spec::{ReducerKind, TimeoutOn};
use crate::operator::agg::{Agg, numeric};
use crate::operator::reduce::{KEY_GROUPS, key_group};
use crate::state::{KeyedState, StateDb, StateError, StateValue};
use crate::stream::BatchStream;

/// Everything a stateful operator needs besides its input.
pub struct StateConfig {
    /// Stream name: names the state and the dead letters.
    pub name: String,
    /// How a key's new partial folds into its state.
    pub merge: ReducerKind,
    /// mapWithState's idle timeout in milliseconds.
    pub timeout: Option<u64>,
    /// What the timeout is measured in; initial state gets a batch-time deadline only.
    pub timeout_on: TimeoutOn,
    /// Initial state, loaded when the stream has none.
    pub initial: Option<Arc<Batch>>,
    /// Also output the whole state after each batch (mapWithState's `stateSnapshots`).
    pub snapshots: bool,
    /// The job's state database.
    pub db: Arc<StateDb>,
    /// First batch time the input produces.
    pub first_time: u64,
    /// How often the input produces a batch.
    pub interval: u64,
    /// Batch progress shared with the batcher; a state failure stops the job through it.
    pub shared: Arc<Shared>,
    /// Checkpoints of this stream's state on this worker.
    pub hook: HookSlot,
}

impl StateConfig {
    /// Opens this stream's state for one worker and seeds it from the initial state if the worker's key
    /// groups hold nothing yet (a restarted job keeps its state). Failures stop the job.
    pub fn open(&self, index: usize, peers: usize) -> Option<KeyedState> {
        let opened = self.db.keyed(&self.name).and_then(|mut s| {
            self.seed(&mut s, index, peers)?;
            Ok(s)
        });
        self.check(opened)
    }

    fn seed(&self, s: &mut KeyedState, index: usize, peers: usize) -> Result<(), StateError> {
        let Some(initial) = &self.initial else { return Ok(()) };
        for g in owned_groups(index, peers) {
            if s.scan(g).next().is_some() {
                return Ok(());
            }
        }
        for i in 0..initial.len() {
            let key = initial.key_bytes(i);
            let g = key_group(key) as u8;
            if g as usize % peers == index {
                // With event-time timeouts `last_seen` is an event time, which an initial key has not yet.
                let seen = if self.timeout_on == TimeoutOn::EventTime { 0 } else { self.first_time };
                s.put(g, key, StateValue::from_value(&initial.get(i).value, seen));
                // An initial key has no event time yet: with event-time timeouts, its first record sets one.
                if let (Some(timeout), TimeoutOn::BatchTime) = (self.timeout, self.timeout_on) {
                    s.set_timeout(g, key, None, Some(self.first_time + timeout))?;
                }
            }
        }
        s.flush()
    }

    /// Passes a result through; on error stops the job, naming the stream.
    pub fn check<T>(&self, r: Result<T, StateError>) -> Option<T> {
        r.map_err(|e| self.shared.fail(format!("stream `{}`: {e}", self.name))).ok()
    }
}

/// Runs a stateful operator on `input`: stashes each batch's partials until the batch is complete (empty
/// batches too), then calls `step` with this worker's state, the batch's partials and its time; what
/// `step` returns is emitted at that time. A state error stops the job, and this operator with it.
pub fn drive_state<'s, O: Clone + 'static>(
    input: BatchStream<'s>,
    cfg: Arc<StateConfig>,
    mut step: impl FnMut(&mut KeyedState, &[Batch], u64) -> Result<Vec<O>, StateError> + 'static,
) -> Stream<'s, u64, Vec<O>> {
    let (index, peers) = (input.scope().index(), input.scope().peers());
    let name = cfg.name.clone();
    input.unary_frontier(Pipeline, &name, move |cap, _info| {
        let mut cap = Some(cap);
        let mut state = cfg.open(index, peers);
        let mut stash: HashMap<u64, Vec<Batch>> = HashMap::new();
        let mut times = BatchTimes::new(cfg.first_time, cfg.interval, cfg.shared.clone());
        let mut synced = false;
        let mut hook = cfg.hook.take();
        let owned: Vec<u8> = owned_groups(index, peers).collect();
        move |(input, frontier), output| {
            input.for_each(|c, data| stash.entry(*c.time()).or_default().append(data));
            for t in times.completed(frontier) {
                let batches = stash.remove(&t).unwrap_or_default();
                let Some(s) = state.as_mut() else { continue };
                let Some(mut out) = cfg.check(step(s, &batches, t)) else {
                    state = None;
                    continue;
                };
                if let (Some(c), false) = (&cap, out.is_empty()) {
                    output.session(&c.delayed(&t)).give_container(&mut out);
                }
                if let Some(h) = hook.as_mut().filter(|h| h.due(t)) {
                    cfg.check(s.export(&owned)).inspect(|part| h.save(t, part));
                }
            }
            // The input ended: write what the cache holds, so the next run (or `weir state dump`) sees it.
            if frontier.frontier().is_empty() && !synced {
                synced = true;
                if let Some(s) = state.as_mut() {
                    if let Some((h, t)) = hook.as_mut().and_then(|h| h.end_time().map(|t| (h, t))) {
                        cfg.check(s.export(&owned)).inspect(|part| h.save(t, part));
                    }
                    cfg.check(s.sync());
                }
            }
            times.hold(&mut cap, frontier);
        }
    })
}

/// The whole state of the key groups in `owned` (mapWithState's `stateSnapshots`).
pub fn snapshot(s: &KeyedState, t: u64, owned: &[u8]) -> Result<Batch, StateError> {
    let mut out = Batch::new();
    for &g in owned {
        for r in s.scan(g) {
            let (key, v) = r?;
            out.push_raw(Some(&key), v.kind, &v.bytes, t as i64);
        }
    }
    Ok(out)
}

/// Which of mapWithState's two outputs a batch goes to.
const MAPPED: u64 = 0;
const SNAPSHOTS: u64 = 1;

/// A mapWithState step's two outputs, tagged, empty ones left out.
pub fn tagged(mapped: Batch, snapshots: Batch) -> Vec<(u64, Batch)> {
    [(MAPPED, mapped), (SNAPSHOTS, snapshots)].into_iter().filter(|(_, b)| !b.is_empty()).collect()
}

/// Splits tagged outputs into the mapped stream and the snapshots stream.
pub fn split_mapped<'s>(both: Stream<'s, u64, Vec<(u64, Batch)>>) -> (BatchStream<'s>, BatchStream<'s>) {
    let mut parts = both.partition::<CapacityContainerBuilder<Vec<Batch>>, _, _>(2, |(tag, b): (u64, Batch)| (tag, b));
    let snapshots = parts.pop().expect("two parts");
    let mapped = parts.pop().expect("two parts");
    debug_assert_eq!((MAPPED, SNAPSHOTS), (0, 1));
    (mapped, snapshots)
}

/// The key groups worker `index` of `peers` owns, in order.
///
/// ```
/// let g: Vec<u8> = weir::operator::keyed_state::owned_groups(1, 2).take(3).collect();
/// assert_eq!(g, vec![1, 3, 5]);
/// ```
pub fn owned_groups(index: usize, peers: usize) -> impl Iterator<Item = u8> {
    (0..KEY_GROUPS as usize).filter(move |g| g % peers == index).map(|g| g as u8)
}

/// `old` state folded with a new partial; a state that is not a number is replaced.
///
/// ```
/// use weir::operator::keyed_state::fold;
/// use weir::operator::reduce::Agg;
/// use weir::graph::spec::ReducerKind;
/// let old = weir::state::StateValue::int(2, 1000);
/// assert_eq!(fold(Some(&old), Agg::I64(3), ReducerKind::Sum), Agg::I64(5));
/// assert_eq!(fold(None, Agg::I64(3), ReducerKind::Sum), Agg::I64(3));
/// ```
pub fn fold(old: Option<&StateValue>, new: Agg, merge: ReducerKind) -> Agg {
    match old.and_then(StateValue::as_agg) {
        Some(o) => o.combine(new, merge),
        None => new,
    }
}

/// The numeric partials of a batch as `(group, key, partial)`, in arrival order (the write-back cache
/// makes key order irrelevant to mapWithState).
pub fn partials(batches: &[Batch]) -> Vec<(u8, &[u8], Agg)> {
    let mut out = Vec::with_capacity(batches.iter().map(Batch::len).sum());
    for b in batches {
        for i in 0..b.len() {
            if let Some(v) = numeric(b, i) {
                out.push((key_group(b.key_bytes(i)) as u8, b.key_bytes(i), v));
            }
        }
    }
    out
}

/// The numeric partials of a batch sorted by group then key, to merge with a scan of the state.
pub fn sorted_partials(batches: &[Batch]) -> Vec<(u8, &[u8], Agg)> {
    let mut out = partials(batches);
    out.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    out
}
