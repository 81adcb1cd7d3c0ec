//! Keyed grouping of one or more streams: groupByKey, cogroup and the joins, per batch or per window.
//!
//! Each worker splits its share of every input by key group (as `reduce.rs` does) and sends each record,
//! tagged with its input's index, to the worker owning the group. When a batch is complete the owner
//! lists each key's values per input, in canonical order, so the output does not depend on how many
//! workers ran the job.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value as Json;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::core::Concatenate;
use timely::dataflow::operators::generic::operator::Operator;
use weir_sdk::packed::{Batch, ValueRef};

use crate::batcher::{BatchTimes, Shared};
use crate::checkpoint::{HookExt, HookSlot};
use crate::graph::spec::JoinKind;
use crate::operator::dead_letter::DeadLetters;
use crate::operator::exchange::{Share, split_by_key};
use crate::render::{cmp_values, value_json};
use crate::stream::BatchStream;
use crate::window::{Window, WindowBuffer};

/// What each key's grouped values become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    /// groupByKey: `[values]` (one input).
    Values,
    /// cogroup: `[[values of input 0], [values of input 1], ...]`.
    Cogroup,
    /// join: one `[left, right]` per pair of values, `null` for a side an outer join lacks.
    Join(JoinKind),
}

/// Everything a grouping needs besides its inputs.
pub struct GroupConfig {
    /// Stream name, for dead letters and logs.
    pub name: String,
    /// What to output per key.
    pub grouping: Grouping,
    /// Optional window, over every input.
    pub window: Option<Window>,
    /// First batch time the inputs produce.
    pub first_time: u64,
    /// How often the inputs produce a batch.
    pub interval: u64,
    /// Batch progress shared with the batcher.
    pub shared: Arc<Shared>,
    /// Refused records.
    pub dead: Arc<DeadLetters>,
    /// Checkpoints of the window on this worker.
    pub hook: HookSlot,
}

/// The batches of each input for one batch time.
type Sides = Vec<Vec<Batch>>;

/// A value borrowed from a batch, comparable in canonical order.
#[derive(Clone, Copy)]
struct Val<'a> {
    batch: &'a Batch,
    i: usize,
}

impl Val<'_> {
    fn order(&self, other: &Val<'_>) -> Ordering {
        let (a, b) = (self.batch, other.batch);
        cmp_values((a.kind(self.i), a.value_bytes(self.i)), (b.kind(other.i), b.value_bytes(other.i)))
    }

    fn json(&self) -> Json {
        value_json(&self.batch.get(self.i).value)
    }
}

/// Each key's values per input, keys in byte order, values in canonical order.
fn group_by_key<'a>(sides: &[&'a Sides], inputs: usize) -> BTreeMap<&'a [u8], Vec<Vec<Val<'a>>>> {
    let mut groups: BTreeMap<&[u8], Vec<Vec<Val<'_>>>> = BTreeMap::new();
    for batches in sides {
        for (side, list) in batches.iter().enumerate() {
            for batch in list {
                for i in 0..batch.len() {
                    let entry = groups.entry(batch.key_bytes(i)).or_insert_with(|| vec![Vec::new(); inputs]);
                    entry[side].push(Val { batch, i });
                }
            }
        }
    }
    for lists in groups.values_mut() {
        for l in lists.iter_mut() {
            l.sort_by(|a, b| a.order(b));
        }
    }
    groups
}

/// Appends the output records of one key.
fn emit(grouping: Grouping, key: &[u8], lists: &[Vec<Val<'_>>], out: &mut Batch, time: i64) {
    let list = |l: &[Val<'_>]| Json::Array(l.iter().map(Val::json).collect());
    let mut push = |v: Json| out.push(Some(key), ValueRef::Json(&v.to_string()), time);
    match grouping {
        Grouping::Values => push(list(&lists[0])),
        Grouping::Cogroup => push(Json::Array(lists.iter().map(|l| list(l)).collect())),
        Grouping::Join(how) => {
            let (left, right) = (&lists[0], &lists[1]);
            let keep_left = matches!(how, JoinKind::LeftOuter | JoinKind::FullOuter);
            let keep_right = matches!(how, JoinKind::RightOuter | JoinKind::FullOuter);
            if right.is_empty() && keep_left {
                left.iter().for_each(|l| push(Json::Array(vec![l.json(), Json::Null])));
            } else if left.is_empty() && keep_right {
                right.iter().for_each(|r| push(Json::Array(vec![Json::Null, r.json()])));
            }
            for l in left {
                for r in right {
                    push(Json::Array(vec![l.json(), r.json()]));
                }
            }
        }
    }
}

/// Extension trait for keyed grouping over one or more streams.
pub trait CogroupExt<'s> {
    /// Groups the records of these streams by key as `cfg` says.
    ///
    /// ```
    /// // Exercised end to end by tests/golden/group-by-key, join and cogroup.
    /// use weir::operator::cogroup::Grouping;
    /// assert_ne!(Grouping::Values, Grouping::Cogroup);
    /// ```
    fn cogroup(self, cfg: GroupConfig) -> BatchStream<'s>;
}

impl<'s> CogroupExt<'s> for Vec<BatchStream<'s>> {
    fn cogroup(self, cfg: GroupConfig) -> BatchStream<'s> {
        let cfg = Arc::new(cfg);
        let inputs = self.len();
        let scope = self[0].scope();
        let shares: Vec<_> =
            self.into_iter().enumerate().map(|(side, s)| split_by_key(s, side as u64, &cfg.name, &cfg.dead)).collect();
        let name = cfg.name.clone();
        scope.concatenate(shares).unary_frontier(Exchange::new(|x: &Share| x.0), &name, move |cap, _info| {
            let mut cap = Some(cap);
            let mut stash: HashMap<u64, Sides> = HashMap::new();
            let mut times = BatchTimes::new(cfg.first_time, cfg.interval, cfg.shared.clone());
            let mut windows: WindowBuffer<Sides> = WindowBuffer::new(cfg.window);
            let mut hook = cfg.hook.open(&mut windows, &cfg.shared);
            move |(input, frontier), output| {
                input.for_each(|c, data| {
                    let sides = stash.entry(*c.time()).or_insert_with(|| vec![Vec::new(); inputs]);
                    for (_, side, b) in data.drain(..) {
                        sides[side as usize].push(b);
                    }
                });
                for t in times.completed(frontier) {
                    let sides = stash.remove(&t).unwrap_or_else(|| vec![Vec::new(); inputs]);
                    let out = windows.add(t, sides).map(|parts| {
                        let mut out = Batch::new();
                        for (key, lists) in group_by_key(&parts, inputs) {
                            emit(cfg.grouping, key, &lists, &mut out, t as i64);
                        }
                        out
                    });
                    hook.after_batch(t, &windows);
                    if let (Some(c), Some(out)) = (&cap, out.filter(|o| !o.is_empty())) {
                        output.session(&c.delayed(&t)).give(out);
                    }
                }
                hook.at_input_end(frontier.frontier().is_empty(), &windows);
                times.hold(&mut cap, frontier);
            }
        })
    }
}
