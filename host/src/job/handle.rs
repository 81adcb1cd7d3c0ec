//! A job as an object: [`Job::start`] returns at once with a [`JobHandle`], through which the caller
//! (the CLI's `weir run`, a server) stops or cancels the job, follows its typed events, reads its
//! status and waits for its report. The job runs on a thread of its own in a shared [`Env`].

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::broadcast;

use super::plugins::Swapper;
use super::{Env, JobError, RunOptions, RunReport, StopRequest, Stopper};
use crate::event::{Events, JobEvent};
use crate::graph::Plan;
use crate::operator::tap::{Tapped, Taps};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum JobState {
    /// Loading plugins, opening sinks, resuming from a checkpoint.
    #[default]
    Starting,
    /// Cutting and processing batches.
    Running,
    /// Asked to stop; finishing its batches.
    Stopping,
    /// Ended as asked or at the end of its input.
    Finished,
    /// Ended with an error.
    Failed,
}

/// What a job's status says, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobStatus {
    /// Where it is.
    pub state: JobState,
    /// Batches cut so far.
    pub batches: u64,
    /// The newest batch cut.
    pub last_batch: Option<u64>,
    /// The newest batch every stream has processed.
    pub last_completed: Option<u64>,
    /// Plugin failures told (a batch failing on two workers, or in two slices, counts more than once).
    pub plugin_failures: u64,
    /// Records and lines sent to the dead letters.
    pub dead_letters: u64,
    /// The newest checkpoint committed.
    pub last_checkpoint: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// True when it failed for what its spec or input is (running it again unchanged fails again).
    pub users_fault: bool,
    /// Records its sources put into batches.
    pub records_in: u64,
    /// How long the newest completed batch took to run, ms.
    pub last_processing_ms: Option<u64>,
    /// How long the newest completed batch waited before it ran, ms (realtime clock).
    pub last_scheduling_delay_ms: Option<u64>,
    /// When it started (ms since the Unix epoch).
    pub started_at_ms: Option<u64>,
}

impl JobStatus {
    /// Records in per second since it started, as of `now_ms`.
    ///
    /// ```
    /// let s = weir::job::JobStatus { records_in: 500, started_at_ms: Some(1000), ..Default::default() };
    /// assert_eq!(s.records_per_second(3000), 250.0);
    /// ```
    pub fn records_per_second(&self, now_ms: u64) -> f64 {
        let secs = self.started_at_ms.map_or(0.0, |s| now_ms.saturating_sub(s) as f64 / 1000.0);
        if secs > 0.0 { self.records_in as f64 / secs } else { 0.0 }
    }

    /// The one-line status `weir run` keeps on a terminal and `weir job status` prints, as of `now_ms`.
    pub fn line(&self, now_ms: u64) -> String {
        let (last, delay) = (self.last_processing_ms, self.last_scheduling_delay_ms);
        status_line(self.batches, self.records_per_second(now_ms), last, delay, self.dead_letters)
    }

    /// Folds `event` in.
    pub fn apply(&mut self, event: &JobEvent) {
        // The job thread sets the end itself; the folding task may bring earlier events after it.
        let ended = matches!(self.state, JobState::Finished | JobState::Failed);
        match event {
            JobEvent::Started { .. } if !ended => {
                self.state = JobState::Running;
                self.started_at_ms = Some(crate::batcher::now_ms());
            }
            JobEvent::Started { .. } => {}
            JobEvent::BatchCut { time, records, .. } => {
                self.batches += 1;
                self.last_batch = Some(*time);
                self.records_in += records.values().sum::<u64>();
            }
            JobEvent::CheckpointCommitted { time, .. } => self.last_checkpoint = Some(*time),
            JobEvent::BatchCompleted { time, processing_ms, scheduling_delay_ms, .. } => {
                self.last_completed = Some(*time);
                (self.last_processing_ms, self.last_scheduling_delay_ms) = (Some(*processing_ms), *scheduling_delay_ms);
            }
            JobEvent::PluginSwapped { .. } | JobEvent::BatchWritten { .. } | JobEvent::ScreenUpdated { .. } => {}
            JobEvent::PluginFailed { .. } => self.plugin_failures += 1,
            JobEvent::DeadLetter { .. } => self.dead_letters += 1,
            JobEvent::Stopping { .. } if !ended => self.state = JobState::Stopping,
            JobEvent::Stopping { .. } => {}
            JobEvent::Finished { .. } => self.state = JobState::Finished,
            JobEvent::Failed { error, users_fault } => {
                self.state = JobState::Failed;
                self.error = Some(error.clone());
                self.users_fault = *users_fault;
            }
        }
    }
}

/// A job's status in one line: batches, records per second, the last batch's time and wait, dead letters.
///
/// ```
/// let line = weir::job::status_line(12, 3.4, Some(4), Some(1), 0);
/// assert_eq!(line, "12 batches · 3 records/s · last batch 4 ms after 1 ms waiting · 0 dead letters");
/// ```
pub fn status_line(batches: u64, per_second: f64, last_ms: Option<u64>, delay_ms: Option<u64>, dead: u64) -> String {
    let last = match (last_ms, delay_ms) {
        (Some(p), Some(d)) => format!("last batch {p} ms after {d} ms waiting"),
        (Some(p), None) => format!("last batch {p} ms"),
        _ => "no batch yet".to_string(),
    };
    format!("{batches} batches · {per_second:.0} records/s · {last} · {dead} dead letters")
}

/// What the handle controls a running job with: its stop requests, and its plugin swapper once the
/// job has loaded its plugins.
pub(super) struct Control {
    pub(super) stopper: Stopper,
    pub(super) swapper: OnceLock<Swapper>,
    pub(super) taps: Taps,
}

/// Starts jobs.
pub struct Job;

impl Job {
    /// Starts `plan` on a thread of its own in `env` and returns its handle at once; what goes wrong
    /// while it starts or runs comes back from [`JobHandle::wait`] and as a [`JobEvent::Failed`].
    ///
    /// ```
    /// use weir::job::{Env, Job, JobState, RunOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// let spec = "[job]\nname = \"h\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\
    ///             [sources.g]\nkind = \"generator\"\nrate = 5\nlimit = 10\n\
    ///             [sinks.out]\nkind = \"noop\"\nfrom = \"g\"\n";
    /// let plan = weir::graph::parse(&dir.path().join("job.toml"), spec).unwrap();
    /// let job = Job::start(plan, RunOptions::default(), &Env::process().unwrap()).unwrap();
    /// let report = job.wait().unwrap();
    /// assert_eq!(report.batches, 2);
    /// ```
    pub fn start(plan: Plan, opts: RunOptions, env: &Arc<Env>) -> Result<JobHandle, JobError> {
        Job::start_stopped_by(plan, opts, env, Stopper::default())
    }

    /// [`Job::start`], the job also stopping when `stopper` asks: a caller can listen for stop requests
    /// (signals) before the job starts.
    pub fn start_stopped_by(
        plan: Plan,
        opts: RunOptions,
        env: &Arc<Env>,
        stopper: Stopper,
    ) -> Result<JobHandle, JobError> {
        Job::start_with_events(plan, opts, env, stopper, Events::default())
    }

    /// [`Job::start_stopped_by`], the job emitting its events on `events`: a caller that subscribed
    /// before sees every event, the first included (metrics count from it).
    pub fn start_with_events(
        plan: Plan,
        opts: RunOptions,
        env: &Arc<Env>,
        stopper: Stopper,
        events: Events,
    ) -> Result<JobHandle, JobError> {
        let names = plan.sources.iter().map(|(n, _)| n.clone()).chain(plan.streams.iter().map(|(n, _)| n.clone()));
        let control = Arc::new(Control { stopper, swapper: OnceLock::new(), taps: Taps::new(names) });
        let status = Arc::new(Mutex::new(JobStatus::default()));
        let folded = status.clone();
        events.follow(env.io(), move |event| folded.lock().unwrap_or_else(|e| e.into_inner()).apply(event));
        let name = plan.name.clone();
        let thread = std::thread::Builder::new().name(format!("weir-job-{name}")).spawn({
            let (control, events, env, status) = (control.clone(), events.clone(), env.clone(), status.clone());
            move || {
                let result = super::run_in(plan, opts, &control, &env, &events);
                let end = match &result {
                    Ok(r) => JobEvent::Finished {
                        batches: r.batches,
                        failed_batches: r.failed_batches,
                        dead_letters: r.dead_letters,
                    },
                    Err(e) => JobEvent::Failed { error: e.to_string(), users_fault: e.is_users_fault() },
                };
                // Set here too, so the status is final once the job is: the folding task may lag.
                status.lock().unwrap_or_else(|e| e.into_inner()).apply(&end);
                events.emit(end);
                result
            }
        });
        let thread = thread.map_err(|e| JobError::Runtime(e.to_string()))?;
        Ok(JobHandle { name, control, events, status, thread })
    }
}

/// A started job.
pub struct JobHandle {
    name: String,
    control: Arc<Control>,
    events: Events,
    status: Arc<Mutex<JobStatus>>,
    thread: JoinHandle<Result<RunReport, JobError>>,
}

impl JobHandle {
    /// The job's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Asks the job to stop: drain (every received record processed and written) or at the next batch
    /// boundary. The first request counts; [`JobHandle::cancel`] still overrides it.
    pub fn stop(&self, how: StopRequest) {
        self.control.stopper.request(how);
    }

    /// Stops the job at the next batch boundary without a final checkpoint: the next start resumes
    /// from the last one committed, and cuts again the batches logged after it.
    pub fn cancel(&self) {
        self.control.stopper.request(StopRequest::Cancel);
    }

    /// Swaps stream `stream`'s plugin for the component at `path` at the next batch boundary and returns
    /// the first batch the new one runs. The component is checked as at start (world, kind, declared
    /// parameters, `init` with the stream's parameters) and refused with the reason when it does not
    /// fit; the stream's keyed state stays. Waits at most `timeout` for the boundary.
    pub fn swap(&self, stream: &str, path: &Path, timeout: Duration) -> Result<u64, JobError> {
        self.swap_model(stream, path, None, timeout)
    }

    /// [`JobHandle::swap`], the new plugin initialised with `model` (a model's text, as `weir model
    /// train` writes it) in place of the stream's `model` file: a model swap is a plugin swap. Refused
    /// when the stream was given no `model`, or the plugin's `init` refuses the model.
    pub fn swap_model(
        &self,
        stream: &str,
        path: &Path,
        model: Option<Arc<str>>,
        timeout: Duration,
    ) -> Result<u64, JobError> {
        let Some(swapper) = self.control.swapper.get() else {
            let state = if self.is_finished() { "has ended" } else { "is still starting" };
            return Err(JobError::Runtime(format!("job `{}` {state}: no plugin can be swapped", self.name)));
        };
        let applied = swapper.swap(stream, path, model)?;
        applied.recv_timeout(timeout).map_err(|e| {
            let why = match e {
                flume::RecvTimeoutError::Timeout => format!("no batch boundary came within {timeout:?}"),
                flume::RecvTimeoutError::Disconnected => "the job ended first".to_string(),
            };
            JobError::Runtime(format!("swapping the plugin of stream `{stream}`: {why}"))
        })
    }

    /// The batches of source or stream `stream` from now on, rendered as the jsonl sink writes them;
    /// `None` when the job has no such source or stream. A stream fused into the next one (a
    /// `map_to_pair` before an aggregation) shows no batches: tap the one before or after it.
    pub fn tap(&self, stream: &str) -> Option<broadcast::Receiver<Arc<Tapped>>> {
        self.control.taps.subscribe(stream)
    }

    /// The job's events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }

    /// Where the job is, as its events so far tell; final once [`JobHandle::is_finished`].
    pub fn status(&self) -> JobStatus {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// True once the job has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the job to end and returns its report.
    pub fn wait(self) -> Result<RunReport, JobError> {
        self.thread.join().unwrap_or_else(|panic| {
            // Timely panics when a peer process goes away; its message says so.
            let said =
                panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            let said = said.map_or_else(String::new, |s| format!(": {s}"));
            Err(JobError::Runtime(format!("the job's thread panicked{said}")))
        })
    }
}
