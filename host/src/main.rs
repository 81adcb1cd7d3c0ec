//! The `weir` binary: the command line (`cli/`), which alone installs signal handlers and chooses exit
//! codes; the library it drives (`weir::job`) does neither.

mod cli;

use std::process::ExitCode;

/// mimalloc: see `weir::memory`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    use tracing_subscriber::prelude::*;
    // Logs go to stderr so that `print` output on stdout stays clean; WEIR_LOG sets the filter. Each
    // job's lines are also kept for `weir serve`'s Logs call.
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = weir::server::JobLogs::default();
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(std::io::stderr).with_filter(filter))
        .with(logs.clone().with_filter(tracing_subscriber::filter::LevelFilter::INFO))
        .init();
    cli::main(logs)
}
