//! Runs one job in-process: compiles its plugins, starts the receivers (on the environment's tokio
//! runtime), the batch clock (a thread) and the timely workers, and waits until the input ends, a
//! limit is reached or its handle asks it to stop (`handle.rs`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use thiserror::Error;

pub mod connectors;
mod env;
mod handle;
mod plugins;
mod resume;
mod stop;

pub use env::Env;
use handle::Control;
pub use handle::{Job, JobHandle, JobState, JobStatus, status_line};
use plugins::{Swapper, load_plugins};
use resume::{checkpointer, recut_batches, resume};
pub use stop::{StopRequest, Stopper};

use crate::batcher::{self, Batcher, Feed, Shared};
use crate::checkpoint::SourceOffset;
use crate::event::{Events, JobEvent};
use crate::graph::Plan;
use crate::graph::dataflow::JobContext;
use crate::graph::spec::{ClockMode, SinkSpec, StreamSpec};
use crate::operator::dead_letter::DeadLetters;
use crate::operator::wasm::{FailedBatches, PluginError};
use crate::receiver;
use crate::sink::plugin::PluginSink;
use crate::state::StateDb;
use crate::table::StaticTable;
use weir_sdk::packed::Batch;

/// Why a job could not run.
#[derive(Debug, Error)]
pub enum JobError {
    /// A plugin could not be loaded or refused its parameters.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// A declared parameter is missing from the plugin, or similar.
    #[error("stream `{stream}`: {message}")]
    Params {
        /// Stream name.
        stream: String,
        /// What is wrong.
        message: String,
    },
    /// A plugin source or sink does not fit its table.
    #[error("{section} `{name}`: {message}")]
    Connector {
        /// `source` or `sink`.
        section: &'static str,
        /// Its name in the spec.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A sink could not be opened.
    #[error(transparent)]
    Sink(#[from] crate::sink::SinkError),
    /// A source could not read its input.
    #[error("{0}")]
    Source(String),
    /// The state database or an initial-state file could not be opened.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// A static table could not be loaded.
    #[error(transparent)]
    Table(#[from] crate::table::TableError),
    /// The dead-letter file could not be opened.
    #[error("cannot open dead-letter file: {0}")]
    DeadLetter(std::io::Error),
    /// A checkpoint could not be read, written or used.
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    /// The checkpoint or state directory is in use by another process.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// A stream's `on_error = "fail"` or the job's `[dead_letter] max` was reached.
    #[error("{0}")]
    Refused(String),
    /// The runtime could not start or a worker failed.
    #[error("runtime: {0}")]
    Runtime(String),
}

impl JobError {
    /// True when the job was refused for what its spec asks (a plugin that cannot be loaded, does not
    /// fit its op or refuses its parameters), not for something that went wrong while it ran: the CLI
    /// exits 2 for these, as for other spec errors.
    pub fn is_refused_spec(&self) -> bool {
        matches!(
            self,
            JobError::Params { .. }
                | JobError::Connector { .. }
                | JobError::Plugin(PluginError::Load { .. } | PluginError::Init { .. } | PluginError::Start { .. })
        )
    }

    /// True when the spec or its input is at fault, so running the job again unchanged fails again; false
    /// when a retry may succeed (a server down, a full disk, a directory in use).
    pub fn is_users_fault(&self) -> bool {
        self.is_refused_spec() || matches!(self, JobError::Refused(_) | JobError::Checkpoint(_))
    }
}

/// Limits on a run, from the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Stop after this many batches.
    pub max_batches: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Resume from a checkpoint even when some of its state no longer fits the job (that state is dropped).
    pub allow_dropped_state: bool,
    /// Discard what the checkpoint directory holds and start the job from the beginning.
    pub start_over: bool,
}

/// What a finished run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// Batches cut.
    pub batches: u64,
    /// Batches a plugin failed.
    pub failed_batches: u64,
    /// Records sent to the dead letters.
    pub dead_letters: u64,
    /// What each stream and source refused.
    pub refused: BTreeMap<String, crate::operator::dead_letter::Tally>,
}

/// Opens the state database and reads initial-state files, when a stream keeps state.
type StateParts = (Option<Arc<StateDb>>, HashMap<String, Arc<Batch>>);

/// A resumed job (`resume`) takes its state from the checkpoint, never from initial-state files.
fn open_state(plan: &Plan, resume: bool) -> Result<StateParts, JobError> {
    let mut initial = HashMap::new();
    let mut stateful = false;
    for (name, spec) in &plan.streams {
        if let StreamSpec::UpdateStateByKey { initial_state, .. } | StreamSpec::MapWithState { initial_state, .. } =
            spec
        {
            stateful = true;
            if let (Some(path), false) = (initial_state, resume) {
                initial.insert(name.clone(), Arc::new(crate::state::load_initial(path)?));
            }
        }
    }
    if !stateful {
        return Ok((None, initial));
    }
    let db = StateDb::open(plan.state.dir.as_deref(), plan.state.cache)?;
    tracing::info!(dir = %db.path().display(), "state database open");
    Ok((Some(Arc::new(db)), initial))
}

/// Runs `plan` to the end of its input or a limit, in the process's [`Env`], and waits for it. With
/// `[checkpoint]`, a job whose directory holds a checkpoint resumes from it.
pub fn run(plan: Plan, opts: RunOptions) -> Result<RunReport, JobError> {
    Job::start(plan, opts, &Env::process()?)?.wait()
}

/// Runs `plan` in `env` on this thread until it ends, stopping when `stopper` asks, telling `events`.
fn run_in(
    plan: Plan,
    opts: RunOptions,
    control: &Control,
    env: &Arc<Env>,
    events: &Events,
) -> Result<RunReport, JobError> {
    let stopper = &control.stopper;
    crate::memory::keep_freed_memory();
    // Every log line of the job carries its name: its own threads enter this span, its tasks carry it.
    let span = tracing::info_span!("job", job = %plan.name);
    let _entered = span.clone().entered();
    let (plugins, records) = load_plugins(&plan, env)?;
    let connectors = connectors::load_connectors(&plan, env)?;
    // One process per checkpoint directory: two would resume from the same checkpoint and both write.
    let _lock = match &plan.checkpoint {
        Some(ck) => Some(crate::lock::DirLock::acquire(&ck.dir, "checkpoint directory")?),
        None => None,
    };
    let restored = match &plan.checkpoint {
        Some(ck) if opts.start_over => crate::checkpoint::discard(&ck.dir).map(|_| None)?,
        Some(ck) => crate::checkpoint::latest(&ck.dir)?,
        None => None,
    };
    let recut = match &restored {
        Some(r) => recut_batches(&plan, r.manifest.time, &r.manifest.offsets, &r.manifest.pending)?,
        None => recut_batches(&plan, 0, &BTreeMap::new(), &[])?,
    };
    // Sinks keep what they hold when the job resumes, or when it cuts logged batches again.
    let resuming = restored.is_some() || !recut.is_empty();
    let (state, initial) = open_state(&plan, restored.is_some())?;
    let resumed = resume(&plan, restored, state.as_deref(), opts.allow_dropped_state)?;
    let dead = DeadLetters::open(&plan.name, plan.dead_letter.as_deref()).map_err(JobError::DeadLetter)?;
    let dead = Arc::new(dead.with_policy(plan.dead_letter_policy.clone()).with_events(events.clone()));
    let manual = plan.clock == ClockMode::Manual;
    let first_time = match (&resumed, recut.first()) {
        (_, Some((t, _))) => *t,
        // Realtime: the batches of the time the job was down are cut at once, as Spark does.
        (Some(r), None) => r.time + plan.interval,
        (None, None) if manual => plan.interval,
        (None, None) => batcher::realtime_first_time(plan.interval),
    };
    let resumed_from = resumed.as_ref().map_or(0, |r| r.time);
    let (offsets, windows) = resumed.map(|r| (r.offsets, r.windows)).unwrap_or_default();
    let start: Vec<SourceOffset> =
        plan.sources.iter().map(|(n, _)| offsets.get(n).cloned().unwrap_or_default()).collect();
    let mut tables = HashMap::new();
    for (name, spec) in &plan.tables {
        tables.insert(name.clone(), Arc::new(StaticTable::open(name, spec, first_time, env.io())?));
    }
    let mut sinks = HashMap::new();
    for (name, spec) in &plan.sinks {
        let state = plan.checkpoint.as_ref().map(|c| c.dir.join("sinks").join(name));
        if let (Some(c), SinkSpec::Plugin { params, .. }) = (connectors.sinks.get(name), spec) {
            let sink = PluginSink::new(&plan.name, name, c.clone(), params.clone(), resuming, state.as_deref())?;
            sinks.insert(name.clone(), Box::new(sink) as Box<dyn crate::sink::Sink>);
        } else if let SinkSpec::Screen { from, top } = spec {
            let screen = crate::sink::screen::Screen::new(name, from, *top, events.clone());
            sinks.insert(name.clone(), Box::new(screen) as Box<dyn crate::sink::Sink>);
        } else if let Some(sink) = crate::sink::build(&plan.name, name, spec, resuming, state.as_deref(), env.io())? {
            sinks.insert(name.clone(), sink);
        }
    }
    if resuming && plan.clock == ClockMode::Realtime {
        // A sink holding a batch the log does not know of means entries at the log's end were lost.
        let last_cut = recut.last().map_or(resumed_from, |(t, _)| *t).max(resumed_from);
        if let Some((name, t)) =
            sinks.iter().find_map(|(n, s)| s.holds_through().filter(|t| *t > last_cut).map(|t| (n, t)))
        {
            let root = plan.checkpoint.as_ref().map(|c| c.dir.clone()).unwrap_or_default();
            let reason = format!(
                "sink `{name}` holds batch {t}, but the batch log ends at batch {last_cut}: its last entries are missing"
            );
            return Err(crate::checkpoint::CheckpointError::Refused { root, reason }.into());
        }
    }
    let shared = Arc::new(Shared::default());
    let shared_end = shared.clone();
    let checkpoint = checkpointer(&plan, records, &sinks, &shared, events, windows)?;
    let rt = env.io();
    let (tx, rx) = flume::bounded(64);
    let (drain_tx, drain) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let acks = receiver::source::Acknowledgers::default();
    let pace = Arc::new(crate::pace::Pace::new(plan.backpressure));
    for (i, (name, spec)) in plan.sources.iter().enumerate() {
        let from = receiver::Start {
            job: &plan.name,
            index: i,
            name,
            offset: start[i].clone(),
            cuts: recut.iter().map(|(_, o)| o[i].clone()).collect(),
            pace: pace.clone(),
            sources: plan.sources.len(),
            connector: connectors.sources.get(name).cloned(),
        };
        let checkpoint = plan.checkpoint.as_ref();
        tasks.push(receiver::spawn(rt, from, spec, plan.clock, checkpoint, events, &acks, tx.clone(), drain.clone()));
    }
    drop(tx);
    let watch = stop::watch(stopper.subscribe(), shared.clone(), drain_tx, events.clone());
    tasks.push(rt.spawn(tracing::Instrument::in_current_span(watch)));

    let workers = plan.workers;
    let (feeds, feed_rx): (Vec<_>, Vec<_>) = (0..workers).map(|_| flume::bounded::<Feed>(2)).unzip();
    // From here the job's plugins can be swapped: the batcher puts a swap in at a batch boundary.
    let (swaps, at_boundary) = flume::unbounded();
    let plan = Arc::new(plan);
    let swapper = Swapper {
        plan: plan.clone(),
        env: env.clone(),
        plugins: plugins.clone(),
        at_boundary: swaps,
        events: events.clone(),
        checkpoint: checkpoint.clone(),
    };
    let _ = control.swapper.set(swapper);
    let batcher = Batcher {
        interval: plan.interval,
        first_time,
        sources: plan.sources.iter().map(|(n, _)| n.clone()).collect(),
        rx,
        feeds,
        shared: shared.clone(),
        limits: batcher::Limits { max_batches: opts.max_batches, until: opts.duration.map(|d| Instant::now() + d) },
        dead: dead.clone(),
        checkpoint: checkpoint.clone(),
        events: events.clone(),
        at_boundary,
        start,
        lag: Default::default(),
        resumed_from,
        recut,
    };
    events.emit(JobEvent::Started { first_time, resumed_from: (resumed_from > 0).then_some(resumed_from) });
    let clock = std::thread::Builder::new()
        .name("weir-batcher".into())
        .spawn({
            let span = span.clone();
            move || span.in_scope(|| batcher.run(manual))
        })
        .map_err(|e| JobError::Runtime(e.to_string()))?;

    let failures = FailedBatches::default();
    let meters = Arc::new(plugins.keys().map(|s| (s.clone(), Arc::default())).collect());
    let ctx = Arc::new(JobContext {
        meters,
        watermark: Default::default(),
        plan,
        plugins,
        dead: dead.clone(),
        failures: failures.clone(),
        shared,
        events: events.clone(),
        pace,
        first_time,
        state: state.clone(),
        initial,
        tables,
        sinks: Mutex::new(sinks),
        checkpoint: checkpoint.clone(),
        taps: control.taps.clone(),
    });
    let feed_rx: Arc<Vec<Mutex<Option<flume::Receiver<Feed>>>>> =
        Arc::new(feed_rx.into_iter().map(|r| Mutex::new(Some(r))).collect());
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let _entered = span.clone().entered();
        let feed = feed_rx[worker.index()].lock().ok().and_then(|mut f| f.take()).expect("one feed per worker");
        crate::graph::worker::run(worker, &ctx, feed);
    })
    .map_err(JobError::Runtime)?;
    let mut errors = Vec::new();
    for result in guards.join() {
        match result {
            Ok(()) => {}
            Err(e) => errors.push(e),
        }
    }
    let batches = clock.join().map_err(|_| JobError::Runtime("the batch clock panicked".into()))?;
    // The receivers and the stop watcher share the runtime with other jobs: they end with this one,
    // after the sources have acknowledged what the last checkpoint holds.
    acks.finish(rt);
    tasks.iter().for_each(tokio::task::JoinHandle::abort);
    dead.flush();
    if let Some(db) = &state {
        db.sync()?;
    }
    if !errors.is_empty() {
        return Err(JobError::Runtime(errors.join("; ")));
    }
    if let Some(t) = checkpoint.as_ref().and_then(|c| c.committed()) {
        tracing::info!(batch_time = t, "last checkpoint committed");
    }
    let errors = std::mem::take(&mut *shared_end.errors.lock().unwrap_or_else(|e| e.into_inner()));
    if !errors.is_empty() {
        return Err(JobError::Source(errors.join("; ")));
    }
    if let Some(reason) = dead.failure() {
        return Err(JobError::Refused(reason));
    }
    let failed_batches = failures.lock().map_or(0, |f| f.len() as u64);
    Ok(RunReport { batches, failed_batches, dead_letters: dead.count(), refused: dead.tally() })
}
