//! The HTTP listener of `weir run --http ADDR` and `weir serve --http ADDR`: `/metrics`, every metric in
//! the OpenMetrics text format, for Prometheus to scrape. Without a token it binds loopback addresses
//! only; with one (the server's), a request must bring it as `Authorization: Bearer <token>`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::Metrics;

/// What `/metrics` answers with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The routes: `/metrics`, guarded by `token` when there is one.
pub fn router(metrics: Arc<Metrics>, token: Option<String>) -> Router {
    let scrape = move |headers: HeaderMap| {
        let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let allowed = token.as_ref().is_none_or(|t| given == Some(format!("Bearer {t}").as_str()));
        let answer: Response = if allowed {
            ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.encode()).into_response()
        } else {
            (StatusCode::UNAUTHORIZED, "this server's metrics need its token: Authorization: Bearer <token>\n")
                .into_response()
        };
        async move { answer }
    };
    Router::new().route("/metrics", get(scrape))
}

/// Binds `addr` and serves `metrics` there on `io` for as long as the process runs; returns the address
/// bound (port 0 picks a free one). Without a `token`, an address that is not loopback is refused,
/// named.
pub fn serve(
    io: &tokio::runtime::Handle,
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    token: Option<String>,
) -> Result<SocketAddr, String> {
    if token.is_none() && !addr.ip().is_loopback() {
        return Err(format!(
            "--http {addr}: bind a loopback address (127.0.0.1 or [::1]): metrics are served without a token"
        ));
    }
    let listener = io.block_on(tokio::net::TcpListener::bind(addr)).map_err(|e| format!("--http {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| format!("--http {addr}: {e}"))?;
    io.spawn(async move {
        if let Err(e) = axum::serve(listener, router(metrics, token)).await {
            tracing::error!("the metrics listener stopped: {e}");
        }
    });
    Ok(bound)
}
