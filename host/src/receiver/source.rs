//! The source interface: what every connector implements, built-in or not. A source runs as one task
//! on the job's I/O runtime, sends its records with marks of how far it has read (its own offsets,
//! opaque to the job), starts from where a resumed job's checkpoint says, cuts logged batches again at
//! their logged offsets, and hears when a checkpoint holding its offsets has committed: only then may
//! it acknowledge its input upstream (a Kafka commit, a broker ack).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use tokio::sync::broadcast;

use super::Outbox;
use crate::checkpoint::SourceOffset;
use crate::event::{Events, JobEvent};

/// A running source: the future its task runs.
pub type SourceTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A source of records.
pub trait Source: Send + 'static {
    /// Reads from `ctx.start`, first cutting again each of `ctx.cuts` exactly, then live data, into
    /// `out` until its input ends (then [`SourceEvent::Finished`](super::SourceEvent::Finished)), the
    /// job drains it, or the job goes away. Acknowledges upstream only what `ctx.commits` reports.
    fn run(self: Box<Self>, ctx: SourceContext, out: Outbox) -> SourceTask;
}

/// A closure is a source: the built-in kinds are written this way.
///
/// ```
/// use weir::receiver::source::{Source, SourceContext, SourceTask};
/// use weir::receiver::{Outbox, SourceEvent};
/// fn finished_at_once() -> Box<dyn Source> {
///     Box::new(|_ctx: SourceContext, out: Outbox| -> SourceTask {
///         Box::pin(async move {
///             out.send(SourceEvent::Finished).await;
///         })
///     })
/// }
/// let _ = finished_at_once();
/// ```
impl<F> Source for F
where
    F: FnOnce(SourceContext, Outbox) -> SourceTask + Send + 'static,
{
    fn run(self: Box<Self>, ctx: SourceContext, out: Outbox) -> SourceTask {
        (*self)(ctx, out)
    }
}

/// What a source is told when it starts.
pub struct SourceContext {
    /// The job's name.
    pub job: String,
    /// The source's name in the spec.
    pub name: String,
    /// Where to resume: the offset of the checkpoint the job resumed from.
    pub start: SourceOffset,
    /// The offsets at which batches logged before a crash ended: the source replays up to each and
    /// marks exactly there, so those batches are cut again the same.
    pub cuts: Vec<SourceOffset>,
    /// True with the manual clock: the source marks each unit's end.
    pub manual: bool,
    /// With checkpoints: the folder under which this source keeps what a resumed job needs.
    pub state_dir: Option<PathBuf>,
    /// Offsets of this source in checkpoints as they commit.
    pub commits: Commits,
}

/// The offsets of one source held by each checkpoint that commits, in order.
pub struct Commits {
    source: String,
    events: broadcast::Receiver<JobEvent>,
}

impl Commits {
    /// Commits of source `source` in the checkpoints `events` reports (subscribed now, so none that
    /// commits after this call is missed).
    pub fn new(source: &str, events: &Events) -> Commits {
        Commits { source: source.to_string(), events: events.subscribe() }
    }

    /// Commits that never come: for a source that hands its own to another task.
    pub fn closed() -> Commits {
        Commits { source: String::new(), events: broadcast::channel(1).1 }
    }

    /// The next committed offset of this source and the batch of its checkpoint; `None` once the job
    /// has ended (its last checkpoint is reported before).
    ///
    /// ```
    /// use weir::checkpoint::SourceOffset;
    /// use weir::event::{Events, JobEvent};
    /// use weir::receiver::source::Commits;
    /// let events = Events::default();
    /// let mut commits = Commits::new("in", &events);
    /// let offsets = serde_json::json!({"in": {"units": 7}, "other": "start"});
    /// events.emit(JobEvent::CheckpointCommitted { time: 1000, offsets });
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.block_on(commits.next()), Some((1000, SourceOffset::Units(7))));
    /// events.emit(JobEvent::Finished { batches: 1, failed_batches: 0, dead_letters: 0 });
    /// assert_eq!(rt.block_on(commits.next()), None);
    /// ```
    pub async fn next(&mut self) -> Option<(u64, SourceOffset)> {
        loop {
            match self.events.recv().await {
                Ok(JobEvent::CheckpointCommitted { time, offsets }) => {
                    let mine = offsets.get(&self.source).cloned();
                    match mine.map(serde_json::from_value::<SourceOffset>) {
                        Some(Ok(offset)) => return Some((time, offset)),
                        Some(Err(e)) => tracing::warn!(source = %self.source, "unreadable committed offset: {e}"),
                        None => {}
                    }
                }
                Ok(JobEvent::Finished { .. } | JobEvent::Failed { .. }) | Err(broadcast::error::RecvError::Closed) => {
                    return None;
                }
                // Missed events: a later commit covers what an earlier one did.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            }
        }
    }
}
