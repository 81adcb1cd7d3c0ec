//! The host side of the `http` import: the one door to the outside a job may open for a plugin source
//! or sink. A request goes out only to a host the job grants (checked by the SDK's matcher, the one the
//! native harnesses use), to exactly the address checked, without redirects or proxies. A denial is
//! answered to the plugin, logged, and kept, so the host fails the batch even if the plugin hides it.

use std::sync::Arc;
use std::time::Duration;

use super::bindings::http_wit::{HttpError, Request, Response};

/// The largest response body handed to a plugin.
#[cfg(feature = "plugin-http")]
const MAX_BODY: u64 = 16 << 20;

/// What one instance may reach, and the denial it was last given.
pub struct HttpGate {
    hosts: Arc<[String]>,
    /// Who holds the gate, for messages: ``sink `out` ``.
    holder: Arc<str>,
    denied: Option<String>,
    #[cfg(feature = "plugin-http")]
    agent: Option<ureq::Agent>,
}

impl HttpGate {
    /// A gate letting nothing through (stream plugins).
    pub fn closed(holder: &str) -> HttpGate {
        HttpGate::open(holder, &[], Duration::from_secs(1))
    }

    /// A gate to `hosts` (`host` or `host:port`), each request answered within `timeout`.
    pub fn open(holder: &str, hosts: &[String], timeout: Duration) -> HttpGate {
        #[cfg(feature = "plugin-http")]
        let agent = (!hosts.is_empty()).then(|| {
            ureq::Agent::config_builder()
                .timeout_global(Some(timeout))
                .max_redirects(0)
                .http_status_as_error(false)
                .proxy(None)
                .build()
                .into()
        });
        #[cfg(not(feature = "plugin-http"))]
        let _ = timeout;
        HttpGate {
            hosts: hosts.into(),
            holder: holder.into(),
            denied: None,
            #[cfg(feature = "plugin-http")]
            agent,
        }
    }

    /// The denial given since the last call, if any.
    pub fn take_denied(&mut self) -> Option<String> {
        self.denied.take()
    }

    /// Sends `req` for a plugin of job `job` if its host is granted, else answers `denied` and keeps it.
    pub(super) fn send(&mut self, job: &str, req: Request) -> Result<Response, HttpError> {
        match weir_sdk::http::allowed(&self.hosts, &req.url) {
            Ok(target) => self.exchange(target, req),
            Err(why) => {
                let message = format!("{}: HTTP request {why}", self.holder);
                tracing::warn!(job, "{message}");
                self.denied = Some(message.clone());
                Err(HttpError::Denied(message))
            }
        }
    }

    #[cfg(feature = "plugin-http")]
    fn exchange(&self, target: weir_sdk::http::Target, req: Request) -> Result<Response, HttpError> {
        let agent = self.agent.as_ref().ok_or_else(|| HttpError::Failed("no host is granted".into()))?;
        let mut builder = ureq::http::Request::builder().method(req.method.as_str()).uri(target.url());
        // The host header follows the checked target, never the plugin's say.
        for (k, v) in req.headers.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("host")) {
            builder = builder.header(k, v);
        }
        let request = builder.body(req.body).map_err(|e| HttpError::Failed(e.to_string()))?;
        match agent.run(request) {
            Ok(mut r) => {
                let status = r.status().as_u16();
                let headers = r
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                    .collect();
                let body = r.body_mut().with_config().limit(MAX_BODY).read_to_vec();
                let body = body.map_err(|e| HttpError::Failed(format!("reading the answer: {e}")))?;
                Ok(Response { status, headers, body })
            }
            Err(ureq::Error::Timeout(_)) => Err(HttpError::Timeout),
            Err(e) => Err(HttpError::Failed(e.to_string())),
        }
    }

    #[cfg(not(feature = "plugin-http"))]
    fn exchange(&self, _: weir_sdk::http::Target, _: Request) -> Result<Response, HttpError> {
        Err(HttpError::Failed("this weir was built without plugin HTTP (cargo feature `plugin-http`)".into()))
    }
}
