//! The HTTP listener of `weir run --http ADDR`: `/metrics`, every metric in the OpenMetrics text format,
//! for Prometheus to scrape. It binds loopback addresses only, as it checks no token.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::routing::get;

use super::Metrics;

/// What `/metrics` answers with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The routes: `/metrics`.
pub fn router(metrics: Arc<Metrics>) -> Router {
    let scrape = move || {
        let text = metrics.encode();
        async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], text) }
    };
    Router::new().route("/metrics", get(scrape))
}

/// Binds `addr` and serves `metrics` there on `io` for as long as the process runs; returns the address
/// bound (port 0 picks a free one). Refuses an address that is not loopback, naming it.
pub fn serve(io: &tokio::runtime::Handle, addr: SocketAddr, metrics: Arc<Metrics>) -> Result<SocketAddr, String> {
    if !addr.ip().is_loopback() {
        return Err(format!(
            "--http {addr}: bind a loopback address (127.0.0.1 or [::1]): metrics are served without a token"
        ));
    }
    let listener = io.block_on(tokio::net::TcpListener::bind(addr)).map_err(|e| format!("--http {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| format!("--http {addr}: {e}"))?;
    io.spawn(async move {
        if let Err(e) = axum::serve(listener, router(metrics)).await {
            tracing::error!("the metrics listener stopped: {e}");
        }
    });
    Ok(bound)
}
