//! HTTP for source and sink plugins: the one door to the outside a job may open for them. A request
//! goes through the host, which sends it only to a host the job grants (`grants.http` in the source's or
//! sink's table) and never follows a redirect. [`allowed`] is the check, shared by the host and the
//! native test harnesses, so a test refuses exactly what a job would.

use std::fmt;

/// One request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, `PUT`, `DELETE`, ...
    pub method: String,
    /// An `http://` or `https://` URL.
    pub url: String,
    /// Request headers, name and value.
    pub headers: Vec<(String, String)>,
    /// The body (empty for none).
    pub body: Vec<u8>,
}

impl Request {
    /// A request with method `method` to `url`, no headers and no body.
    ///
    /// ```
    /// let r = weir_sdk::http::Request::new("GET", "http://a.example/x").header("Accept", "text/plain");
    /// assert_eq!((r.method.as_str(), r.headers.len(), r.body.len()), ("GET", 1, 0));
    /// ```
    pub fn new(method: &str, url: &str) -> Request {
        Request { method: method.into(), url: url.into(), headers: Vec::new(), body: Vec::new() }
    }

    /// A `POST` to `url`.
    pub fn post(url: &str) -> Request {
        Request::new("POST", url)
    }

    /// This request with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// This request with `body`.
    pub fn body(self, body: Vec<u8>) -> Request {
        Request { body, ..self }
    }
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// Status code; a 3xx answer is returned as it is, not followed.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The job does not grant this host; the message names the host and the grants.
    Denied(String),
    /// No answer within the job's `grants.http_timeout`.
    Timeout,
    /// The connection or the exchange failed.
    Failed(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Denied(m) => write!(f, "{m}"),
            HttpError::Timeout => write!(f, "no answer in time"),
            HttpError::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// Sends `req` through the host and waits for the answer. In a native test, the harness answers it,
/// after the same grant check the host makes.
pub fn send(req: Request) -> Result<Response, HttpError> {
    #[cfg(all(feature = "guest", target_arch = "wasm32"))]
    {
        use crate::guest::source_bindings::weir::operator0_2_0::http as h;
        let req = h::Request { method: req.method, url: req.url, headers: req.headers, body: req.body };
        match h::send(&req) {
            Ok(r) => Ok(Response { status: r.status, headers: r.headers, body: r.body }),
            Err(h::HttpError::Denied(m)) => Err(HttpError::Denied(m)),
            Err(h::HttpError::Timeout) => Err(HttpError::Timeout),
            Err(h::HttpError::Failed(m)) => Err(HttpError::Failed(m)),
        }
    }
    #[cfg(not(all(feature = "guest", target_arch = "wasm32")))]
    {
        let answer = NATIVE.with_borrow(|n| n.clone());
        match answer {
            Some(answer) => answer(req),
            None => Err(HttpError::Failed("no HTTP in this native test: give the harness `on_http`".into())),
        }
    }
}

/// How a native test answers a plugin's requests.
pub(crate) type Answer = std::rc::Rc<dyn Fn(Request) -> Result<Response, HttpError>>;

thread_local! {
    // The answer of the native harness running on this thread (a plugin runs on one thread).
    static NATIVE: std::cell::RefCell<Option<Answer>> = const { std::cell::RefCell::new(None) };
}

/// Makes [`send`] answer with `answer` on this thread (native tests).
pub(crate) fn answer_natively(answer: Option<Answer>) {
    NATIVE.with_borrow_mut(|n| *n = answer);
}

/// Where a checked request goes: the host connects to exactly this, not to its own reading of the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The host, lowercased, without a trailing dot (`[…]` kept around an IPv6 address).
    pub host: String,
    /// The port, explicit or the scheme's.
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path_and_query: String,
}

impl Target {
    /// The URL the host sends the request to.
    pub fn url(&self) -> String {
        format!("{}://{}:{}{}", self.scheme, self.host, self.port, self.path_and_query)
    }
}

/// Checks `url` against `grants` (entries `host`, any port, or `host:port`): the target when a grant
/// covers it, else why not.
///
/// ```
/// use weir_sdk::http::allowed;
/// let grants = ["api.example.com".to_string(), "127.0.0.1:8080".to_string()];
/// let t = allowed(&grants, "HTTPS://API.Example.com./v1?q=1").unwrap();
/// assert_eq!(t.url(), "https://api.example.com:443/v1?q=1");
/// assert!(allowed(&grants, "http://127.0.0.1:8080/hook").is_ok());
/// let no = allowed(&grants, "http://127.0.0.1:9090/").unwrap_err();
/// assert_eq!(no, "to `127.0.0.1:9090` denied: `grants.http` lists only api.example.com, 127.0.0.1:8080");
/// assert!(allowed(&grants, "http://api.example.com@evil.example/").unwrap_err().contains("`@`"));
/// assert!(allowed(&grants, "ftp://api.example.com/").unwrap_err().contains("http://"));
/// assert!(allowed(&["[::1]:80".into()], "http://[::1]/").is_ok());
/// assert!(allowed(&[], "http://api.example.com/").unwrap_err().contains("grants no host"));
/// ```
pub fn allowed(grants: &[String], url: &str) -> Result<Target, String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| format!("`{url}`: write an http:// or https:// URL"))?;
    let (scheme, default_port) = match scheme.to_ascii_lowercase().as_str() {
        "http" => ("http", 80),
        "https" => ("https", 443),
        _ => return Err(format!("`{url}`: write an http:// or https:// URL")),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return Err(format!("`{url}`: a URL with `@` (user information) is refused"));
    }
    let (host, port) = split_host_port(authority).ok_or_else(|| format!("`{url}`: no host, or a bad port"))?;
    let port = port.unwrap_or(default_port);
    let tail = tail.split('#').next().unwrap_or("");
    let path_and_query = if tail.starts_with('/') { tail.to_string() } else { format!("/{tail}") };
    let target = Target { scheme, host, port, path_and_query };
    let granted = grants
        .iter()
        .filter_map(|g| split_host_port(g))
        .any(|(h, p)| h == target.host && p.is_none_or(|p| p == target.port));
    if granted {
        return Ok(target);
    }
    let to = format!("{}:{}", target.host, target.port);
    Err(match grants {
        [] => format!("to `{to}` denied: the job grants no host (`grants.http`)"),
        _ => format!("to `{to}` denied: `grants.http` lists only {}", grants.join(", ")),
    })
}

/// A host, lowercased without a trailing dot, and its port if written; `None` when either is bad.
fn split_host_port(authority: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6.split_once(']')?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':')?),
            };
            (format!("[{}]", addr.to_ascii_lowercase()), port)
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (authority.to_ascii_lowercase(), None),
        },
    };
    let host = host.strip_suffix('.').map(str::to_string).unwrap_or(host);
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || "/*@?#".contains(c)) {
        return None;
    }
    match port {
        None => Some((host, None)),
        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).map(|p| (host, Some(p))),
    }
}
