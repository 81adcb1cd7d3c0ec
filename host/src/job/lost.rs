//! A peer lost while a job runs across processes. Timely's network threads (`timely:send-P`,
//! `timely:recv-P`, P the peer's index) panic when a connection breaks, the workers then panic on the
//! poisoned queues, and joining them panics again: three backtraces and `Send thread panic`. This names
//! the peer instead. The panic hook is process-wide by nature, so the peer is kept in a static; a
//! process runs at most one job of a cluster.

use std::panic::AssertUnwindSafe;
use std::sync::{Once, OnceLock};

use super::cluster::{Cluster, ClusterError};

/// The peer whose connection broke first.
static LOST: OnceLock<usize> = OnceLock::new();

/// The peer index a timely network thread's name carries, if `name` is one.
///
/// ```
/// assert_eq!(weir::job::network_peer("timely:recv-2"), Some(2));
/// assert_eq!(weir::job::network_peer("timely:send-0"), Some(0));
/// assert_eq!(weir::job::network_peer("weir-batcher"), None);
/// ```
pub fn network_peer(name: &str) -> Option<usize> {
    name.strip_prefix("timely:recv-").or_else(|| name.strip_prefix("timely:send-"))?.parse().ok()
}

/// Installs, once, the panic hook that records the first lost peer and keeps the panics that follow
/// from it (workers on poisoned queues) off stderr; other panics go to the hook before it. Called
/// before timely's threads start.
pub(super) fn watch() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(peer) = std::thread::current().name().and_then(network_peer) {
                let _ = LOST.set(peer);
            }
            match LOST.get() {
                Some(_) => tracing::debug!("after a lost peer: {info}"),
                None => previous(info),
            }
        }));
    });
}

/// Joins the workers of this process of `cluster` (`join` consumes timely's guards); a broken
/// connection that stopped them becomes [`ClusterError::Lost`] naming the peer.
pub(super) fn join_naming_lost<T>(
    cluster: &Cluster,
    join: impl FnOnce() -> Vec<Result<T, String>>,
) -> Result<Vec<Result<T, String>>, ClusterError> {
    let joined = std::panic::catch_unwind(AssertUnwindSafe(join));
    match (joined, LOST.get()) {
        (Ok(results), _) if results.iter().all(Result::is_ok) => Ok(results),
        (Ok(results), None) => Ok(results),
        (_, Some(&peer)) => Err(ClusterError::Lost {
            process: cluster.process,
            peer,
            address: cluster.addresses.get(peer).cloned().unwrap_or_default(),
        }),
        (Err(panic), None) => std::panic::resume_unwind(panic),
    }
}
