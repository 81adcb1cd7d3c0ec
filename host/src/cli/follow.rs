//! `weir cluster follow` (hidden): one of processes 1.. of a job `weir serve` runs across processes. The
//! server starts it, with the job's folder in its data dir and the hosts file it wrote; it places the
//! job as the server does and runs its part until process 0 ends (or the server kills it).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use weir::job::{Cluster, Env, Job, JobHandle, RunOptions};

use super::run::EXIT_BAD_SPEC;

/// `weir cluster follow`'s arguments.
#[derive(Debug, clap::Args)]
pub struct FollowArgs {
    /// The server's data dir.
    #[arg(long)]
    data_dir: PathBuf,
    /// The job's name.
    #[arg(long)]
    job: String,
    /// This process's index (1 or more).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=63))]
    process: u16,
    /// The hosts file the server wrote.
    #[arg(long)]
    hosts: PathBuf,
}

/// Runs `weir cluster follow`.
pub fn run(args: FollowArgs) -> ExitCode {
    let plan = match weir::server::follower_plan(&args.data_dir, &args.job) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: job `{}`, process {}: {e}", args.job, args.process);
            return ExitCode::from(EXIT_BAD_SPEC);
        }
    };
    let cluster = match Cluster::from_hosts_file(&args.hosts, args.process.into(), Duration::from_secs(30)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: job `{}`: {e}", args.job);
            return ExitCode::from(EXIT_BAD_SPEC);
        }
    };
    let opts = RunOptions { cluster: Some(cluster), ..RunOptions::default() };
    match Env::process().and_then(|env| Job::start(plan, opts, &env)).and_then(JobHandle::wait) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: job `{}`, process {}: {e}", args.job, args.process);
            ExitCode::FAILURE
        }
    }
}
