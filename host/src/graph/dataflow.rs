//! Builds the timely dataflow for a plan on one worker: one input per source, one operator per stream
//! (in plan order, so every input exists before it is used), one sink operator per sink.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use timely::dataflow::operators::Probe;
use timely::dataflow::operators::core::Concatenate;
use timely::dataflow::{InputHandleVec, ProbeHandle, Scope};
use weir_sdk::packed::Batch;

use super::Plan;
use super::spec::{JoinKind, ReducerKind, SinkSpec, StreamSpec, TimeoutOn, TopPer, WindowSpec};
use crate::batcher::{BatchTimes, Shared};
use crate::checkpoint::{Checkpointer, HookSlot, PartHook, watermark_part};
use crate::operator::apply::ApplyExt;
use crate::operator::builtin::{ExprFilter, ExprMap};
use crate::operator::cogroup::{CogroupExt, GroupConfig, Grouping};
use crate::operator::dead_letter::DeadLetters;
use crate::operator::drop_duplicates::{DedupConfig, DropDuplicatesExt};
use crate::operator::event_timeouts::{EventTimeouts, EventTimeoutsExt};
use crate::operator::event_window::{EventWindowConfig, EventWindowExt, Shape};
use crate::operator::exchange::ExchangeByKeyExt;
use crate::operator::expr::Expr;
use crate::operator::join_table::JoinTable;
use crate::operator::keyed_state::StateConfig;
use crate::operator::map_with_state::MapWithStateExt;
use crate::operator::native::{MapToPair, Tokenize};
use crate::operator::plugin_reduce::{PluginReduceConfig, PluginReduceExt};
use crate::operator::plugin_state::PluginStateExt;
use crate::operator::reduce::{Aggregation, ReduceConfig, ReduceExt};
use crate::operator::repartition::RepartitionExt;
use crate::operator::tap::{TapExt, Taps};
use crate::operator::top::TopExt;
use crate::operator::update_state::UpdateStateExt;
use crate::operator::wasm::{FailedBatches, LoadedPlugin, PluginSlot, Versions, WasmTransform};
use crate::operator::watermark;
use crate::operator::watermarked::Timing;
use crate::render::Order;
use crate::sink::writer::Reports;
use crate::sink::{OnRefused, Sink, SinkExt};
use crate::state::StateDb;
use crate::table::StaticTable;
use crate::window::{Window, WindowRecordsExt};

pub use crate::stream::BatchStream;

/// What every worker's dataflow shares.
pub struct JobContext {
    /// The plan.
    pub plan: Arc<Plan>,
    /// Compiled plugins by stream name, each by batch time (a swap adds a version).
    pub plugins: HashMap<String, Arc<Versions<LoadedPlugin>>>,
    /// Refused records.
    pub dead: Arc<DeadLetters>,
    /// Failed batches, job-wide.
    pub failures: FailedBatches,
    /// Batch progress and stop flag.
    pub shared: Arc<Shared>,
    /// Where the job's events go.
    pub events: crate::event::Events,
    /// The job's pace, which the sinks set while they lag (see `pace.rs`).
    pub pace: Arc<crate::pace::Pace>,
    /// Time of the first batch.
    pub first_time: u64,
    /// The job's state database, when a stream keeps state.
    pub state: Option<Arc<StateDb>>,
    /// Initial state by stream name.
    pub initial: HashMap<String, Arc<Batch>>,
    /// Static tables by name, loaded before the workers start.
    pub tables: HashMap<String, Arc<StaticTable>>,
    /// The job's sinks, opened before the workers start; worker 0 takes them.
    pub sinks: std::sync::Mutex<HashMap<String, Box<dyn Sink>>>,
    /// The job's checkpoints, when it takes any.
    pub checkpoint: Option<Arc<Checkpointer>>,
    /// Where `weir job tail` sees the job's streams.
    pub taps: Taps,
    /// What each plugin stream's calls cost.
    pub meters: crate::operator::wasm::Meters,
    /// The job's watermark after each batch, as its event-time operators folded it.
    pub watermark: crate::operator::watermark::Shown,
}

impl JobContext {
    /// The checkpoint hook of stream `name` on `worker`, when the job checkpoints and `keeps` says the
    /// operator keeps state between batches.
    fn hook(&self, name: &str, worker: usize, keeps: bool) -> HookSlot {
        HookSlot::new(self.checkpoint.as_ref().filter(|_| keeps).map(|c| PartHook::new(c.clone(), name, worker)))
    }

    /// The window `w` over stream `from`: the slide defaults to the input's.
    fn window(&self, from: &str, w: WindowSpec) -> Window {
        Window { length: w.length.0, slide: w.slide.map_or_else(|| self.plan.slide(from), |s| s.0) }
    }

    fn group(&self, at: At<'_>, grouping: Grouping, window: Option<WindowSpec>) -> GroupConfig {
        let At { name, from, worker } = at;
        let step = self.plan.slide(from);
        GroupConfig {
            name: name.into(),
            grouping,
            window: window.map(|w| self.window(from, w)),
            first_time: Plan::align(self.first_time, step),
            interval: step,
            shared: self.shared.clone(),
            dead: self.dead.clone(),
            hook: self.hook(name, worker, window.is_some()),
        }
    }

    /// This worker's hold on stream `name`'s plugin.
    fn slot(&self, name: &str, params: &BTreeMap<String, String>) -> PluginSlot {
        PluginSlot {
            name: name.into(),
            job: self.plan.name.clone(),
            plugin: self.plugins[name].newest(),
            versions: self.plugins[name].clone(),
            params: params.clone(),
            limits: self.plan.plugin_limits(),
            dead: self.dead.clone(),
            failures: self.failures.clone(),
            events: self.events.clone(),
            instance: None,
            meter: self.meters.get(name).cloned().unwrap_or_default(),
        }
    }

    /// `reducer` is the built-in fold (unused when a plugin updates the state).
    fn state(&self, at: At<'_>, reducer: ReducerKind, timeout: Option<u64>) -> StateConfig {
        let At { name, from, worker } = at;
        let step = self.plan.slide(from);
        let snapshots =
            self.plan.streams.iter().any(|(_, s)| matches!(s, StreamSpec::StateSnapshots { from } if from == name));
        StateConfig {
            name: name.into(),
            merge: Aggregation::ByKey(reducer).merge(),
            timeout,
            timeout_on: TimeoutOn::BatchTime,
            initial: self.initial.get(name).cloned(),
            snapshots,
            db: self.state.clone().expect("the job opened its state database"),
            first_time: Plan::align(self.first_time, step),
            interval: step,
            shared: self.shared.clone(),
            hook: self.hook(name, worker, true),
        }
    }

    /// True when a `late_records` stream reads stream `name`.
    fn has_late_stream(&self, name: &str) -> bool {
        self.plan.streams.iter().any(|(_, s)| matches!(s, StreamSpec::LateRecords { from } if from == name))
    }

    /// When the batches of an event-time stream complete, and its checkpoint hook.
    fn timing(&self, at: At<'_>) -> Timing {
        let At { name, from, worker } = at;
        let step = self.plan.slide(from);
        Timing {
            name: name.into(),
            first_time: Plan::align(self.first_time, step),
            interval: step,
            shared: self.shared.clone(),
            hook: self.hook(name, worker, true),
            watermark: self.watermark.clone(),
        }
    }

    /// `drop_duplicates` stream `name`, remembering keys `within` ms past their event time.
    fn dedup(&self, name: &str, within: i64) -> DedupConfig {
        DedupConfig {
            within,
            watermark: self.plan.watermark,
            sources: self.plan.sources.len(),
            late_stream: self.has_late_stream(name),
            dead: self.dead.clone(),
        }
    }

    /// The event-time window `spec` (an `event_window` stream).
    fn event_window(&self, name: &str, spec: &StreamSpec) -> EventWindowConfig {
        let StreamSpec::EventWindow { reducer, length, slide, gap, offset, lateness, output, .. } = spec else {
            unreachable!("an event_window stream")
        };
        let shape = match (length, gap) {
            (Some(l), _) => {
                Shape::Sliding { length: l.0 as i64, slide: slide.unwrap_or(*l).0 as i64, offset: offset.0 as i64 }
            }
            (None, g) => Shape::Session { gap: g.expect("the plan checked it").0 as i64 },
        };
        EventWindowConfig {
            name: name.into(),
            reducer: *reducer,
            shape,
            lateness: lateness.0 as i64,
            output: *output,
            late_stream: self.has_late_stream(name),
            watermark: self.plan.watermark,
            sources: self.plan.sources.len(),
            dead: self.dead.clone(),
        }
    }

    /// `pairs`: the value of a `map_to_pair` fused into this aggregation (see [`fusable_pairs`]).
    fn reduce(
        &self,
        at: At<'_>,
        aggregation: Aggregation,
        window: Option<WindowSpec>,
        pairs: Option<i64>,
    ) -> ReduceConfig {
        let At { name, from, worker } = at;
        let step = self.plan.slide(from);
        ReduceConfig {
            name: name.into(),
            aggregation,
            window: window.map(|w| self.window(from, w)),
            incremental: None,
            pairs,
            first_time: Plan::align(self.first_time, step),
            interval: step,
            shared: self.shared.clone(),
            dead: self.dead.clone(),
            hook: self.hook(name, worker, window.is_some()),
        }
    }
}

/// A stream being built: its name, its input, and the worker building it.
#[derive(Clone, Copy)]
struct At<'a> {
    name: &'a str,
    from: &'a str,
    worker: usize,
}

/// `map_to_pair` streams read only by one `reduce_by_key` (or a stateful op, which starts with one), by
/// name, with their input and value. Such a pair stream is never built: the aggregation reads its input
/// and pairs each record itself, which saves writing and reading one `(word, 1)` record per word.
fn fusable_pairs(plan: &Plan) -> HashMap<&str, (&str, i64)> {
    let mut readers: HashMap<&str, Vec<Option<&StreamSpec>>> = HashMap::new();
    for (_, s) in &plan.streams {
        for input in s.inputs() {
            readers.entry(input).or_default().push(Some(s));
        }
    }
    for (_, s) in &plan.sinks {
        readers.entry(s.from()).or_default().push(None);
    }
    let mut fused = HashMap::new();
    for (name, spec) in &plan.streams {
        if let StreamSpec::MapToPair { from, value } = spec
            && let Some(
                [
                    Some(
                        StreamSpec::ReduceByKey { plugin: None, .. }
                        | StreamSpec::UpdateStateByKey { plugin: None, .. }
                        | StreamSpec::MapWithState { plugin: None, timeout_on: TimeoutOn::BatchTime, .. },
                    ),
                ],
            ) = readers.get(name.as_str()).map(Vec::as_slice)
        {
            fused.insert(name.as_str(), (from.as_str(), *value));
        }
    }
    fused
}

/// Builds the job's dataflow in `scope`. Returns one input handle per source, in plan order.
pub fn build(scope: Scope<'_, u64>, ctx: &JobContext, probe: &ProbeHandle<u64>) -> Vec<InputHandleVec<u64, Batch>> {
    let plan = &ctx.plan;
    let mut inputs = Vec::new();
    let mut nodes: BTreeMap<&str, BatchStream<'_>> = BTreeMap::new();
    for (name, _) in &plan.sources {
        let mut input = InputHandleVec::new();
        nodes.insert(name, input.to_stream(scope).tap(name, &ctx.taps));
        inputs.push(input);
    }
    let fused = fusable_pairs(plan);
    let mut snapshots: HashMap<&str, BatchStream<'_>> = HashMap::new();
    let mut late: HashMap<&str, BatchStream<'_>> = HashMap::new();
    // The watermark's parts, from every source, when a stream follows event time.
    let follows = |s: &StreamSpec| {
        matches!(
            s,
            StreamSpec::EventWindow { .. }
                | StreamSpec::DropDuplicates { .. }
                | StreamSpec::MapWithState { timeout_on: TimeoutOn::EventTime, .. }
        )
    };
    let parts = plan.streams.iter().any(|(_, s)| follows(s)).then(|| {
        let sources: Vec<BatchStream<'_>> = plan.sources.iter().map(|(n, _)| nodes[n.as_str()].clone()).collect();
        watermark::parts(scope, &sources)
    });
    for (name, spec) in &plan.streams {
        if fused.contains_key(name.as_str()) {
            continue;
        }
        let (input, pairs) = match fused.get(spec.from()) {
            Some((from, value)) => (nodes[from].clone(), Some(*value)),
            None => (nodes[spec.from()].clone(), None),
        };
        let sides = || spec.inputs().into_iter().map(|i| nodes[i].clone()).collect::<Vec<_>>();
        let at = |from| At { name, from, worker: scope.index() };
        let out = match spec {
            StreamSpec::Wasm { params, .. } => input.apply(name, WasmTransform(ctx.slot(name, params))),
            StreamSpec::Tokenize { .. } => input.apply(name, Tokenize),
            StreamSpec::Filter { condition, .. } => {
                let condition = Expr::parse(condition).expect("the plan checked the expression");
                input.apply(name, ExprFilter { name: name.clone(), condition, dead: ctx.dead.clone() })
            }
            StreamSpec::Map { key, value, .. } => {
                let parse = |e: &Option<String>| e.as_deref().map(|e| Expr::parse(e).expect("the plan checked it"));
                let (key, value) = (parse(key), parse(value));
                input.apply(name, ExprMap { name: name.clone(), key, value, dead: ctx.dead.clone() })
            }
            StreamSpec::MapToPair { value, .. } => input.apply(name, MapToPair { value: *value }),
            StreamSpec::ReduceByKey { reducer: Some(reducer), window, from, inverse, filter, .. } => {
                let mut cfg = ctx.reduce(at(from), Aggregation::ByKey(*reducer), *window, pairs);
                cfg.incremental = inverse.then_some(filter.is_some());
                input.aggregate(cfg)
            }
            StreamSpec::ReduceByKey { reducer: None, window, from, inverse, params, .. } => {
                let step = plan.slide(from);
                let cfg = PluginReduceConfig {
                    slot: ctx.slot(name, params),
                    window: window.map(|w| ctx.window(from, w)),
                    inverse: *inverse,
                    first_time: Plan::align(ctx.first_time, step),
                    interval: step,
                    shared: ctx.shared.clone(),
                    hook: ctx.hook(name, scope.index(), window.is_some()),
                };
                input.plugin_reduce(name, cfg)
            }
            StreamSpec::Count { window, from } => {
                input.aggregate(ctx.reduce(at(from), Aggregation::Count, *window, pairs))
            }
            StreamSpec::Reduce { reducer, window, from } => {
                input.aggregate(ctx.reduce(at(from), Aggregation::Reduce(*reducer), *window, pairs))
            }
            StreamSpec::Top { n, from, per } => {
                let step = plan.slide(from);
                input.top(name, *n, *per, BatchTimes::new(Plan::align(ctx.first_time, step), step, ctx.shared.clone()))
            }
            StreamSpec::Window { window, from } => {
                let step = plan.slide(from);
                let window = ctx.window(from, *window);
                let hook = ctx.hook(name, scope.index(), true);
                input.window_records(name, window, Plan::align(ctx.first_time, step), step, ctx.shared.clone(), hook)
            }
            StreamSpec::CountByValue { window, from } => {
                input.aggregate(ctx.reduce(at(from), Aggregation::CountByValue, *window, pairs))
            }
            StreamSpec::UpdateStateByKey { updater: Some(updater), from, .. } => {
                let per_batch = ctx.reduce(at(from), Aggregation::ByKey(*updater), None, pairs);
                input.aggregate(per_batch).update_state(ctx.state(at(from), *updater, None))
            }
            StreamSpec::UpdateStateByKey { updater: None, from, params, .. } => {
                input.plugin_update_state(ctx.state(at(from), ReducerKind::Sum, None), ctx.slot(name, params))
            }
            StreamSpec::MapWithState { function, from, timeout, params, timeout_on, .. } => {
                let timeout = timeout.map(|t| t.0);
                let (mapped, snaps) = match function {
                    Some(f) if *timeout_on == TimeoutOn::EventTime => {
                        let parts = parts.clone().expect("made when a stream follows event time");
                        let mut cfg = ctx.state(at(from), *f, timeout);
                        cfg.timeout_on = TimeoutOn::EventTime;
                        let timing = Timing {
                            hook: ctx.hook(&watermark_part(name), scope.index(), true),
                            ..ctx.timing(at(from))
                        };
                        let timeouts = EventTimeouts {
                            watermark: plan.watermark,
                            sources: plan.sources.len(),
                            reducer: *f,
                            dead: ctx.dead.clone(),
                        };
                        input.exchange_by_key(name, &ctx.dead).map_with_event_timeouts(parts, timing, cfg, timeouts)
                    }
                    Some(f) => {
                        let per_batch = ctx.reduce(at(from), Aggregation::ByKey(*f), None, pairs);
                        input.aggregate(per_batch).map_with_state(ctx.state(at(from), *f, timeout))
                    }
                    None => input
                        .plugin_map_with_state(ctx.state(at(from), ReducerKind::Sum, timeout), ctx.slot(name, params)),
                };
                snapshots.insert(name, snaps);
                mapped
            }
            StreamSpec::StateSnapshots { from } => snapshots[from.as_str()].clone(),
            StreamSpec::EventWindow { from, .. } | StreamSpec::DropDuplicates { from, .. } => {
                // Both follow the watermark on their keys' workers, and hand on a late output.
                let parts = parts.clone().expect("made when a stream follows event time");
                let keyed = input.exchange_by_key(name, &ctx.dead);
                let timing = ctx.timing(at(from));
                let (out, late_records) = match spec {
                    StreamSpec::DropDuplicates { within, .. } => {
                        keyed.drop_duplicates(parts, timing, ctx.dedup(name, within.0 as i64))
                    }
                    _ => keyed.event_window(parts, timing, ctx.event_window(name, spec)),
                };
                late.insert(name, late_records);
                out
            }
            StreamSpec::LateRecords { from } => late[from.as_str()].clone(),
            StreamSpec::Union { .. } => scope.concatenate(sides()),
            StreamSpec::Repartition { partitions, .. } => input.repartition(name, *partitions),
            StreamSpec::GroupByKey { window, from } => {
                vec![input].cogroup(ctx.group(at(from), Grouping::Values, *window))
            }
            StreamSpec::Join { how, window, .. } => {
                sides().cogroup(ctx.group(at(spec.from()), Grouping::Join(*how), *window))
            }
            StreamSpec::JoinTable { table, how, .. } => input.apply(
                name,
                JoinTable {
                    name: name.clone(),
                    table: ctx.tables[table].clone(),
                    keep_unmatched: *how == JoinKind::LeftOuter,
                    dead: ctx.dead.clone(),
                },
            ),
            StreamSpec::Cogroup { window, .. } => {
                sides().cogroup(ctx.group(at(spec.from()), Grouping::Cogroup, *window))
            }
        };
        nodes.insert(name, out.tap(name, &ctx.taps));
    }
    for (name, spec) in &plan.sinks {
        if let SinkSpec::Noop { from } = spec {
            // Consumed where it is, on every worker: no exchange, no writer.
            nodes[from.as_str()].clone().probe_with(probe);
            continue;
        }
        // Only worker 0 writes; the job opened the sinks before any worker started.
        let sink = if scope.index() == 0 { ctx.sinks.lock().ok().and_then(|mut s| s.remove(name)) } else { None };
        let input = nodes[spec.from()].clone().probe_with(probe);
        let step = plan.slide(spec.from());
        let times = BatchTimes::new(Plan::align(ctx.first_time, step), step, ctx.shared.clone());
        let dead = ctx.dead.clone();
        let refused: OnRefused = Arc::new(move |sink, time, record, reason| dead.record(sink, time, record, reason));
        let (checkpoint, events, pace) = (ctx.checkpoint.clone(), ctx.events.clone(), ctx.pace.clone());
        let reports = Reports { checkpoint, refused, events, pace };
        // A `top` stream is written in its rank order; any other in canonical order.
        let order = match plan.streams.iter().find(|(n, _)| n == spec.from()) {
            Some((_, StreamSpec::Top { per: TopPer::Batch, .. })) => Order::Ranked,
            Some((_, StreamSpec::Top { per: TopPer::EventTime, .. })) => Order::RankedByTime,
            _ => Order::Canonical,
        };
        input.sink_to(name, sink, order, times, reports);
    }
    inputs
}
