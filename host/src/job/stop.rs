//! Asking a running job to stop from outside it. The library installs no signal handlers: the caller
//! (the CLI maps SIGINT/SIGTERM here) holds a [`Stopper`] and asks; the job watches it.

use tokio::sync::watch;

/// How a job is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRequest {
    /// The sources hand over what they already received, every batch is finished and written.
    Drain,
    /// Stop at the next batch boundary; what the receivers still hold is dropped.
    AtBoundary,
}

/// A handle that asks a job to stop; clones ask the same job. A request made before the job starts
/// is seen as soon as it does.
#[derive(Debug, Clone)]
pub struct Stopper {
    tx: watch::Sender<Option<StopRequest>>,
}

impl Default for Stopper {
    fn default() -> Self {
        Stopper { tx: watch::channel(None).0 }
    }
}

impl Stopper {
    /// Asks the job to stop (the first request counts).
    ///
    /// ```
    /// use weir::job::{StopRequest, Stopper};
    /// let stopper = Stopper::default();
    /// let mut seen = stopper.subscribe();
    /// stopper.request(StopRequest::Drain);
    /// stopper.request(StopRequest::AtBoundary);
    /// assert_eq!(*seen.borrow_and_update(), Some(StopRequest::Drain));
    /// ```
    pub fn request(&self, how: StopRequest) {
        self.tx.send_if_modified(|now| now.is_none().then(|| *now = Some(how)).is_some());
    }

    /// Watches for the request.
    pub fn subscribe(&self) -> watch::Receiver<Option<StopRequest>> {
        self.tx.subscribe()
    }
}
