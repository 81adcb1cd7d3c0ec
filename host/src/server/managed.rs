//! One job on the server: its handle while it runs, its record on disk, and the watcher that writes
//! down how it ended.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::followers::Followers;
use super::record::{Desired, JobRecord};
use super::{ServerError, io};
use crate::event::JobEvent;
use crate::graph::Plan;
use crate::job::{Env, Job, JobHandle, JobState, JobStatus, RunOptions, StopRequest};
use crate::registry::Operator;

/// How often the supervisor looks whether a job has ended.
pub(super) const WATCH_EVERY: Duration = Duration::from_millis(100);

/// How long an upgrade waits for the next batch boundary.
const SWAP_TIMEOUT: Duration = Duration::from_secs(60);

/// A stream's plugin, as a job runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginView {
    /// The stream.
    pub stream: String,
    /// The operator.
    pub operator: Operator,
}

/// A job's status, as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    /// The job's id (its name).
    pub name: String,
    /// What its current (or last) run tells.
    pub status: JobStatus,
    /// Each plugin stream's operator.
    pub plugins: Vec<PluginView>,
    /// Times it was started again.
    pub restarts: u32,
    /// Failed, and waiting to be started again by its restart policy.
    pub restarting: bool,
    /// When it was submitted (ms since the Unix epoch).
    pub submitted_at_ms: u64,
}

pub(super) struct Managed {
    pub(super) name: String,
    home: PathBuf,
    record: Mutex<JobRecord>,
    operators: Mutex<BTreeMap<String, Operator>>,
    handle: Option<JobHandle>,
    shutting_down: AtomicBool,
    restarting: AtomicBool,
    /// Processes 1.. of a job across processes, ended with the run.
    followers: Mutex<Option<Followers>>,
    // From the start until the supervisor has written down how the run ended and will not restart it.
    active: AtomicBool,
}

impl Managed {
    /// A job known from its record that does not run.
    pub(super) fn ended(name: String, home: PathBuf, record: JobRecord) -> Arc<Managed> {
        Arc::new(Managed {
            name,
            home,
            record: Mutex::new(record),
            operators: Mutex::default(),
            handle: None,
            shutting_down: AtomicBool::new(false),
            restarting: AtomicBool::new(false),
            followers: Mutex::default(),
            active: AtomicBool::new(false),
        })
    }

    /// Starts `plan` (its folder and record in `kept`), its events followed by `ui` from the
    /// first; the server supervises it (`Server::supervise`).
    pub(super) fn start(
        plan: Plan,
        operators: BTreeMap<String, Operator>,
        (home, record): (PathBuf, JobRecord),
        run: RunOptions,
        env: &Arc<Env>,
        ui: &Arc<crate::ui::Ui>,
    ) -> Result<Arc<Managed>, ServerError> {
        let name = plan.name.clone();
        let events = crate::event::Events::default();
        ui.follow(env.io(), &plan, &events);
        let handle = Job::start_with_events(plan, run, env, crate::job::Stopper::default(), events)?;
        Ok(Arc::new(Managed {
            name,
            home,
            record: Mutex::new(record),
            operators: Mutex::new(operators),
            handle: Some(handle),
            shutting_down: AtomicBool::new(false),
            restarting: AtomicBool::new(false),
            followers: Mutex::default(),
            active: AtomicBool::new(true),
        }))
    }

    /// Keeps the other processes of this run, to end them with it.
    pub(super) fn hold(&self, followers: Option<Followers>) {
        *self.followers.lock().unwrap_or_else(|e| e.into_inner()) = followers;
    }

    fn record(&self) -> std::sync::MutexGuard<'_, JobRecord> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True while the job's run has not ended.
    pub(super) fn is_live(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// True while the job runs, has ended but its supervisor has not yet written down how, or waits to
    /// be restarted: another run of it must not start.
    pub(super) fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    /// Waits at most `limit` for a run that has ended to be settled by its supervisor.
    pub(super) fn wait_settled(&self, limit: Duration) {
        let until = std::time::Instant::now() + limit;
        while self.is_active() && !self.is_live() && !self.restarting.load(Ordering::SeqCst) {
            if std::time::Instant::now() >= until {
                return;
            }
            std::thread::sleep(WATCH_EVERY / 10);
        }
    }

    /// True once the server is shutting down.
    pub(super) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// The supervisor is done with this run: it ended for good, or another took its place.
    pub(super) fn settle(&self) {
        self.restarting.store(false, Ordering::SeqCst);
        self.active.store(false, Ordering::SeqCst);
    }

    /// How the run ended: `Some(users_fault)` when it failed while it should have run.
    pub(super) fn failure(&self) -> Option<bool> {
        let status = self.handle.as_ref().map(JobHandle::status).unwrap_or_default();
        let wanted = self.record().desired == Desired::Running && !self.shutting_down.load(Ordering::SeqCst);
        (wanted && status.state == JobState::Failed).then_some(status.users_fault)
    }

    /// Writes down how the run ended, unless the server stops it to resume it at its next start; a job
    /// its restart policy will start again stays marked running, and shows as restarting.
    pub(super) fn record_end(&self, will_restart: bool) {
        // Process 0 has ended: the others end with it (a restart starts new ones).
        if let Some(mut followers) = self.followers.lock().unwrap_or_else(|e| e.into_inner()).take() {
            followers.end();
        }
        if self.shutting_down.load(Ordering::SeqCst) {
            self.settle();
            return;
        }
        self.restarting.store(will_restart, Ordering::SeqCst);
        let status = self.handle.as_ref().map(JobHandle::status).unwrap_or_default();
        let mut record = self.record();
        if record.desired == Desired::Running && !will_restart {
            record.desired = if status.state == JobState::Failed { Desired::Failed } else { Desired::Finished };
        }
        record.last_error = status.error.clone().or(record.last_error.take());
        if let Err(e) = record.save(&self.home) {
            tracing::error!(job = %self.name, "cannot save the job's record: {e}");
        }
        // Last: a new run of the job may start once this one's record is written.
        self.active.store(will_restart, Ordering::SeqCst);
    }

    pub(super) fn view(&self) -> JobView {
        let record = self.record().clone();
        let status = match &self.handle {
            Some(h) => h.status(),
            None => JobStatus {
                state: if record.desired == Desired::Failed { JobState::Failed } else { JobState::Finished },
                error: record.last_error.clone(),
                ..JobStatus::default()
            },
        };
        let operators = self.operators.lock().unwrap_or_else(|e| e.into_inner());
        let plugins = operators.iter().map(|(s, o)| PluginView { stream: s.clone(), operator: o.clone() }).collect();
        JobView {
            name: self.name.clone(),
            status,
            plugins,
            restarts: record.restarts,
            restarting: self.restarting.load(Ordering::SeqCst),
            submitted_at_ms: record.submitted_at_ms,
        }
    }

    /// The record as it is now.
    pub(super) fn record_now(&self) -> JobRecord {
        self.record().clone()
    }

    fn running(&self) -> Result<&JobHandle, ServerError> {
        match &self.handle {
            Some(h) if !h.is_finished() => Ok(h),
            _ => Err(ServerError::Precondition(format!("job `{}` is not running", self.name))),
        }
    }

    pub(super) fn stop(&self, how: StopRequest) -> Result<(), ServerError> {
        if self.restarting.swap(false, Ordering::SeqCst) {
            // Waiting to restart: it stays down.
            let mut record = self.record();
            record.desired = Desired::Stopped;
            let saved = record.save(&self.home).map_err(io(&self.home));
            self.active.store(false, Ordering::SeqCst);
            return saved;
        }
        let handle = self.running()?;
        let mut record = self.record();
        record.desired = Desired::Stopped;
        record.save(&self.home).map_err(io(&self.home))?;
        handle.stop(how);
        Ok(())
    }

    pub(super) fn stop_for_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        if let Some(h) = &self.handle {
            h.stop(StopRequest::AtBoundary);
        }
    }

    pub(super) fn wait_ended(&self) {
        while self.is_live() {
            std::thread::sleep(WATCH_EVERY / 4);
        }
    }

    /// Swaps `stream`'s plugin for `op` (at `path`), initialised with `model` when given, and records it
    /// so a restart runs them: the operator's digest, and the model in the job's folder.
    pub(super) fn swap(
        &self,
        stream: &str,
        op: &Operator,
        path: &Path,
        model: Option<Arc<str>>,
    ) -> Result<u64, ServerError> {
        if self.followers.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
            return Err(ServerError::Precondition(format!(
                "job `{}` runs across processes, and a plugin is swapped in one process only: stop the job, \
                 push the operator and submit the job again (it resumes from its last checkpoint)",
                self.name
            )));
        }
        let from = self.running()?.swap_model(stream, path, model.clone(), SWAP_TIMEOUT)?;
        self.operators.lock().unwrap_or_else(|e| e.into_inner()).insert(stream.to_string(), op.clone());
        let mut record = self.record();
        record.plugins.insert(stream.to_string(), op.digest.clone());
        if let Some(model) = model {
            let home = &self.home;
            super::record::save_model(home, stream, &model).map_err(io(home))?;
            record.models.insert(stream.to_string());
        }
        record.save(&self.home).map_err(io(&self.home))?;
        Ok(from)
    }

    pub(super) fn tap(
        &self,
        stream: &str,
    ) -> Result<tokio::sync::broadcast::Receiver<Arc<crate::operator::tap::Tapped>>, ServerError> {
        let job = &self.name;
        let no_such = || ServerError::NotFound(format!("job `{job}` has no source or stream `{stream}`"));
        self.running()?.tap(stream).ok_or_else(no_such)
    }

    pub(super) fn subscribe(&self) -> Option<tokio::sync::broadcast::Receiver<JobEvent>> {
        self.handle.as_ref().filter(|h| !h.is_finished()).map(JobHandle::subscribe)
    }

    /// True when the job runs, or should, with the operator of `digest`.
    pub(super) fn uses(&self, digest: &str) -> bool {
        let record = self.record();
        (self.is_live() || record.desired == Desired::Running) && record.plugins.values().any(|d| d == digest)
    }
}
