//! The `weir` command line: `weir run <job.toml>` runs one job in-process; `weir serve` is the
//! long-lived host, driven by `weir job …`, `weir op …` and `weir server …`; `weir state dump` and
//! `weir checkpoint ls` inspect a job's files.

mod checkpoint;
mod client;
mod gen_clicks;
mod model;
mod op;
mod op_new;
mod op_test;
mod serve;
mod signals;
mod state;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use weir::graph;
use weir::job::{self, Env, Job, RunOptions, StopRequest, Stopper};

/// Weir: WebAssembly-pluggable stream processing.
#[derive(Debug, Parser)]
#[command(name = "weir", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    conn: client::Conn,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one job in-process from its spec file, until the input ends, a limit, or Ctrl-C / SIGTERM
    /// (which drain the job: what was received is processed; a second signal aborts).
    Run {
        /// The job spec (TOML).
        spec: PathBuf,
        /// Stop after this many batches.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        batches: Option<u64>,
        /// Stop after this long (e.g. 30s, 5m).
        #[arg(long, value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
        /// Override the spec's worker count (1 to 64).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
        workers: Option<u16>,
        /// On Ctrl-C or SIGTERM, stop at the current batch boundary instead of draining.
        #[arg(long)]
        no_drain: bool,
        /// Resume from a checkpoint even when the state of some streams no longer fits the job (removed
        /// streams, changed ops, windows or keys): that state is dropped.
        #[arg(long)]
        allow_dropped_state: bool,
        /// Discard what the checkpoint directory holds (checkpoints, batch log, write-ahead logs) and
        /// start the job from the beginning. Its sinks keep what they hold.
        #[arg(long)]
        start_over: bool,
        /// Serve the job's Prometheus metrics at http://ADDR/metrics (a loopback address, e.g.
        /// 127.0.0.1:9464; port 0 picks one and the log says which).
        #[arg(long, value_name = "ADDR")]
        http: Option<std::net::SocketAddr>,
    },
    /// Run the long-lived host: a gRPC server (JobService, OperatorService, health, reflection) that
    /// runs submitted jobs and keeps an operator registry in its data dir.
    Serve(serve::ServeArgs),
    /// Submit, list, follow, upgrade and stop jobs on a server.
    Job {
        #[command(subcommand)]
        command: client::job::JobCommand,
    },
    /// Build operator components, inspect them, and manage a server's operator registry.
    Op {
        #[command(subcommand)]
        command: op::OpCommand,
    },
    /// Ask a server how it is.
    Server {
        #[command(subcommand)]
        command: client::server::ServerCommand,
    },
    /// Generate test data: `weir gen clicks --to kafka://127.0.0.1:9092/clicks --rate 1000`.
    Gen {
        #[command(subcommand)]
        command: GenCommand,
    },
    /// Print a shell completion script (e.g. `weir completions bash > /etc/bash_completion.d/weir`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Inspect a job's keyed state.
    State {
        #[command(subcommand)]
        command: state::StateCommand,
    },
    /// Inspect a job's checkpoints.
    Checkpoint {
        #[command(subcommand)]
        command: checkpoint::CheckpointCommand,
    },
    /// Train models offline, for the `naive-bayes` and `kmeans` operators to apply online.
    Model {
        #[command(subcommand)]
        command: model::ModelCommand,
    },
}

#[derive(Debug, Subcommand)]
enum GenCommand {
    /// Publish click events `deviceId|deviceType|time|click` at a steady rate (`time`: when published).
    Clicks(gen_clicks::ClicksArgs),
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

/// Exit code for a refused job spec.
const EXIT_BAD_SPEC: u8 = 2;

/// Parses the command line and runs it.
pub fn main(logs: weir::server::JobLogs) -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { spec, batches, duration, workers, no_drain, allow_dropped_state, start_over, http } => {
            // Listen first, so a signal that comes while the job is still loading stops it cleanly.
            let stopper = Stopper::default();
            let first = if no_drain { StopRequest::AtBoundary } else { StopRequest::Drain };
            if let Err(e) = signals::forward(stopper.clone(), first) {
                eprintln!("error: cannot listen for SIGINT and SIGTERM: {e}");
                return ExitCode::FAILURE;
            }
            let mut plan = match graph::load(&spec) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(EXIT_BAD_SPEC);
                }
            };
            if let Some(w) = workers {
                plan.workers = w.into();
            }
            let opts = RunOptions { max_batches: batches, duration, allow_dropped_state, start_over };
            let mut line = None;
            let started = Env::process().and_then(|env| {
                let events = weir::event::Events::default();
                if let Some(addr) = http {
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
        Command::Serve(args) => serve::run(args, logs),
        Command::Job { command } => client::finish(client::job::run(&cli.conn, command)),
        Command::Server { command } => client::finish(client::server::run(&cli.conn, command)),
        Command::Gen { command: GenCommand::Clicks(args) } => match gen_clicks::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "weir",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Command::Op { command } => op::run(&cli.conn, command),
        Command::State { command } => state::run(command),
        Command::Checkpoint { command } => checkpoint::run(command),
        Command::Model { command } => model::run(command),
    }
}
