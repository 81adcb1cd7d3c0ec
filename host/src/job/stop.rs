//! Asking a running job to stop from outside it. The library installs no signal handlers: the caller
//! (the CLI maps SIGINT/SIGTERM here, a server its Stop and Cancel calls) holds a [`Stopper`] and asks;
//! the job watches it ([`watch`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::watch;

use crate::batcher::Shared;
use crate::event::{Events, JobEvent};

/// How a job is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRequest {
    /// The sources hand over what they already received, every batch is finished and written.
    Drain,
    /// Stop at the next batch boundary; what the receivers still hold is dropped.
    AtBoundary,
    /// Stop at the next batch boundary without a final checkpoint.
    Cancel,
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
    /// Asks the job to stop. The first request counts, except that a cancel overrides a stop.
    ///
    /// ```
    /// use weir::job::{StopRequest, Stopper};
    /// let stopper = Stopper::default();
    /// let mut seen = stopper.subscribe();
    /// stopper.request(StopRequest::Drain);
    /// stopper.request(StopRequest::AtBoundary);
    /// assert_eq!(*seen.borrow_and_update(), Some(StopRequest::Drain));
    /// stopper.request(StopRequest::Cancel);
    /// assert_eq!(*seen.borrow_and_update(), Some(StopRequest::Cancel));
    /// ```
    pub fn request(&self, how: StopRequest) {
        self.tx.send_if_modified(|now| {
            let takes = now.is_none() || (how == StopRequest::Cancel && *now != Some(StopRequest::Cancel));
            takes.then(|| *now = Some(how)).is_some()
        });
    }

    /// Watches for the request.
    pub fn subscribe(&self) -> watch::Receiver<Option<StopRequest>> {
        self.tx.subscribe()
    }
}

/// Carries out the requests `asked` sees for the job `shared` belongs to: a drain through `drain`, a
/// stop or cancel through the batcher's flags; each is told on `events`.
pub(super) async fn watch(
    mut asked: watch::Receiver<Option<StopRequest>>,
    shared: Arc<Shared>,
    drain: watch::Sender<bool>,
    events: Events,
) {
    // A request made before the job started is already there: look before waiting for a change.
    loop {
        let how = *asked.borrow_and_update();
        match how {
            None => {}
            Some(StopRequest::Drain) => {
                tracing::info!("draining: the sources hand over what they received, every batch is finished");
                let _ = drain.send(true);
                events.emit(JobEvent::Stopping { how: "drain" });
            }
            Some(StopRequest::AtBoundary) => {
                tracing::info!("stopping at the next batch boundary");
                shared.stop.store(true, Ordering::SeqCst);
                events.emit(JobEvent::Stopping { how: "boundary" });
            }
            Some(StopRequest::Cancel) => {
                tracing::info!("cancelled: stopping at the next batch boundary, without a final checkpoint");
                shared.cancelled.store(true, Ordering::SeqCst);
                shared.stop.store(true, Ordering::SeqCst);
                events.emit(JobEvent::Stopping { how: "cancel" });
            }
        }
        if asked.changed().await.is_err() {
            return;
        }
    }
}
