//! The gRPC face of `weir serve` (package `weir.v1`, `proto/weir/v1/`): `JobService` and
//! `OperatorService` over a [`Server`], with the standard health service and server reflection, bearer
//! tokens on every call but health, and limits on request sizes. The binary binds it and chooses when
//! it shuts down.

mod auth;
mod convert;
mod jobs;
mod operators;

use std::future::Future;
use std::sync::Arc;

use thiserror::Error;
use tonic::service::interceptor::InterceptedService;

pub use auth::{Token, TokenError};

use crate::server::Server;

/// The generated messages, services and clients of `weir.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("weir.v1");

    /// The encoded descriptors of `weir.v1`, served by reflection.
    pub const DESCRIPTOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/weir_v1_descriptor.bin"));
}

use proto::job_service_server::JobServiceServer;
use proto::operator_service_server::OperatorServiceServer;

/// The largest message a client may send (a Push chunk, a spec).
pub const MAX_MESSAGE: usize = 4 << 20;

/// Why the server could not serve.
#[derive(Debug, Error)]
pub enum RpcError {
    /// Reflection could not be built from the descriptors.
    #[error("server reflection: {0}")]
    Reflection(String),
    /// The transport failed, or the TLS identity was refused.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// A server's TLS identity, PEM-encoded.
#[derive(Clone)]
pub struct Tls {
    /// The certificate chain.
    pub cert: Vec<u8>,
    /// The private key.
    pub key: Vec<u8>,
}

/// Limits of a server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest component Push accepts, in bytes.
    pub max_operator: u64,
    /// How long compiling a pushed component may take.
    pub compile_timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_operator: 64 << 20, compile_timeout: std::time::Duration::from_secs(60) }
    }
}

/// Serves `server` on `listener` (over TLS with `tls`) until `shutdown` completes, then stops every job
/// at its next batch boundary (they resume when the server starts again).
pub async fn serve(
    server: Arc<Server>,
    listener: tokio::net::TcpListener,
    token: Token,
    limits: Limits,
    logs: crate::server::JobLogs,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RpcError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<JobServiceServer<jobs::JobApi>>().await;
    reporter.set_serving::<OperatorServiceServer<operators::OperatorApi>>().await;
    // Both reflection versions: grpcurl asks v1, many clients (Python's grpcio-reflection) still v1alpha.
    let described = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::DESCRIPTOR)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let bad = |e: tonic_reflection::server::Error| RpcError::Reflection(e.to_string());
    let reflection = described().build_v1().map_err(bad)?;
    let reflection_alpha = described().build_v1alpha().map_err(bad)?;
    let jobs =
        JobServiceServer::new(jobs::JobApi { server: server.clone(), logs }).max_decoding_message_size(MAX_MESSAGE);
    let operators = OperatorServiceServer::new(operators::OperatorApi { server: server.clone(), limits })
        .max_decoding_message_size(MAX_MESSAGE);
    let check = auth::Check::new(token);
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        let identity = tonic::transport::Identity::from_pem(tls.cert, tls.key);
        builder = builder.tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))?;
    }
    builder
        .add_service(health)
        .add_service(InterceptedService::new(reflection, check.clone()))
        .add_service(InterceptedService::new(reflection_alpha, check.clone()))
        .add_service(InterceptedService::new(jobs, check.clone()))
        .add_service(InterceptedService::new(operators, check))
        .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), async {
            shutdown.await;
            // Stop the jobs now, not after the connections close: followed logs, tails and watches end
            // with their jobs, so the server's own drain does not wait on them.
            let stopping = server.clone();
            tokio::task::spawn_blocking(move || stopping.shutdown());
        })
        .await?;
    let stopping = server.clone();
    let _ = tokio::task::spawn_blocking(move || stopping.shutdown()).await;
    Ok(())
}
