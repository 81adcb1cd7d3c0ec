//! The `weir` binary: the command line (`cli/`), which alone installs signal handlers and chooses exit
//! codes; the library it drives (`weir::job`) does neither.

mod cli;

use std::process::ExitCode;

/// mimalloc: see `weir::memory`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Logs go to stderr so that `print` output on stdout stays clean; WEIR_LOG sets the filter.
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
    cli::main()
}
