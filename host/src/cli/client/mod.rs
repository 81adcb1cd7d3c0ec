//! The admin client: `weir job …`, `weir op push|list|describe|delete` and `weir server …` talk to a
//! `weir serve` over gRPC. Exit codes: 0 done; 1 failed (the server's error, a job that failed); 2
//! refused (a bad spec or argument, a job in the wrong state, a name taken); 3 not found; 4 not
//! authenticated; 5 the server cannot be reached.

pub mod job;
pub mod op;
pub mod server;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use weir::rpc::proto::job_service_client::JobServiceClient;
use weir::rpc::proto::operator_service_client::OperatorServiceClient;

/// How to reach the server.
#[derive(Debug, Clone, Args)]
pub struct Conn {
    /// The server's address.
    #[arg(long, global = true, env = "WEIR_SERVER", default_value = "http://127.0.0.1:7411")]
    pub server: String,
    /// The server's token (default: the `token` file of WEIR_DATA_DIR or the default data dir, as a
    /// server on this machine writes it).
    #[arg(long, global = true, env = "WEIR_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The certificate (PEM) that signed an https server's certificate.
    #[arg(long, global = true, env = "WEIR_CA")]
    pub ca: Option<PathBuf>,
}

/// How listings are printed.
#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum Output {
    /// A table for people.
    #[default]
    Table,
    /// JSON for programs.
    Json,
}

/// Why a client command failed, with its exit code.
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }
}

impl From<tonic::Status> for Failure {
    fn from(s: tonic::Status) -> Failure {
        let code = match s.code() {
            Code::InvalidArgument | Code::AlreadyExists | Code::FailedPrecondition | Code::ResourceExhausted => 2,
            Code::NotFound => 3,
            Code::Unauthenticated => 4,
            Code::Unavailable => 5,
            _ => 1,
        };
        Failure { code, message: format!("{} ({:?})", s.message(), s.code()) }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::new(1, e.to_string())
    }
}

/// Prints a failure and turns it into the exit code.
pub fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// Adds the bearer token to every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

type Authed = InterceptedService<Channel, Bearer>;

fn token(conn: &Conn) -> Result<String, Failure> {
    if let Some(t) = &conn.token {
        return Ok(t.clone());
    }
    let data = std::env::var_os("WEIR_DATA_DIR").map(PathBuf::from).unwrap_or_else(super::serve::default_data_dir);
    let path = data.join("token");
    std::fs::read_to_string(&path).map(|t| t.trim().to_string()).map_err(|e| {
        Failure::new(4, format!("no token: give --token or WEIR_TOKEN (cannot read {}: {e})", path.display()))
    })
}

/// An error with its causes, on one line: tonic's own says only "transport error".
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// A connected channel.
pub async fn channel(conn: &Conn) -> Result<Channel, Failure> {
    let mut endpoint = Endpoint::from_shared(conn.server.clone())
        .map_err(|e| Failure::new(2, format!("--server `{}`: {e}", conn.server)))?;
    if conn.server.starts_with("https://") {
        let ca = conn.ca.as_ref().ok_or_else(|| Failure::new(2, "an https server needs --ca (or WEIR_CA)"))?;
        let pem = std::fs::read(ca).map_err(|e| Failure::new(2, format!("--ca {}: {e}", ca.display())))?;
        let tls = tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(pem));
        endpoint = endpoint.tls_config(tls).map_err(|e| Failure::new(2, format!("--ca: {e}")))?;
    }
    endpoint
        .connect()
        .await
        .map_err(|e| Failure::new(5, format!("cannot reach the server at {}: {}", conn.server, chain(&e))))
}

async fn bearer(conn: &Conn) -> Result<(Channel, Bearer), Failure> {
    let value = format!("Bearer {}", token(conn)?)
        .parse()
        .map_err(|_| Failure::new(2, "the token has characters a header cannot carry"))?;
    Ok((channel(conn).await?, Bearer(value)))
}

/// A job client with the token.
pub async fn jobs(conn: &Conn) -> Result<JobServiceClient<Authed>, Failure> {
    let (ch, b) = bearer(conn).await?;
    Ok(JobServiceClient::with_interceptor(ch, b))
}

/// An operator client with the token.
pub async fn operators(conn: &Conn) -> Result<OperatorServiceClient<Authed>, Failure> {
    let (ch, b) = bearer(conn).await?;
    Ok(OperatorServiceClient::with_interceptor(ch, b).max_decoding_message_size(weir::rpc::MAX_MESSAGE))
}

/// A runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Failure::from)
}

/// A table with a header.
pub fn table(header: &[&str]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING).set_header(header.to_vec());
    t
}

/// A spinner on stderr, drawn only when stderr is a terminal.
pub fn spinner(message: String) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner().with_message(message);
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    bar
}
