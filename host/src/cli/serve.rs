//! `weir serve`: the long-lived host. Opens the data dir (starting again the jobs that were running),
//! binds the gRPC API and serves until SIGINT or SIGTERM, then stops every job at its next batch
//! boundary with a final checkpoint; the next start resumes them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use weir::job::Env;
use weir::rpc::{self, Token};
use weir::server::{JobLogs, Server};

/// `weir serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The data dir: operator registry, job specs, checkpoints and the token file.
    #[arg(long, env = "WEIR_DATA_DIR", default_value_os_t = default_data_dir())]
    data_dir: PathBuf,
    /// The address to listen on (loopback by default; port 0 picks a free one).
    #[arg(long, env = "WEIR_LISTEN", default_value = "127.0.0.1:7411")]
    listen: SocketAddr,
    /// The bearer token clients must send (default: the `token` file of the data dir, made at first start).
    #[arg(long, env = "WEIR_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Serve over TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve every job's Prometheus metrics at http://ADDR/metrics. On a loopback address anyone on
    /// the machine may scrape; on any other, a scrape must send the token (`Authorization: Bearer`).
    #[arg(long, value_name = "ADDR")]
    http: Option<std::net::SocketAddr>,
    /// The largest operator component `weir op push` may upload (e.g. 64MiB).
    #[arg(long, default_value = "64MiB")]
    max_operator_size: bytesize::ByteSize,
}

/// Where `weir serve` keeps its data, and where a local client looks for the token.
pub fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    base.unwrap_or_else(std::env::temp_dir).join("weir")
}

/// Waits for SIGINT or SIGTERM.
async fn signalled() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    tracing::info!("stopping: every job stops at its next batch boundary and resumes at the next start");
}

fn serve(args: ServeArgs, logs: JobLogs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| anyhow::anyhow!("cannot make data dir {}: {e}", args.data_dir.display()))?;
    let token = match &args.token {
        Some(t) if t.trim().is_empty() => anyhow::bail!("--token (or WEIR_TOKEN) is empty"),
        Some(t) => Token::given(t),
        None => Token::in_data_dir(&args.data_dir)?,
    };
    let read = |p: &PathBuf| std::fs::read(p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()));
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(rpc::Tls { cert: read(cert)?, key: read(key)? }),
        _ => None,
    };
    let env = Env::with_plugin_cache(args.data_dir.join("cache"))?;
    let io = env.io().clone();
    let listener = io
        .block_on(tokio::net::TcpListener::bind(args.listen))
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr()?;
    let server = Server::open(&args.data_dir, env.clone())?;
    // On stdout, so a script (or test) that started the server on port 0 learns the port.
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("weir serve: listening on {addr}, data dir {} ({scheme})", args.data_dir.display());
    if let Some(at) = args.http {
        let token = (!at.ip().is_loopback()).then(|| token.secret().to_string());
        let bound = weir::ui::http::serve(&io, at, server.ui.clone(), token).map_err(anyhow::Error::msg)?;
        tracing::info!("metrics at http://{bound}/metrics and the UI at http://{bound}/");
    }
    let limits = rpc::Limits { max_operator: args.max_operator_size.as_u64(), ..rpc::Limits::default() };
    let served = io.block_on(rpc::serve(server.clone(), listener, token, limits, logs, tls, signalled()));
    // The runtime goes last, here on the main thread: dropped inside one of its own tasks it panics.
    drop(server);
    drop(env);
    Ok(served?)
}

/// Runs `weir serve`.
pub fn run(args: ServeArgs, logs: JobLogs) -> ExitCode {
    match serve(args, logs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
