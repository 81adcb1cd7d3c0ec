//! `weir cluster run job.toml --processes N`: one job across N processes on this machine. It picks N
//! loopback ports, writes the hosts file, starts `weir run --process I --hosts FILE` for each process
//! and supervises them: each process's log lines carry its index; the first Ctrl-C or SIGTERM asks
//! process 0 to stop (the others end with it), a second cancels, a third kills them all; if one
//! process fails, the others are killed and the launcher fails naming it, or, with `--restarts`, starts
//! them all again: a job with `[checkpoint]` resumes from its last committed batch.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::run::EXIT_BAD_SPEC;

/// `weir cluster …`.
#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Run one job across N local processes (each with the spec's workers, or --workers).
    Run(ClusterRunArgs),
    /// One of the other processes of a job `weir serve` runs across processes (the server starts it).
    #[command(hide = true)]
    Follow(super::follow::FollowArgs),
}

/// `weir cluster run`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ClusterRunArgs {
    /// The job spec (TOML).
    spec: PathBuf,
    /// How many processes (1 to 64; default: the spec's `[job] processes`).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    processes: Option<u16>,
    /// Workers of each process (default: the spec's).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: Option<u16>,
    /// Stop after this many batches.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    batches: Option<u64>,
    /// Stop after this long (e.g. 30s, 5m).
    #[arg(long)]
    duration: Option<String>,
    /// On Ctrl-C or SIGTERM, stop at the current batch boundary instead of draining.
    #[arg(long)]
    no_drain: bool,
    /// Ports base, base+1, … on 127.0.0.1 for the processes (default: free ports).
    #[arg(long)]
    base_port: Option<u16>,
    /// When a process fails, start every process again, up to this many times; the job resumes from
    /// its last checkpoint, so it needs [checkpoint]. --batches and --duration count from each start.
    #[arg(long, default_value_t = 0)]
    restarts: u32,
}

/// Runs `weir cluster run`.
pub fn run(args: ClusterRunArgs) -> ExitCode {
    match launch(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Times the launcher picks other free ports when one it picked was taken before a process bound it.
const ATTEMPTS: usize = 3;

fn launch(args: &ClusterRunArgs) -> Result<ExitCode, String> {
    let n = match processes(args).and_then(|n| check_restarts(args).map(|_| n)) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_BAD_SPEC));
        }
    };
    let signals = Arc::new(AtomicUsize::new(0));
    let mut incoming = Signals::new([SIGINT, SIGTERM]).map_err(|e| format!("cannot listen for signals: {e}"))?;
    let count = signals.clone();
    std::thread::spawn(move || incoming.forever().for_each(|_| _ = count.fetch_add(1, Ordering::SeqCst)));
    let (mut attempt, mut restarts) = (1, 0);
    loop {
        let taken = Arc::new(AtomicBool::new(false));
        // Restarting, the others are killed at once: they resume from the checkpoint anyway.
        let restarting = restarts < args.restarts;
        match start(args, n, &signals, &taken, if restarting { Duration::ZERO } else { GRACE })? {
            Err(_) if taken.load(Ordering::SeqCst) && args.base_port.is_none() && attempt < ATTEMPTS => {
                // Free a moment ago, taken since: nothing ran yet, so start again on other ports.
                eprintln!("weir cluster: a port was taken before a process could listen on it; starting again");
                attempt += 1;
            }
            // A refused spec fails again; a signal asked the launcher to stop.
            Err(code) if restarting && code != EXIT_BAD_SPEC && signals.load(Ordering::SeqCst) == 0 => {
                restarts += 1;
                eprintln!(
                    "weir cluster: restarting every process from the last checkpoint (restart {restarts} of {})",
                    args.restarts
                );
                std::thread::sleep(RESTART_PAUSE);
            }
            Err(code) => return Ok(ExitCode::from(code)),
            Ok(()) => return Ok(ExitCode::SUCCESS),
        }
    }
}

/// How many processes: `--processes`, or the spec's `[job] processes`.
fn processes(args: &ClusterRunArgs) -> Result<usize, String> {
    match args.processes {
        Some(n) => Ok(n.into()),
        None => weir::graph::load(&args.spec).map(|plan| plan.processes).map_err(|e| e.to_string()),
    }
}

/// Restarting needs checkpoints: without them a restarted job would write its output again.
fn check_restarts(args: &ClusterRunArgs) -> Result<(), String> {
    if args.restarts == 0 {
        return Ok(());
    }
    let plan = weir::graph::load(&args.spec).map_err(|e| e.to_string())?;
    match plan.checkpoint {
        Some(_) => Ok(()),
        None => Err(format!(
            "--restarts: job `{}` has no [checkpoint], so a restarted job would write its output again from the \
             start; add [checkpoint] or leave out --restarts",
            plan.name
        )),
    }
}

/// A pause before a restart, so a process that fails at once does not spin.
const RESTART_PAUSE: Duration = Duration::from_millis(500);

/// Starts the processes once and supervises them. `taken` is set when one could not listen.
fn start(
    args: &ClusterRunArgs,
    n: usize,
    signals: &AtomicUsize,
    taken: &Arc<AtomicBool>,
    grace: Duration,
) -> Result<Result<(), u8>, String> {
    let dir = tempfile::Builder::new().prefix("weir-cluster-").tempdir().map_err(|e| e.to_string())?;
    let hosts = dir.path().join("hosts.txt");
    let addresses = weir::job::loopback_addresses(n, args.base_port).map_err(|e| format!("cannot pick ports: {e}"))?;
    std::fs::write(&hosts, addresses.join("\n") + "\n").map_err(|e| format!("{}: {e}", hosts.display()))?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let (mut children, mut said) = (Vec::new(), Vec::new());
    for i in 0..n {
        let mut cmd = Command::new(&exe);
        cmd.arg("run").arg(&args.spec).args(["--process", &i.to_string(), "--processes", &n.to_string()]);
        cmd.arg("--hosts").arg(&hosts);
        if let Some(w) = args.workers {
            cmd.args(["--workers", &w.to_string()]);
        }
        if let Some(b) = args.batches {
            cmd.args(["--batches", &b.to_string()]);
        }
        if let Some(d) = &args.duration {
            cmd.args(["--duration", d]);
        }
        if args.no_drain {
            cmd.arg("--no-drain");
        }
        // Its own process group: a terminal's Ctrl-C reaches the launcher only, which tells process 0.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.stderr(Stdio::piped()).spawn().map_err(|e| format!("cannot start process {i}: {e}"))?;
        said.push(prefix_lines(i, child.stderr.take(), taken.clone()));
        children.push(child);
    }
    eprintln!("weir cluster: {n} processes at {}", addresses.join(", "));
    let ended = supervise(&mut children, signals, grace);
    // Every process has ended: what they said is read to its end.
    said.into_iter().flatten().for_each(|t| _ = t.join());
    Ok(ended)
}

/// Copies a child's stderr to ours, each line prefixed with its process index; sets `taken` when the
/// child could not listen on its port.
fn prefix_lines(
    i: usize,
    from: Option<std::process::ChildStderr>,
    taken: Arc<AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    let from = from?;
    Some(std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if line.contains("cannot listen on") && line.contains("in use") {
                taken.store(true, Ordering::SeqCst);
            }
            eprintln!("[process {i}] {line}");
        }
    }))
}

/// Waits for every process; an error holds the launcher's exit code. After a failure the others get
/// `grace` to end on their own.
fn supervise(children: &mut [Child], signals: &AtomicUsize, grace: Duration) -> Result<(), u8> {
    let mut told = 0;
    let mut done: Vec<Option<std::process::ExitStatus>> = vec![None; children.len()];
    loop {
        let asked = signals.load(Ordering::SeqCst);
        while told < asked {
            told += 1;
            if told >= 3 {
                kill_all(children);
                return Err(130);
            }
            // The leader stops the job; the others end when its feed does.
            signal(&children[0], libc::SIGTERM);
        }
        for (i, child) in children.iter_mut().enumerate() {
            if done[i].is_some() {
                continue;
            }
            match child.try_wait() {
                Ok(Some(status)) => {
                    done[i] = Some(status);
                    if !status.success() {
                        // Those still running may be ending on their own (process 0 writing its last batch).
                        let stopped = stop_within(children, &mut done, grace);
                        eprintln!("weir cluster: {}; {stopped}", failures(&done, i));
                        return Err(status.code().map_or(1, |c| c.clamp(1, 255) as u8));
                    }
                }
                Ok(None) => {}
                Err(e) => eprintln!("weir cluster: cannot wait for process {i}: {e}"),
            }
        }
        if done.iter().all(Option::is_some) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every process that failed, those killed by a signal first (the others most likely failed because
/// they lost it), else `first`, the failure seen first.
fn failures(done: &[Option<std::process::ExitStatus>], first: usize) -> String {
    let mut failed: Vec<(usize, std::process::ExitStatus)> =
        done.iter().enumerate().filter_map(|(i, d)| d.filter(|s| !s.success()).map(|s| (i, s))).collect();
    failed.sort_by_key(|(i, s)| (s.code().is_some(), *i != first, *i));
    let named: Vec<String> = failed.iter().map(|(i, s)| format!("process {i} failed ({s})")).collect();
    named.join(", ")
}

/// How long the others may take to end after one process failed.
const GRACE: Duration = Duration::from_secs(5);

/// Waits up to `grace` for the processes not yet `done`, then kills the rest; says what it did.
fn stop_within(children: &mut [Child], done: &mut [Option<std::process::ExitStatus>], grace: Duration) -> String {
    let until = std::time::Instant::now() + grace;
    while std::time::Instant::now() < until {
        for (c, d) in children.iter_mut().zip(done.iter_mut()).filter(|(_, d)| d.is_none()) {
            *d = c.try_wait().ok().flatten();
        }
        if done.iter().all(Option::is_some) {
            return "the others have ended".into();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    kill_all(children);
    format!("killed the others after {grace:?}")
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, sig) };
}

fn kill_all(children: &mut [Child]) {
    for c in children.iter_mut() {
        let _ = c.kill();
        let _ = c.wait();
    }
}
