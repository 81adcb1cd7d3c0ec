//! The `weir` command line: `weir run <job.toml>` runs one job in-process; `weir serve` is the
//! long-lived host, driven by `weir job …`, `weir op …` and `weir server …`; `weir state dump` and
//! `weir checkpoint ls` inspect a job's files.

mod checkpoint;
mod client;
mod cluster;
mod follow;
mod gen_clicks;
mod model;
mod op;
mod op_new;
mod op_test;
mod run;
mod serve;
mod signals;
mod state;
mod status;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Run(run::RunArgs),
    /// Run one job across several processes on this machine (`weir cluster run`).
    Cluster {
        #[command(subcommand)]
        command: cluster::ClusterCommand,
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

/// Parses the command line and runs it.
pub fn main(logs: weir::server::JobLogs) -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Cluster { command: cluster::ClusterCommand::Run(args) } => cluster::run(args),
        Command::Cluster { command: cluster::ClusterCommand::Follow(args) } => follow::run(args),
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
