//! What a plugin source or sink may reach outside its sandbox: `grants = { http = ["api.example.com",
//! "127.0.0.1:8080"] }` in its table. Nothing is granted by default; raw sockets and files never are.

use std::time::Duration;

use serde::Deserialize;

use super::millis::Millis;

/// The `grants` of a plugin source or sink.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Hosts the plugin may send HTTP requests to: `host` (any port) or `host:port`.
    #[serde(default)]
    pub http: Vec<String>,
    /// Longest one HTTP request may take (default 10 s); shorter than the plugin's `deadline`.
    #[serde(default = "ten_seconds")]
    pub http_timeout: Millis,
}

impl Default for Grants {
    fn default() -> Self {
        Grants { http: Vec::new(), http_timeout: ten_seconds() }
    }
}

fn ten_seconds() -> Millis {
    Millis(10_000)
}

/// Checks `grants` for a plugin whose calls may each take `deadline`: the field at fault and why.
///
/// ```
/// use std::time::Duration;
/// use weir::graph::grants::{Grants, check};
/// let g = |hosts: &[&str]| Grants { http: hosts.iter().map(|h| h.to_string()).collect(), ..Grants::default() };
/// let long = Duration::from_secs(30);
/// let fine = check(&g(&["api.example.com", "127.0.0.1:8080", "[::1]:80"]), long);
/// assert!(fine.map_or_else(|e| e.1.contains("plugin-http"), |_| true), "refused only by a build without it");
/// assert!(check(&g(&["https://api.example.com"]), long).unwrap_err().1.contains("write a host"));
/// assert!(check(&g(&["*.example.com"]), long).unwrap_err().1.contains("no wildcards"));
/// assert!(check(&g(&["a:99999"]), long).unwrap_err().1.contains("port"));
/// assert!(check(&g(&["a"]), Duration::from_secs(5)).unwrap_err().1.contains("shorter"));
/// assert!(check(&g(&[]), Duration::from_secs(5)).is_ok(), "no HTTP, no timeout to check");
/// ```
pub fn check(grants: &Grants, deadline: Duration) -> Result<(), (&'static str, String)> {
    for host in &grants.http {
        if host.contains("://") || host.contains('/') || host.contains('@') {
            let msg = format!("`{host}`: write a host, optionally with its port (`api.example.com`, `127.0.0.1:8080`)");
            return Err(("grants", msg));
        }
        if host.contains('*') {
            return Err(("grants", format!("`{host}`: name each host; there are no wildcards")));
        }
        if weir_sdk::http::allowed(std::slice::from_ref(host), &format!("http://{host}/")).is_err() {
            return Err(("grants", format!("`{host}`: not a host, or a bad port")));
        }
    }
    if !grants.http.is_empty() && Duration::from_millis(grants.http_timeout.0) >= deadline {
        let msg = format!(
            "`http_timeout` ({}) must be shorter than the plugin's `deadline` ({} ms)",
            grants.http_timeout,
            deadline.as_millis()
        );
        return Err(("grants", msg));
    }
    if !grants.http.is_empty() && !cfg!(feature = "plugin-http") {
        return Err(("grants", "this weir was built without plugin HTTP (cargo feature `plugin-http`)".into()));
    }
    Ok(())
}
