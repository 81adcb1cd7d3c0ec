//! The run of one job in this process, from loading its plugins to its report. In a cluster, process 0
//! (the leader) runs it whole and spreads every batch over all processes' workers; any other process
//! runs only its workers, fed through the leader (see `graph/relay.rs`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::cluster::{self, Cluster};
use super::connectors::{self, Connectors};
use super::handle::Control;
use super::plugins::{Swapper, load_plugins};
use super::resume::{checkpointer, recut_batches, resume};
use super::{Env, JobError, RunOptions, RunReport, open_state, stop};
use crate::batcher::{self, Batcher, Clock, Feed, Shared};
use crate::checkpoint::{Peers, SourceOffset};
use crate::event::{Events, JobEvent};
use crate::graph::Plan;
use crate::graph::dataflow::JobContext;
use crate::graph::spec::{ClockMode, SinkSpec};
use crate::operator::dead_letter::DeadLetters;
use crate::operator::wasm::FailedBatches;
use crate::receiver;
use crate::sink::Sink;
use crate::sink::plugin::PluginSink;
use crate::table::StaticTable;

/// Runs `plan` in `env` on this thread until it ends, stopping when `control` asks, telling `events`.
pub(super) fn run_in(
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
    let cluster = opts.cluster.as_ref();
    let leads = cluster.is_none_or(Cluster::leads);
    let peers = cluster.map_or_else(Peers::default, |c| Peers { process: c.process, processes: c.processes() });
    let (plugins, records) = load_plugins(&plan, env)?;
    let connectors = if leads { connectors::load_connectors(&plan, env)? } else { Connectors::default() };
    // One job per checkpoint directory: two would resume from the same checkpoint and both write. The
    // other processes of a cluster lock a directory of their own inside it.
    let _lock = match &plan.checkpoint {
        Some(ck) => Some(crate::lock::DirLock::acquire(&peers.own_dir(&ck.dir), "checkpoint directory")?),
        None => None,
    };
    // Only process 0 changes the directory before the processes connect; the others only read it.
    let restored = match &plan.checkpoint {
        Some(ck) if opts.start_over && leads => crate::checkpoint::discard(&ck.dir).map(|_| None)?,
        Some(_) if opts.start_over => None,
        Some(ck) => crate::checkpoint::latest(&ck.dir)?,
        None => None,
    };
    if let (Some(ck), true) = (&plan.checkpoint, leads) {
        crate::checkpoint::clear_uncommitted(&ck.dir)?;
        if let Some(r) = &restored {
            crate::checkpoint::mark_committed(&ck.dir, r.manifest.time)?;
        }
    }
    let manual = plan.clock == ClockMode::Manual;
    // A spread source is read on every process of a cluster, each its share; any other on process 0.
    let spread: Vec<bool> = plan.sources.iter().map(|(_, s)| cluster.is_some() && s.spreads() && !manual).collect();
    let recut = match &restored {
        Some(r) => {
            let own = own_share(&plan, &spread, peers, &r.manifest.offsets);
            recut_batches(&plan, peers, r.manifest.time, &own, &r.manifest.pending)?
        }
        None => recut_batches(&plan, peers, 0, &BTreeMap::new(), &[])?,
    };
    // Sinks keep what they hold when the job resumes, or when it cuts logged batches again.
    let resuming = restored.is_some() || !recut.is_empty();
    let (state, initial) = open_state(&plan, restored.is_some(), cluster)?;
    let resumed = resume(&plan, restored, state.as_deref(), opts.allow_dropped_state, peers)?;
    let dead_path = plan.dead_letter.as_deref().map(|p| cluster.map_or_else(|| p.to_path_buf(), |c| c.own_file(p)));
    let dead = DeadLetters::open(&plan.name, dead_path.as_deref()).map_err(JobError::DeadLetter)?;
    let dead = Arc::new(dead.with_policy(plan.dead_letter_policy.clone()).with_events(events.clone()));
    let mut first_time = match (&resumed, recut.first()) {
        (_, Some((t, _))) => *t,
        // Realtime: the batches of the time the job was down are cut at once, as Spark does.
        (Some(r), None) => r.time + plan.interval,
        (None, None) if manual => plan.interval,
        (None, None) => batcher::realtime_first_time(plan.interval),
    };
    let resumed_from = resumed.as_ref().map_or(0, |r| r.time);
    let (offsets, windows) = resumed.map(|r| (r.offsets, r.windows)).unwrap_or_default();
    let own = own_share(&plan, &spread, peers, &offsets);
    let start: Vec<SourceOffset> = plan.sources.iter().map(|(n, _)| own.get(n).cloned().unwrap_or_default()).collect();
    let sinks = if leads { open_sinks(&plan, &connectors, resuming, events, env)? } else { HashMap::new() };
    // Every process must agree on the first batch: the leader's word is taken. They must have resumed
    // from the same checkpoint: it is part of what they compare.
    let sockets = match cluster {
        Some(c) => {
            let job = cluster::fingerprint(&plan.text, plan.workers, resumed_from);
            let (sockets, told) = c.connect(job, leads.then_some(first_time))?;
            first_time = told;
            Some(sockets)
        }
        None => None,
    };
    let mut tables = HashMap::new();
    for (name, spec) in &plan.tables {
        tables.insert(name.clone(), Arc::new(StaticTable::open(name, spec, first_time, env.io())?));
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
    let checkpoint = checkpointer(&plan, peers, records, &sinks, &shared, events, windows)?;
    let rt = env.io();
    let (tx, rx) = flume::bounded(64);
    let (drain_tx, drain) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let acks = receiver::source::Acknowledgers::default();
    let pace = Arc::new(crate::pace::Pace::new(plan.backpressure));
    for (i, (name, spec)) in plan.sources.iter().enumerate().filter(|(i, _)| leads || spread[*i]) {
        let from = receiver::Start {
            job: &plan.name,
            index: i,
            name,
            offset: start[i].clone(),
            cuts: recut.iter().map(|(_, o)| o[i].clone()).collect(),
            pace: pace.clone(),
            sources: plan.sources.len(),
            connector: connectors.sources.get(name).cloned(),
            // A source that does not spread is read whole, on process 0.
            peers: if spread[i] { peers } else { Peers::default() },
        };
        let checkpoint = plan.checkpoint.as_ref();
        tasks.push(receiver::spawn(rt, from, spec, plan.clock, checkpoint, events, &acks, tx.clone(), drain.clone()));
    }
    drop(tx);
    let watch = stop::watch(stopper.subscribe(), shared.clone(), drain_tx, events.clone());
    tasks.push(rt.spawn(tracing::Instrument::in_current_span(watch)));

    // Process 0's batcher feeds every worker of every process: its own directly, the others' through
    // the relay that its worker 0 keeps. Another process's follower feeds its own workers with what the
    // relay brings and what its spread sources read; unbounded, as process 0's feeds already hold back.
    let workers = plan.workers;
    let all = if leads { workers * cluster.map_or(1, Cluster::processes) } else { workers };
    let feed = || if leads { flume::bounded::<Feed>(2) } else { flume::unbounded() };
    let (feeds, mut feed_rx): (Vec<_>, Vec<_>) = (0..all).map(|_| feed()).unzip();
    let remote: Vec<(usize, flume::Receiver<Feed>)> = (workers..).zip(feed_rx.drain(workers..)).collect();
    let (relayed_tx, relayed) = flume::unbounded();
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
    events.emit(JobEvent::Started { first_time, resumed_from: (resumed_from > 0).then_some(resumed_from) });
    // Process 0 runs the batch clock; another process follows its closes through the relay.
    let batcher = Batcher {
        interval: plan.interval,
        first_time,
        sources: plan.sources.iter().map(|(n, _)| n.clone()).collect(),
        rx,
        feeds,
        local_workers: workers,
        spread,
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
    let clock = match cluster {
        Some(c) if !c.leads() => Clock::Follow { relayed, first_worker: c.process * workers },
        _ if manual => Clock::Manual,
        _ => Clock::Realtime,
    };
    let span_clock = span.clone();
    let clock = std::thread::Builder::new()
        .name("weir-batcher".into())
        .spawn(move || span_clock.in_scope(|| batcher.run(clock)))
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
    let deliver = (!leads).then_some(relayed_tx);
    let errors = execute(ctx, span, feed_rx, remote, deliver, cluster, sockets)?;
    if let Some(c) = &checkpoint {
        if errors.is_empty() {
            c.await_final();
        }
        c.close();
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

/// Opens the job's sinks, before any worker starts.
fn open_sinks(
    plan: &Plan,
    connectors: &Connectors,
    resuming: bool,
    events: &Events,
    env: &Env,
) -> Result<HashMap<String, Box<dyn Sink>>, JobError> {
    let mut sinks = HashMap::new();
    for (name, spec) in &plan.sinks {
        let state = plan.checkpoint.as_ref().map(|c| c.dir.join("sinks").join(name));
        if let (Some(c), SinkSpec::Plugin { params, .. }) = (connectors.sinks.get(name), spec) {
            let sink = PluginSink::new(&plan.name, name, c.clone(), params.clone(), resuming, state.as_deref())?;
            sinks.insert(name.clone(), Box::new(sink) as Box<dyn Sink>);
        } else if let SinkSpec::Screen { from, top } = spec {
            let screen = crate::sink::screen::Screen::new(name, from, *top, events.clone());
            sinks.insert(name.clone(), Box::new(screen) as Box<dyn Sink>);
        } else if let Some(sink) = crate::sink::build(&plan.name, name, spec, resuming, state.as_deref(), env.io())? {
            sinks.insert(name.clone(), sink);
        }
    }
    Ok(sinks)
}

/// Runs the timely workers of this process to the end: `feed_rx` holds each local worker's feed,
/// `remote` the other processes' workers' (relayed by worker 0 of process 0), `deliver` (on the other
/// processes) where the relay hands what arrives for this process's workers, `sockets` the
/// connections to the other processes of `cluster`. Returns the workers' errors.
fn execute(
    ctx: Arc<JobContext>,
    span: tracing::Span,
    feed_rx: Vec<flume::Receiver<Feed>>,
    remote: Vec<(usize, flume::Receiver<Feed>)>,
    deliver: Option<flume::Sender<crate::graph::relay::Routed>>,
    cluster: Option<&Cluster>,
    sockets: Option<Vec<Option<std::net::TcpStream>>>,
) -> Result<Vec<String>, JobError> {
    let clustered = sockets.is_some();
    let process = cluster.map_or(0, |c| c.process);
    let (builders, others) = cluster::allocators(ctx.plan.workers, process, sockets).map_err(JobError::Runtime)?;
    if clustered {
        super::lost::watch();
    }
    let feed_rx: Vec<Mutex<Option<flume::Receiver<Feed>>>> = feed_rx.into_iter().map(|r| Mutex::new(Some(r))).collect();
    let remote = Mutex::new(Some(remote));
    // One sender per worker, each dropped by its relay when the feed ends: the follower then ends.
    let delivers: Vec<Mutex<Option<_>>> = feed_rx.iter().map(|_| Mutex::new(deliver.clone())).collect();
    drop(deliver);
    let guards = timely::execute::execute_from(builders, others, timely::WorkerConfig::default(), move |worker| {
        let _entered = span.clone().entered();
        // Every worker builds the relay first (timely needs every worker to build the same dataflows in
        // the same order); the other processes' workers get what it brings through their follower.
        let relay = match clustered {
            true => {
                let remote = if worker.index() == 0 { take(&remote) } else { None };
                crate::graph::relay::build(worker, remote, take(&delivers[worker.index() % ctx.plan.workers]))
            }
            false => None,
        };
        let feed = feed_rx.get(worker.index() % ctx.plan.workers).and_then(take).expect("one feed per worker");
        crate::graph::worker::run(worker, &ctx, feed, relay);
    })
    .map_err(JobError::Runtime)?;
    let results = match cluster {
        Some(c) => super::lost::join_naming_lost(c, || guards.join())?,
        None => guards.join(),
    };
    Ok(results.into_iter().filter_map(Result::err).collect())
}

/// Takes what `m` holds: each worker takes its own feed once.
fn take<T>(m: &Mutex<Option<T>>) -> Option<T> {
    m.lock().ok().and_then(|mut f| f.take())
}

/// This process's part of a checkpoint's offsets `whole`: its share of each spread source (as its own
/// batch log recorded it), the others whole.
fn own_share(
    plan: &Plan,
    spread: &[bool],
    peers: Peers,
    whole: &BTreeMap<String, SourceOffset>,
) -> BTreeMap<String, SourceOffset> {
    let spreads = |name: &String| plan.sources.iter().zip(spread).any(|((n, _), s)| n == name && *s);
    whole.iter().map(|(n, o)| (n.clone(), if spreads(n) { peers.share(o) } else { o.clone() })).collect()
}
