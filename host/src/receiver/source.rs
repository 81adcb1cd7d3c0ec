//! The source interface: what every connector implements, built-in or not. A source runs as one task
//! on the job's I/O runtime, sends its records with marks of how far it has read (its own offsets,
//! opaque to the job), starts from where a resumed job's checkpoint says, cuts logged batches again at
//! their logged offsets, and hears when a checkpoint holding its offsets has committed: only then may
//! it acknowledge its input upstream (a Kafka commit, a broker ack).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::Outbox;
use crate::checkpoint::{Peers, SourceOffset};
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
    /// This process among the job's: a spread source (see `SourceSpec::spreads`) reads only the
    /// partitions this process owns.
    pub peers: Peers,
    /// Offsets of this source in checkpoints as they commit, until a task takes them.
    commits: Option<Commits>,
    /// Where the job finds the acknowledging task, to let it finish when the job ends.
    acks: Acknowledgers,
}

impl SourceContext {
    /// A context for source `name` of job `job`; its commits come from `events` until `acks` says
    /// the job has ended.
    pub fn new(job: &str, name: &str, start: SourceOffset, events: &Events, acks: &Acknowledgers) -> SourceContext {
        SourceContext {
            job: job.into(),
            name: name.into(),
            start,
            cuts: Vec::new(),
            manual: false,
            state_dir: None,
            peers: Peers::default(),
            commits: Some(Commits::new(name, events, acks.ended.subscribe())),
            acks: acks.clone(),
        }
    }

    /// Runs `acknowledge` with this source's commits as a task of its own, which the job lets finish
    /// (within [`ACK_GRACE`]) after its last checkpoint commits, so the last acknowledgement is not
    /// lost when the job ends. Once per source: a second call does nothing.
    pub fn acknowledge<F, Fut>(&mut self, acknowledge: F)
    where
        F: FnOnce(Commits) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if let Some(commits) = self.commits.take() {
            let task = tokio::spawn(tracing::Instrument::in_current_span(acknowledge(commits)));
            self.acks.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(task);
        }
    }
}

/// How long an ending job waits for its sources' last acknowledgements.
pub const ACK_GRACE: Duration = Duration::from_secs(10);

/// A job's acknowledging tasks, and the signal that the job has ended.
#[derive(Clone)]
pub struct Acknowledgers {
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    ended: Arc<watch::Sender<bool>>,
}

impl Default for Acknowledgers {
    fn default() -> Self {
        Acknowledgers { tasks: Arc::default(), ended: Arc::new(watch::channel(false).0) }
    }
}

impl Acknowledgers {
    /// The job has ended (its last checkpoint committed): the tasks acknowledge what is left and
    /// finish; waits for them on `rt` for at most [`ACK_GRACE`], then stops the rest.
    pub fn finish(&self, rt: &tokio::runtime::Handle) {
        self.ended.send_replace(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        if tasks.is_empty() {
            return;
        }
        let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
        let all = async {
            for t in tasks {
                let _ = t.await;
            }
        };
        // The timer is made inside the runtime: it needs its clock.
        if rt.block_on(async { tokio::time::timeout(ACK_GRACE, all).await }).is_err() {
            tracing::warn!("the sources' last acknowledgements did not finish within {ACK_GRACE:?}");
            aborts.iter().for_each(tokio::task::AbortHandle::abort);
        }
    }
}

/// The offsets of one source held by each checkpoint that commits, in order.
pub struct Commits {
    source: String,
    events: broadcast::Receiver<JobEvent>,
    ended: watch::Receiver<bool>,
}

impl Commits {
    /// Commits of source `source` in the checkpoints `events` reports (subscribed now, so none that
    /// commits after this call is missed), until `ended` turns true.
    pub fn new(source: &str, events: &Events, ended: watch::Receiver<bool>) -> Commits {
        Commits { source: source.to_string(), events: events.subscribe(), ended }
    }

    /// The next committed offset of this source and the batch of its checkpoint; `None` once the job
    /// has ended and every commit before its end was reported.
    ///
    /// ```
    /// use weir::checkpoint::SourceOffset;
    /// use weir::event::{Events, JobEvent};
    /// use weir::receiver::source::Commits;
    /// let events = Events::default();
    /// let (ended, on_end) = tokio::sync::watch::channel(false);
    /// let mut commits = Commits::new("in", &events, on_end);
    /// let offsets = serde_json::json!({"in": {"units": 7}, "other": "start"});
    /// events.emit(JobEvent::CheckpointCommitted { time: 1000, offsets, duration_ms: 5, bytes: 0 });
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.block_on(commits.next()), Some((1000, SourceOffset::Units(7))));
    /// let offsets = serde_json::json!({"in": {"units": 9}});
    /// events.emit(JobEvent::CheckpointCommitted { time: 2000, offsets, duration_ms: 5, bytes: 0 });
    /// ended.send_replace(true);
    /// assert_eq!(rt.block_on(commits.next()), Some((2000, SourceOffset::Units(9))), "what came before the end");
    /// assert_eq!(rt.block_on(commits.next()), None);
    /// ```
    pub async fn next(&mut self) -> Option<(u64, SourceOffset)> {
        loop {
            // Events first: a commit reported before the end is still handed out.
            let got = tokio::select! {
                biased;
                got = self.events.recv() => got,
                _ = self.ended.wait_for(|e| *e) => return None,
            };
            match got {
                Ok(JobEvent::CheckpointCommitted { time, offsets, .. }) => {
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
