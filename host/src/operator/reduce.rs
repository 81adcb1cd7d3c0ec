//! Keyed aggregation: reduceByKey with a built-in reducer, countByValue and count, per batch or per window.
//!
//! Each worker first combines its share of a batch locally (Spark's map-side combine), then the partials
//! are exchanged by key group (`hash(key) % 256`, a group per worker by `group % workers`) and combined
//! again when the batch is complete. The fixed number of key groups lets a job be rescaled later.

use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::Arc;

use rustc_hash::FxHasher;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::operator::Operator;
use weir_sdk::packed::{Batch, HAS_KEY};

use crate::batcher::{BatchTimes, Shared};
use crate::checkpoint::{HookExt, HookSlot};
use crate::graph::spec::ReducerKind;
pub use crate::operator::agg::{Agg, Aggregation, numeric};
use crate::operator::dead_letter::DeadLetters;
use crate::operator::partials::Partials;
use crate::stream::BatchStream;
use crate::window::{IncrementalWindow, Window, WindowBuffer};

/// Number of key groups keys hash into.
pub const KEY_GROUPS: u64 = 256;

/// The key group of `key`. Uses the hash's high bits, so it stays independent of hash-table buckets.
///
/// ```
/// let g = weir::operator::reduce::key_group(b"word");
/// assert!(g < weir::operator::reduce::KEY_GROUPS);
/// assert_eq!(g, weir::operator::reduce::key_group(b"word"));
/// ```
pub fn key_group(key: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(key);
    (h.finish() >> 40) % KEY_GROUPS
}

/// One empty batch per worker, to split a batch into before an exchange.
pub fn shares(peers: u64) -> Vec<Batch> {
    (0..peers).map(|_| Batch::new()).collect()
}

/// The non-empty shares of [`shares`] with the worker each goes to.
///
/// ```
/// use weir::operator::reduce::{shares, to_workers};
/// let mut s = shares(3);
/// s[2].push(None, weir_sdk::packed::ValueRef::I64(1), 0);
/// let sent: Vec<u64> = to_workers(s).map(|(w, _)| w).collect();
/// assert_eq!(sent, vec![2]);
/// ```
pub fn to_workers(shares: Vec<Batch>) -> impl Iterator<Item = (u64, Batch)> {
    shares.into_iter().enumerate().filter(|(_, b)| !b.is_empty()).map(|(w, b)| (w as u64, b))
}

/// Everything a keyed aggregation needs besides its input.
pub struct ReduceConfig {
    /// Stream name, for dead letters and logs.
    pub name: String,
    /// What to aggregate.
    pub aggregation: Aggregation,
    /// Optional window.
    pub window: Option<Window>,
    /// Update the window incrementally with the reducer's inverse; `Some(true)` also drops keys whose
    /// value is back to zero.
    pub incremental: Option<bool>,
    /// Set when a `map_to_pair` with this value was fused into the aggregation: input records are
    /// then the unpaired records, each standing for `(value, pairs)`.
    pub pairs: Option<i64>,
    /// First batch time the input produces.
    pub first_time: u64,
    /// How often the input produces a batch (the batch interval, or the input's window slide).
    pub interval: u64,
    /// Batch progress shared with the batcher.
    pub shared: Arc<Shared>,
    /// Refused records.
    pub dead: Arc<DeadLetters>,
    /// Checkpoints of the window on this worker.
    pub hook: HookSlot,
}

/// Sends record `i` to the dead letters: `op` with reducer `red` needs a number.
fn refuse_non_numeric(cfg: &ReduceConfig, time: u64, b: &Batch, i: usize, op: &str, red: ReducerKind) {
    let kind = format!("{:?}", b.kind(i)).to_lowercase();
    let reason = format!("{op} `{}` needs a numeric value, found {kind}", red.name());
    cfg.dead.record(&cfg.name, time, &b.get(i), &reason)
}

/// Combines batches that arrived together locally into partials.
fn combine_local(cfg: &ReduceConfig, time: u64, batches: &[Batch], p: &mut Partials) {
    let one = Agg::I64(1);
    match cfg.aggregation {
        Aggregation::Count if batches.is_empty() => {}
        Aggregation::Count => {
            p.add(b"", Agg::I64(batches.iter().map(Batch::len).sum::<usize>() as i64), ReducerKind::Sum)
        }
        Aggregation::CountByValue => p.add_values(batches, one, ReducerKind::Sum),
        // A fused `map_to_pair`: each record stands for the pair (its value, n).
        Aggregation::ByKey(ReducerKind::Count) if cfg.pairs.is_some() => p.add_values(batches, one, ReducerKind::Count),
        Aggregation::ByKey(red) if cfg.pairs.is_some() => p.add_values(batches, Agg::I64(cfg.pairs.unwrap_or(1)), red),
        Aggregation::Reduce(red) => batches.iter().for_each(|b| combine_records(cfg, time, b, red, false, p)),
        Aggregation::ByKey(red) => batches.iter().for_each(|b| combine_records(cfg, time, b, red, true, p)),
    }
}

/// Combines one batch's records into partials by `red`: by their keys (`keyed`, for `reduce_by_key`),
/// or into the one global partial (for `reduce`).
fn combine_records(cfg: &ReduceConfig, time: u64, b: &Batch, red: ReducerKind, keyed: bool, p: &mut Partials) {
    let op = if keyed { "reduce_by_key" } else { "reduce" };
    for i in 0..b.len() {
        if keyed && b.kinds[i] & HAS_KEY == 0 {
            cfg.dead.record(&cfg.name, time, &b.get(i), &DeadLetters::unkeyed("reduce_by_key"));
            continue;
        }
        let v = if red == ReducerKind::Count { Some(Agg::I64(1)) } else { numeric(b, i) };
        match v {
            Some(v) => p.add(if keyed { b.key_bytes(i) } else { b"" }, v, red),
            None => refuse_non_numeric(cfg, time, b, i, op, red),
        }
    }
}

/// The output records of one batch (or window) from its merged partials.
fn output_batch(cfg: &ReduceConfig, index: usize, total: &Partials, t: u64) -> Batch {
    let mut out = Batch::with_capacity(total.len(), total.len() * 8);
    if cfg.aggregation.global() {
        // Worker 0 holds the one partial; `count` says 0 for a batch without records.
        let zero = (cfg.aggregation == Aggregation::Count).then_some(Agg::I64(0));
        if let (0, Some(v)) = (index, total.get(b"").or(zero)) {
            v.push(&mut out, None, t as i64);
        }
    } else {
        total.for_each(|k, v| v.push(&mut out, Some(k), t as i64));
    }
    out
}

/// Extension trait for keyed aggregation.
pub trait ReduceExt<'s> {
    /// Aggregates per batch (or window) as `cfg` says.
    ///
    /// ```
    /// // Exercised end to end by the golden tests in tests/golden; see `docs/ARCHITECTURE.md`.
    /// let g = weir::operator::reduce::key_group(b"a");
    /// assert!(g < 256);
    /// ```
    fn aggregate(self, cfg: ReduceConfig) -> BatchStream<'s>;
}

impl<'s> ReduceExt<'s> for BatchStream<'s> {
    fn aggregate(self, cfg: ReduceConfig) -> BatchStream<'s> {
        let cfg = Arc::new(cfg);
        let local = cfg.clone();
        let peers = self.scope().peers() as u64;
        let index = self.scope().index();
        let name = cfg.name.clone();
        let partial = self.unary(Pipeline, &format!("{name}-combine"), move |_cap, _info| {
            // Kept across batches, so each batch fills tables that are already warm and sized.
            let mut p = Partials::default();
            move |input, output| {
                input.for_each(|cap, data| {
                    p.clear();
                    combine_local(&local, *cap.time(), data, &mut p);
                    data.clear();
                    let mut shares = shares(peers);
                    p.for_each(|k, v| {
                        let global = local.aggregation.global();
                        let dest = if global { 0 } else { key_group(k) % peers };
                        let key = (!global).then_some(k);
                        v.push(&mut shares[dest as usize], key, *cap.time() as i64);
                    });
                    output.session(&cap).give_iterator(to_workers(shares));
                });
            }
        });
        partial.unary_frontier(Exchange::new(|x: &(u64, Batch)| x.0), &name, move |cap, _info| {
            let mut cap = Some(cap);
            let mut stash: HashMap<u64, Partials> = HashMap::new();
            let mut times = BatchTimes::new(cfg.first_time, cfg.interval, cfg.shared.clone());
            let windows: WindowBuffer<Partials> = WindowBuffer::new(cfg.window);
            let incremental = match (cfg.window, cfg.incremental) {
                (Some(w), Some(drop_zero)) => Some(IncrementalWindow::new(w, drop_zero)),
                _ => None,
            };
            let merge = cfg.aggregation.merge();
            let mut saved = (incremental, windows);
            let mut hook = cfg.hook.open(&mut saved, &cfg.shared);
            let (mut incremental, mut windows) = saved;
            move |(input, frontier), output| {
                input.for_each(|c, data| {
                    // A partial no window needs any more is refilled: its tables keep their room.
                    let p = stash.entry(*c.time()).or_insert_with(|| {
                        let mut p = windows.spare().unwrap_or_default();
                        p.clear();
                        p
                    });
                    for (_, b) in data.drain(..) {
                        p.add_keyed(&b, merge);
                    }
                });
                for t in times.completed(frontier) {
                    let partial = stash.remove(&t).unwrap_or_default();
                    let out = match incremental.as_mut() {
                        Some(w) => w.add(t, partial).map(|total| output_batch(&cfg, index, total, t)),
                        None => windows.add(t, partial).map(|parts| {
                            // A lone partial (no window, or a one-batch window) needs no merging.
                            if let [only] = parts[..] {
                                output_batch(&cfg, index, only, t)
                            } else {
                                let mut m = Partials::default();
                                for p in parts {
                                    p.for_each(|k, v| m.add(k, v, merge));
                                }
                                output_batch(&cfg, index, &m, t)
                            }
                        }),
                    };
                    hook.after_batch(t, &(&incremental, &windows));
                    if let (Some(c), Some(out)) = (&cap, out.filter(|o| !o.is_empty())) {
                        output.session(&c.delayed(&t)).give(out);
                    }
                }
                hook.at_input_end(frontier.frontier().is_empty(), &(&incremental, &windows));
                times.hold(&mut cap, frontier);
            }
        })
    }
}
