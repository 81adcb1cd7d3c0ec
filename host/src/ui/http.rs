//! The HTTP listener of `weir run --http ADDR` and `weir serve --http ADDR`: the web UI, its JSON and
//! live updates, and `/metrics` in the OpenMetrics text format. Without a token it binds loopback
//! addresses only; with one (the server's), every request must bring it: as `Authorization: Bearer
//! <token>` (Prometheus), or once as `?token=<token>` in a browser, which then keeps it in a cookie.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use super::{Ui, pages};

/// What `/metrics` answers with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The cookie a browser keeps the token in.
const COOKIE: &str = "weir_token";

/// The routes, guarded by `token` when there is one.
pub fn router(ui: Arc<Ui>, token: Option<String>) -> Router {
    Router::new()
        .route("/", get(job_list))
        .route("/metrics", get(metrics))
        .route("/jobs/{job}", get(job_page))
        .route("/jobs/{job}/screen/{stream}", get(screen_page))
        .route("/api/jobs", get(api_jobs))
        .route("/api/jobs/{job}", get(api_job))
        .route("/api/jobs/{job}/updates", get(updates))
        .route("/assets/{file}", get(asset))
        .fallback(|uri: axum::http::Uri| async move {
            not_found(&format!("nothing at {}: the UI starts at /, the metrics are at /metrics", uri.path()))
        })
        .layer(middleware::from_fn_with_state(Arc::new(token), guard))
        .with_state(ui)
}

/// Lets a request through when there is no token or it brings the token; a `?token=` that is right
/// also sets the cookie, so the pages' own requests carry it.
async fn guard(State(token): State<Arc<Option<String>>>, request: Request, next: Next) -> Response {
    let Some(token) = token.as_deref() else { return next.run(request).await };
    let headers = request.headers();
    let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let cookie = cookie(headers);
    let query = request.uri().query().unwrap_or("").split('&').find_map(|kv| kv.strip_prefix("token="));
    if bearer == Some(format!("Bearer {token}").as_str()) || cookie.as_deref() == Some(token) {
        return next.run(request).await;
    }
    if query == Some(token) {
        let mut response = next.run(request).await;
        let set = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
        if let Ok(v) = set.parse() {
            response.headers_mut().insert(header::SET_COOKIE, v);
        }
        return response;
    }
    let message = "this server's UI and metrics need its token: `Authorization: Bearer <token>`, or open \
                   /?token=<token> once in a browser (the token is in the server's data dir, file `token`)\n";
    (StatusCode::UNAUTHORIZED, message).into_response()
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    let all = headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok());
    let mut pairs = all.flat_map(|v| v.split(';')).map(str::trim);
    pairs.find_map(|kv| kv.strip_prefix(COOKIE).and_then(|r| r.strip_prefix('='))).map(String::from)
}

fn json(value: &serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

fn not_found(message: &str) -> Response {
    (StatusCode::NOT_FOUND, Html(pages::not_found(message))).into_response()
}

fn no_job(ui: &Ui, job: &str) -> Response {
    let known = ui.job_names();
    let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
    not_found(&format!("no job `{job}` here; jobs: {known}"))
}

async fn metrics(State(ui): State<Arc<Ui>>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], ui.metrics().encode()).into_response()
}

async fn job_list(State(ui): State<Arc<Ui>>) -> Html<String> {
    Html(pages::jobs(&ui.summaries()))
}

async fn job_page(State(ui): State<Arc<Ui>>, Path(job): Path<String>) -> Response {
    match ui.with_job(&job, |f, _| pages::job(&job, &f.graph, &f.screens)) {
        Some(page) => Html(page).into_response(),
        None => no_job(&ui, &job),
    }
}

async fn screen_page(State(ui): State<Arc<Ui>>, Path((job, stream)): Path<(String, String)>) -> Response {
    let found = ui.with_job(&job, |f, _| {
        if f.screens.contains(&stream) {
            Ok(pages::screen(&job, &stream))
        } else if f.streams.contains(&stream) {
            let screens = if f.screens.is_empty() { "none".into() } else { f.screens.join(", ") };
            Err(format!(
                "stream `{stream}` of job `{job}` has no big screen: add a sink with kind = \"screen\" and from = \"{stream}\" (streams with one: {screens})"
            ))
        } else {
            Err(format!("job `{job}` has no stream `{stream}`; its streams: {}", f.streams.join(", ")))
        }
    });
    match found {
        Some(Ok(page)) => Html(page).into_response(),
        Some(Err(message)) => not_found(&message),
        None => no_job(&ui, &job),
    }
}

async fn api_jobs(State(ui): State<Arc<Ui>>) -> Response {
    json(&serde_json::Value::Object(ui.summaries().into_iter().collect()))
}

async fn api_job(State(ui): State<Arc<Ui>>, Path(job): Path<String>) -> Response {
    match ui.with_job(&job, |_, v| v.snapshot()) {
        Some(s) => json(&s),
        None => no_job(&ui, &job),
    }
}

/// The job's snapshot, then every change of its view, as server-sent events.
async fn updates(State(ui): State<Arc<Ui>>, Path(job): Path<String>) -> Response {
    // Subscribed before the snapshot is taken, so no change falls between them (a page skips a batch
    // it already has).
    let rx = ui.subscribe();
    let Some(snapshot) = ui.with_job(&job, |_, v| v.snapshot().to_string()) else { return no_job(&ui, &job) };
    let first = Event::default().event("snapshot").data(snapshot);
    // A page that falls behind skips what the channel dropped (the next batch carries the panels).
    let live = BroadcastStream::new(rx).filter_map(move |u| match u {
        Ok(u) if *u.job == *job => Some(Ok::<_, Infallible>(Event::default().event(u.name).data(&*u.data))),
        _ => None,
    });
    let stream = tokio_stream::once(Ok(first)).chain(live);
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind): (&'static [u8], &str) = match file.as_str() {
        "weir.js" => (include_bytes!("assets/weir.js"), "text/javascript"),
        "weir.css" => (include_bytes!("assets/weir.css"), "text/css"),
        "uPlot.iife.min.js" => (include_bytes!("assets/uPlot.iife.min.js"), "text/javascript"),
        "uPlot.min.css" => (include_bytes!("assets/uPlot.min.css"), "text/css"),
        _ => return not_found(&format!("no asset `{file}`")),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "max-age=3600")], body).into_response()
}

/// Binds `addr` and serves `ui` there on `io` for as long as the process runs; returns the address
/// bound (port 0 picks a free one). Without a `token`, an address that is not loopback is refused,
/// named.
pub fn serve(
    io: &tokio::runtime::Handle,
    addr: SocketAddr,
    ui: Arc<Ui>,
    token: Option<String>,
) -> Result<SocketAddr, String> {
    if token.is_none() && !addr.ip().is_loopback() {
        return Err(format!(
            "--http {addr}: bind a loopback address (127.0.0.1 or [::1]): the UI and metrics are served without a token"
        ));
    }
    let listener = io.block_on(tokio::net::TcpListener::bind(addr)).map_err(|e| format!("--http {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| format!("--http {addr}: {e}"))?;
    io.spawn(async move {
        if let Err(e) = axum::serve(listener, router(ui, token)).await {
            tracing::error!("the UI listener stopped: {e}");
        }
    });
    Ok(bound)
}
