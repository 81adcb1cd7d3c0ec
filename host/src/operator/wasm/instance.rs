//! One plugin instance on one worker: its store (with memory cap, its sandbox in `sandbox.rs`) and the
//! per-batch calls of its world under an epoch deadline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{Store, Trap};
use weir_sdk::packed::Batch;
use weir_sdk::reducer::Groups;
use weir_sdk::state::StateInput;

use super::bindings::{
    WorldPre, reducer::Reducer, sink::Sink, source::Source, state::StateUpdater, transform::Transform, types as wit,
};
use super::engine::{LoadedPlugin, TICK, Ticker};
use super::http::HttpGate;
use super::meter::Meter;
pub use super::sandbox::Limits;
use super::sandbox::PluginState;
use super::stdio::Capture;
use super::{BatchFailure, PluginError};

/// What one batch produced.
pub struct Processed {
    /// Output records.
    pub records: Batch,
    /// Refused input records: index and reason.
    pub rejected: Vec<(u32, String)>,
}

/// What a state updater returned for one batch.
pub struct Updated {
    /// One record per key: its new state.
    pub states: Batch,
    /// One entry per key: false removes the state.
    pub keep: Vec<bool>,
    /// Records to emit.
    pub emitted: Batch,
    /// Refused input values: index and reason.
    pub rejected: Vec<(u32, String)>,
}

/// The exports of an instance, by world.
pub(super) enum World {
    Transform(Transform),
    Reducer(Reducer),
    State(StateUpdater),
    Source(Source),
    Sink(Sink),
}

/// A live instance.
pub struct PluginInstance {
    pub(super) store: Store<PluginState>,
    pub(super) world: World,
    stdout: Capture,
    stderr: Capture,
    limits: Limits,
    pub(super) operator: Arc<str>,
    /// Where its calls are counted, if anywhere; and when the current call began.
    meter: Option<Arc<Meter>>,
    armed: Instant,
    // Keeps the epoch moving while this instance lives, or its deadline could never fire.
    _ticker: Arc<Ticker>,
}

fn to_wit(b: Batch) -> wit::Batch {
    weir_sdk::move_columns!(b => wit::Batch)
}

fn from_wit(b: wit::Batch) -> Batch {
    weir_sdk::move_columns!(b => Batch)
}

impl PluginInstance {
    /// Instantiates `plugin` for operator `operator` of job `job`.
    pub fn new(
        plugin: &LoadedPlugin,
        limits: Limits,
        job: &str,
        operator: &str,
    ) -> Result<PluginInstance, PluginError> {
        if matches!(plugin.pre, WorldPre::Source(_) | WorldPre::Sink(_)) {
            let message = format!("a `{}` component runs as a job's {0}, not in a stream", plugin.world);
            return Err(PluginError::Instantiate { operator: operator.into(), message });
        }
        PluginInstance::with_gate(plugin, limits, job, operator, HttpGate::closed(operator))
    }

    /// [`PluginInstance::new`] for any world, its HTTP requests going through `http`.
    pub fn with_gate(
        plugin: &LoadedPlugin,
        limits: Limits,
        job: &str,
        operator: &str,
        http: HttpGate,
    ) -> Result<PluginInstance, PluginError> {
        let (stdout, stderr) = (Capture::default(), Capture::default());
        let state = PluginState::sandboxed(&limits, job, operator, http, (stdout.clone(), stderr.clone()));
        let mut store = Store::new(&plugin.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(Self::ticks(limits.deadline));
        let instantiate =
            |e: wasmtime::Error| PluginError::Instantiate { operator: operator.into(), message: format!("{e:#}") };
        let world = match &plugin.pre {
            WorldPre::Transform(p) => World::Transform(p.instantiate(&mut store).map_err(instantiate)?),
            WorldPre::Reducer(p) => World::Reducer(p.instantiate(&mut store).map_err(instantiate)?),
            WorldPre::State(p) => World::State(p.instantiate(&mut store).map_err(instantiate)?),
            WorldPre::Source(p) => World::Source(p.instantiate(&mut store).map_err(instantiate)?),
            WorldPre::Sink(p) => World::Sink(p.instantiate(&mut store).map_err(instantiate)?),
        };
        Ok(PluginInstance {
            store,
            world,
            stdout,
            stderr,
            limits,
            operator: operator.into(),
            meter: None,
            armed: Instant::now(),
            _ticker: plugin.ticker.clone(),
        })
    }

    /// This instance with its calls counted on `meter`.
    pub fn metered(mut self, meter: Arc<Meter>) -> PluginInstance {
        self.meter = Some(meter);
        self
    }

    /// Starts a call: its deadline from now, and its clock.
    pub(super) fn arm(&mut self) {
        let ticks = self.deadline_ticks();
        self.store.set_epoch_deadline(ticks);
        self.armed = Instant::now();
    }

    fn ticks(d: Duration) -> u64 {
        (d.as_millis() as u64).div_ceil(TICK.as_millis() as u64).max(1)
    }

    /// The deadline of one call, in epoch ticks.
    pub(super) fn deadline_ticks(&self) -> u64 {
        Self::ticks(self.limits.deadline)
    }

    /// Logs what the plugin printed, tagged with job and operator.
    /// Returns the stderr text, which explains a trap better than the trap does.
    fn flush_stdio(&self) -> String {
        let (job, op) = (self.store.data().job(), &*self.operator);
        for line in self.stdout.drain().lines() {
            tracing::info!(job, operator = op, stream = "stdout", "{line}");
        }
        let stderr = self.stderr.drain();
        for line in stderr.lines() {
            tracing::warn!(job, operator = op, stream = "stderr", "{line}");
        }
        stderr
    }

    /// Asks the plugin to describe itself.
    pub fn describe(&mut self) -> Result<wit::Descriptor, PluginError> {
        self.arm();
        let r = match &self.world {
            World::Transform(w) => w.call_describe(&mut self.store),
            World::Reducer(w) => w.call_describe(&mut self.store),
            World::State(w) => w.call_describe(&mut self.store),
            World::Source(_) | World::Sink(_) => {
                return Err(PluginError::Start {
                    operator: self.operator.to_string(),
                    call: "describe",
                    failure: self.not_a("transform"),
                });
            }
        };
        self.starting("describe", r)
    }

    /// The result of the start call `call`, a trap or deadline said in one line.
    pub(super) fn starting<T>(&self, call: &'static str, r: wasmtime::Result<T>) -> Result<T, PluginError> {
        let operator = self.operator.to_string();
        self.finish(r).map_err(|failure| PluginError::Start { operator, call, failure })
    }

    /// Passes the job's parameters to `init`.
    pub fn init(&mut self, params: &BTreeMap<String, String>) -> Result<(), PluginError> {
        let params: Vec<wit::Param> =
            params.iter().map(|(k, v)| wit::Param { name: k.clone(), value: v.clone() }).collect();
        self.arm();
        let r = match &self.world {
            World::Transform(w) => w.call_init(&mut self.store, &params),
            World::Reducer(w) => w.call_init(&mut self.store, &params),
            World::State(w) => w.call_init(&mut self.store, &params),
            World::Source(w) => w.call_init(&mut self.store, &params),
            World::Sink(w) => w.call_init(&mut self.store, &params),
        };
        let refused = |message: String| PluginError::Init { operator: self.operator.to_string(), message };
        self.starting("init", r)?.map_err(refused)
    }

    /// Runs one batch and hands the input back (for dead letters). After a failure the instance is
    /// unusable: drop it and instantiate anew.
    pub fn process(&mut self, time: u64, input: Batch) -> (Result<Processed, BatchFailure>, Batch) {
        self.arm();
        let World::Transform(w) = &self.world else { return (Err(self.not_a("transform")), input) };
        let n = input.len();
        let wit_in = to_wit(input);
        let result = w.call_process(&mut self.store, time as i64, &wit_in);
        let result = self.finish(result).and_then(|out| Self::check(out, n));
        (result, from_wit(wit_in))
    }

    /// Calls a reducer's `combine` (or, with `inverse`, its `inverse`) on all groups at once, and hands
    /// the groups back. Every output record must carry a key.
    pub fn reduce(&mut self, inverse: bool, input: Groups) -> (Result<Processed, BatchFailure>, Groups) {
        self.arm();
        let World::Reducer(w) = &self.world else { return (Err(self.not_a("reducer")), input) };
        let n = input.values.len();
        let wit_in = wit::Groups { values: to_wit(input.values), bounds: input.bounds };
        let result =
            if inverse { w.call_inverse(&mut self.store, &wit_in) } else { w.call_combine(&mut self.store, &wit_in) };
        let result = self.finish(result).and_then(|out| Self::check(out, n)).and_then(|p| {
            match (0..p.records.len()).find(|&i| p.records.kinds[i] & weir_sdk::packed::HAS_KEY == 0) {
                Some(i) => Err(BatchFailure::BadOutput(format!("reduced record {i} has no key"))),
                None => Ok(p),
            }
        });
        (result, Groups { values: from_wit(wit_in.values), bounds: wit_in.bounds })
    }

    /// Calls a state updater's `update` on all keys at once, and hands the input back.
    pub fn update(&mut self, time: u64, input: StateInput) -> (Result<Updated, BatchFailure>, StateInput) {
        self.arm();
        let World::State(w) = &self.world else { return (Err(self.not_a("state-updater")), input) };
        let (n, keys) = (input.values.values.len(), input.states.len());
        let wit_in = wit::StateInput {
            values: wit::Groups { values: to_wit(input.values.values), bounds: input.values.bounds },
            states: to_wit(input.states),
            status: input.flags,
        };
        let result = w.call_update(&mut self.store, time as i64, &wit_in);
        let result = self.finish(result).and_then(|out| {
            let rejected = Self::rejected(out.errors, n)?;
            let (states, emitted) = (from_wit(out.states), from_wit(out.emitted));
            states.validate().and_then(|_| emitted.validate()).map_err(|e| BatchFailure::BadOutput(e.to_string()))?;
            if states.len() != keys || out.keep.len() != keys {
                let msg = format!("{keys} keys in, {} states and {} keep flags out", states.len(), out.keep.len());
                return Err(BatchFailure::BadOutput(msg));
            }
            Ok(Updated { states, keep: out.keep, emitted, rejected })
        });
        let back = StateInput {
            values: Groups { values: from_wit(wit_in.values.values), bounds: wit_in.values.bounds },
            states: from_wit(wit_in.states),
            flags: wit_in.status,
        };
        (result, back)
    }

    pub(super) fn not_a(&self, world: &str) -> BatchFailure {
        BatchFailure::Restart(format!("operator `{}`: the plugin is not a `{world}`", self.operator))
    }

    /// Logs the call's output and classifies a failed call.
    pub(super) fn finish<T>(&self, result: wasmtime::Result<T>) -> Result<T, BatchFailure> {
        let took = self.armed.elapsed();
        let stderr_tail = self.flush_stdio();
        let result = result.map_err(|e| self.classify(e, &stderr_tail));
        if let Some(m) = &self.meter {
            m.record(took, result.as_ref().err(), self.store.data().limits.peak);
        }
        result
    }

    /// The refused records of a call with `n` input records; a fatal error fails the call.
    fn rejected(errors: Vec<wit::Error>, n: usize) -> Result<Vec<(u32, String)>, BatchFailure> {
        let mut rejected = Vec::new();
        for err in errors {
            match err {
                wit::Error::Fatal(m) => return Err(BatchFailure::Fatal(m)),
                wit::Error::BadRecord(b) if (b.index as usize) < n => rejected.push((b.index, b.reason)),
                wit::Error::BadRecord(b) => {
                    return Err(BatchFailure::BadOutput(format!("refused record {} of a {n}-record batch", b.index)));
                }
            }
        }
        Ok(rejected)
    }

    fn check(out: wit::Output, n: usize) -> Result<Processed, BatchFailure> {
        let rejected = Self::rejected(out.errors, n)?;
        let records = from_wit(out.records);
        records.validate().map_err(|e| BatchFailure::BadOutput(e.to_string()))?;
        Ok(Processed { records, rejected })
    }

    fn classify(&self, e: wasmtime::Error, stderr: &str) -> BatchFailure {
        if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return BatchFailure::Deadline(self.limits.deadline);
        }
        let text = format!("{e:#}");
        if text.contains("forcing trap when growing memory") {
            return BatchFailure::MemoryCap(self.limits.memory);
        }
        // A Rust panic prints "panicked at <file>:<line>:" and then its message to stderr before the
        // trap; together they say more than the trap code does.
        let lines: Vec<&str> = stderr.lines().collect();
        let panic = lines.iter().position(|l| l.contains("panicked at")).map(|i| {
            let at = lines[i].split("panicked at").nth(1).unwrap_or("").trim();
            format!(" (panicked at {at} {})", lines.get(i + 1).map_or("", |m| m.trim()))
        });
        let first = match e.downcast_ref::<Trap>() {
            Some(trap) => trap.to_string(),
            None => e.root_cause().to_string(),
        };
        BatchFailure::Trap(format!("{first}{}", panic.unwrap_or_default()))
    }
}
