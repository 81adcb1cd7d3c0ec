//! `weir run <job.toml>`: one job in this process, or this process's part of a job across several
//! (`--process I --hosts hosts.txt`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use weir::graph;
use weir::job::{self, Cluster, Env, Job, RunOptions, StopRequest, Stopper};

use super::{signals, status};

/// Exit code for a refused job spec.
pub const EXIT_BAD_SPEC: u8 = 2;

/// `weir run`'s arguments.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The job spec (TOML).
    pub spec: PathBuf,
    /// Stop after this many batches.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub batches: Option<u64>,
    /// Stop after this long (e.g. 30s, 5m).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Override the spec's worker count (1 to 64); in a cluster, the workers of each process.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: Option<u16>,
    /// On Ctrl-C or SIGTERM, stop at the current batch boundary instead of draining.
    #[arg(long)]
    pub no_drain: bool,
    /// Resume from a checkpoint even when the state of some streams no longer fits the job (removed
    /// streams, changed ops, windows or keys): that state is dropped.
    #[arg(long)]
    pub allow_dropped_state: bool,
    /// Discard what the checkpoint directory holds (checkpoints, batch log, write-ahead logs) and
    /// start the job from the beginning. Its sinks keep what they hold.
    #[arg(long)]
    pub start_over: bool,
    /// Serve the job's Prometheus metrics at http://ADDR/metrics (a loopback address, e.g.
    /// 127.0.0.1:9464; port 0 picks one and the log says which).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// Run as process I of a cluster (0 leads: it runs the sources, the batch clock and the sinks).
    #[arg(long, value_name = "I", requires = "hosts")]
    pub process: Option<usize>,
    /// The cluster's hosts file: one host:port per line, process 0 first; every process gets the same.
    #[arg(long, value_name = "FILE", requires = "process")]
    pub hosts: Option<PathBuf>,
    /// How many processes the hosts file must list (a check against a stale file).
    #[arg(long, value_name = "N", requires = "hosts")]
    pub processes: Option<usize>,
    /// How long to wait for the other processes at start before failing with the one not reached.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    pub connect_timeout: Duration,
}

/// The cluster this process joins, from `--process`, `--hosts` and `--processes`.
fn cluster(args: &RunArgs) -> Result<Option<Cluster>, String> {
    let (Some(process), Some(hosts)) = (args.process, &args.hosts) else { return Ok(None) };
    let c = Cluster::from_hosts_file(hosts, process, args.connect_timeout).map_err(|e| e.to_string())?;
    match args.processes {
        Some(n) if n != c.processes() => {
            Err(format!("--processes {n}, but the hosts file {} lists {}", hosts.display(), c.processes()))
        }
        _ => Ok(Some(c)),
    }
}

/// Serves the UI and metrics of the job of `plan`, folded from `events`, at `addr`.
fn ui_at(
    env: &Env,
    addr: std::net::SocketAddr,
    plan: &graph::plan::Plan,
    events: &weir::event::Events,
) -> Result<(), String> {
    let ui = std::sync::Arc::new(weir::ui::Ui::default());
    let bound = weir::ui::http::serve(env.io(), addr, ui.clone(), None)?;
    // On stderr, so a script (or test) that asked for port 0 learns the port.
    eprintln!("weir run: metrics at http://{bound}/metrics and the UI at http://{bound}/");
    ui.follow(env.io(), plan, events);
    Ok(())
}

/// Runs `weir run`.
pub fn run(args: RunArgs) -> ExitCode {
    // Listen first, so a signal that comes while the job is still loading stops it cleanly.
    let stopper = Stopper::default();
    let first = if args.no_drain { StopRequest::AtBoundary } else { StopRequest::Drain };
    if let Err(e) = signals::forward(stopper.clone(), first) {
        eprintln!("error: cannot listen for SIGINT and SIGTERM: {e}");
        return ExitCode::FAILURE;
    }
    let mut plan = match graph::load(&args.spec) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_SPEC);
        }
    };
    if let Some(w) = args.workers {
        plan.workers = w.into();
    }
    let cluster = match cluster(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_SPEC);
        }
    };
    if cluster.is_none() && plan.processes > 1 {
        eprintln!(
            "error: {}: [job] processes = {}: start it with `weir cluster run`, submit it to `weir serve`, or run \
             each process with `weir run --process I --hosts FILE`",
            args.spec.display(),
            plan.processes
        );
        return ExitCode::from(EXIT_BAD_SPEC);
    }
    let opts = RunOptions {
        max_batches: args.batches,
        duration: args.duration,
        allow_dropped_state: args.allow_dropped_state,
        start_over: args.start_over,
        cluster,
    };
    let mut line = None;
    let started = Env::process().and_then(|env| {
        let events = weir::event::Events::default();
        if let Some(addr) = args.http {
            ui_at(&env, addr, &plan, &events).map_err(job::JobError::Runtime)?;
        }
        line = status::follow(env.io(), &events);
        Job::start_with_events(plan, opts, &env, stopper, events)
    });
    let ended = started.and_then(job::JobHandle::wait);
    if let Some(line) = line {
        line.finish_and_clear();
    }
    match ended {
        Ok(report) => {
            tracing::info!(batches = report.batches, dead_letters = report.dead_letters, "job finished");
            for (stream, t) in &report.refused {
                tracing::warn!(
                    stream = %stream,
                    dead_lettered = t.dead_lettered,
                    skipped = t.skipped,
                    "records refused; the first: {}",
                    t.first_reason
                );
            }
            if report.failed_batches == 0 {
                return ExitCode::SUCCESS;
            }
            eprintln!(
                "error: {} of {} batches failed in a plugin (their records went to the dead letters)",
                report.failed_batches, report.batches
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            if e.is_refused_spec() { ExitCode::from(EXIT_BAD_SPEC) } else { ExitCode::FAILURE }
        }
    }
}
