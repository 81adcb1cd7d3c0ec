//! `weir serve`'s engine room, below the gRPC layer (`rpc/`): a data dir holding the operator
//! registry and one folder per job (spec, record, checkpoints, state), the jobs running in one shared
//! [`Env`], and what a restarted server does: start again every job that was running.

mod followers;
mod logs;
mod managed;
mod place;
mod query;
pub mod record;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use thiserror::Error;

pub use followers::follower_plan;
pub use logs::{JobLogs, LogLine};
pub use managed::{JobView, PluginView};
use managed::{Managed, WATCH_EVERY};
use place::place;
pub use query::{StateAnswer, StateEntry, StateQuery};
pub use record::{Desired, JobRecord};

use crate::graph::restart::RestartSpec;
use crate::job::{Env, JobError, RunOptions, StopRequest};
use crate::registry::{Operator, Registry, RegistryError};

/// Why the server refused a request; the gRPC layer maps each to its status code.
#[derive(Debug, Error)]
pub enum ServerError {
    /// The spec cannot run: the message names its line and field.
    #[error("{0}")]
    Spec(String),
    /// No such job, stream or operator.
    #[error("{0}")]
    NotFound(String),
    /// The job already runs.
    #[error("{0}")]
    AlreadyExists(String),
    /// The job is not in a state that allows the request.
    #[error("{0}")]
    Precondition(String),
    /// The registry refused.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The job refused or failed to start.
    #[error(transparent)]
    Job(#[from] JobError),
    /// The data dir could not be read or written.
    #[error("data dir {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ServerError + '_ {
    move |source| ServerError::Io { path: path.to_path_buf(), source }
}

/// What a submission started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The job's id (its name).
    pub job_id: String,
    /// True when a checkpoint of an earlier run exists, which the job resumes from.
    pub resumed: bool,
}

/// Options of a submission.
#[derive(Debug, Clone, Copy, Default)]
pub struct SubmitOptions {
    /// Discard the job's checkpoints and start from the beginning.
    pub start_over: bool,
    /// Resume even when some state no longer fits the spec (it is dropped).
    pub allow_dropped_state: bool,
}

/// The jobs and operators of one server.
pub struct Server {
    data: PathBuf,
    env: Arc<Env>,
    /// Every job's UI and metrics, for `weir serve --http`.
    pub ui: Arc<crate::ui::Ui>,
    registry: Registry,
    jobs: Mutex<BTreeMap<String, Arc<Managed>>>,
    // Held from the check that a job is not running to its start, so two submissions (or a submission
    // and a restart) of one name never both start it.
    starting: Mutex<()>,
}

impl Server {
    /// Opens the data dir `data` (made if missing) with jobs running in `env`, and starts again every
    /// job that was running when the server last stopped, from its last checkpoint.
    pub fn open(data: &Path, env: Arc<Env>) -> Result<Arc<Server>, ServerError> {
        let jobs_dir = data.join("jobs");
        std::fs::create_dir_all(&jobs_dir).map_err(io(&jobs_dir))?;
        // Canonical, so that a job's paths are compared with the real data dir (not a relative or
        // symlinked way to it).
        let data = &data.canonicalize().map_err(io(data))?;
        let jobs_dir = data.join("jobs");
        let registry = Registry::open(&data.join("operators"))?;
        let server = Arc::new(Server {
            data: data.to_path_buf(),
            env,
            ui: Arc::default(),
            registry,
            jobs: Mutex::default(),
            starting: Mutex::default(),
        });
        let mut names: Vec<_> = std::fs::read_dir(&jobs_dir)
            .map_err(io(&jobs_dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("record.json").is_file())
            .collect();
        names.sort();
        for home in names {
            server.reopen(home);
        }
        Ok(server)
    }

    /// Takes up the job in folder `home` as its record says: starts it again if it was running. A
    /// folder that cannot be read, or a job that cannot start, leaves that job failed, not the server.
    fn reopen(self: &Arc<Self>, home: PathBuf) {
        let name = home.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let read = JobRecord::load(&home).map_err(io(&home)).and_then(|record| {
            let text = std::fs::read_to_string(home.join("spec.toml")).map_err(io(&home))?;
            Ok((record, text))
        });
        let failed = |error: String, record: Option<JobRecord>| {
            tracing::error!(job = %name, "cannot start the job again: {error}");
            let mut record = record.unwrap_or(JobRecord {
                desired: Desired::Failed,
                plugins: BTreeMap::new(),
                submitted_at_ms: 0,
                restarts: 0,
                last_error: None,
                models: Default::default(),
            });
            record.desired = Desired::Failed;
            record.last_error = Some(error);
            if let Err(e) = record.save(&home) {
                tracing::error!(job = %name, "cannot save the job's record: {e}");
            }
            self.insert(Managed::ended(name.clone(), home.clone(), record));
        };
        match read {
            Err(e) => failed(e.to_string(), None),
            Ok((record, _)) if record.desired != Desired::Running => {
                self.insert(Managed::ended(name.clone(), home.clone(), record))
            }
            Ok((mut record, text)) => {
                tracing::info!(job = %name, "starting again the job that was running");
                record.restarts += 1;
                if let Err(e) = self.launch(&text, record.clone(), RunOptions::default(), 0) {
                    failed(e.to_string(), Some(record));
                }
            }
        }
    }

    /// The server's data dir.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The environment jobs run in.
    pub fn env(&self) -> &Arc<Env> {
        &self.env
    }

    /// The operator registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    fn jobs_dir(&self) -> PathBuf {
        self.data.join("jobs")
    }

    fn insert(&self, managed: Arc<Managed>) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).insert(managed.name.clone(), managed);
    }

    fn get(&self, job: &str) -> Result<Arc<Managed>, ServerError> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.get(job).cloned().ok_or_else(|| ServerError::NotFound(format!("no job `{job}` on this server")))
    }

    /// Checks `spec` as [`Server::submit`] would, without starting it.
    pub fn validate(&self, spec: &str) -> Result<(String, BTreeMap<String, Operator>), ServerError> {
        let placed = place(spec, &self.jobs_dir(), &self.registry, &BTreeMap::new())?;
        Ok((placed.plan.name, placed.operators))
    }

    /// Starts the job `spec` describes. A job of that name that has ended starts again from its last
    /// checkpoint (unless `opts.start_over`).
    pub fn submit(self: &Arc<Self>, spec: &str, opts: SubmitOptions) -> Result<Submitted, ServerError> {
        let (name, _) = self.validate(spec)?;
        let home = self.jobs_dir().join(&name);
        let resumed =
            !opts.start_over && crate::checkpoint::committed(&home.join("checkpoint")).is_ok_and(|c| !c.is_empty());
        let _starting = self.starting.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(old) = self.get(&name) {
            // A run that just ended (a stop a client waited for) is settled by its supervisor shortly.
            old.wait_settled(WATCH_EVERY * 5);
        }
        if let Ok(old) = self.get(&name)
            && old.is_active()
        {
            return Err(ServerError::AlreadyExists(format!(
                "job `{name}` is running or waiting to restart; stop it first, or upgrade its plugins with \
                 `weir job upgrade`"
            )));
        }
        std::fs::create_dir_all(&home).map_err(io(&home))?;
        std::fs::write(home.join("spec.toml"), spec).map_err(io(&home))?;
        let record = JobRecord {
            desired: Desired::Running,
            plugins: BTreeMap::new(),
            submitted_at_ms: crate::registry::now_ms(),
            restarts: 0,
            last_error: None,
            models: Default::default(),
        };
        let run = RunOptions {
            start_over: opts.start_over,
            allow_dropped_state: opts.allow_dropped_state,
            ..RunOptions::default()
        };
        self.launch(spec, record, run, 0)?;
        Ok(Submitted { job_id: name, resumed })
    }

    /// Places and starts `spec` with `record` (its pinned plugins), saving the record, and supervises
    /// it; `failures` counts the failures in a row before this start.
    fn launch(
        self: &Arc<Self>,
        spec: &str,
        mut record: JobRecord,
        run: RunOptions,
        failures: u32,
    ) -> Result<(), ServerError> {
        let mut placed = place(spec, &self.jobs_dir(), &self.registry, &record.plugins)?;
        let home = self.jobs_dir().join(&placed.plan.name);
        place::swapped_models(&mut placed.plan, &home, &record.models)?;
        record.plugins = placed.operators.iter().map(|(s, o)| (s.clone(), o.digest.clone())).collect();
        record.desired = Desired::Running;
        record.save(&home).map_err(io(&home))?;
        let policy = placed.plan.restart;
        // Across processes: the others start first, so process 0 finds them as it connects.
        let mut run = run;
        let followers = match placed.plan.processes {
            1 => None,
            n => {
                let (followers, cluster) = followers::Followers::start(&self.data, &home, &placed.plan.name, n)?;
                run.cluster = Some(cluster);
                Some(followers)
            }
        };
        let managed = Managed::start(placed.plan, placed.operators, (home, record), run, &self.env, &self.ui)?;
        managed.hold(followers);
        self.insert(managed.clone());
        self.supervise(managed, policy, failures);
        Ok(())
    }

    /// Waits for `managed` to end and writes down how; a failure worth a retry starts it again after the
    /// wait its restart policy gives, from its last checkpoint.
    fn supervise(self: &Arc<Self>, managed: Arc<Managed>, policy: RestartSpec, failures: u32) {
        let server = self.clone();
        self.env.io().spawn(async move {
            while managed.is_live() {
                tokio::time::sleep(WATCH_EVERY).await;
            }
            // A run that committed a checkpoint made progress: its failure is the first in a row.
            let failures = if managed.view().status.last_checkpoint.is_some() { 0 } else { failures };
            let wait = match managed.failure() {
                Some(false) => policy.delay_before(failures + 1),
                _ => None,
            };
            managed.record_end(wait.is_some());
            let Some(wait) = wait else { return };
            let why = managed.view().status.error.unwrap_or_default();
            tracing::warn!(job = %managed.name, "failed: {why}; restart {} of {} in {wait:?}", failures + 1, policy.attempts);
            tokio::time::sleep(wait).await;
            let failed = managed.clone();
            let restarted = tokio::task::spawn_blocking(move || {
                let _starting = server.starting.lock().unwrap_or_else(|e| e.into_inner());
                // Stopped while it waited, or replaced by a new submission: it stays as it is.
                let current = server.get(&managed.name).is_ok_and(|m| Arc::ptr_eq(&m, &managed));
                let record = managed.record_now();
                if record.desired != Desired::Running || !current || managed.is_shutting_down() {
                    managed.settle();
                    return Ok(());
                }
                let home = server.jobs_dir().join(&managed.name);
                let text = std::fs::read_to_string(home.join("spec.toml")).map_err(io(&home))?;
                let mut record = record;
                record.restarts += 1;
                server.launch(&text, record, RunOptions::default(), failures + 1)
            });
            if let Ok(Err(e)) = restarted.await {
                tracing::error!(job = %failed.name, "cannot restart the job: {e}");
                failed.record_end(false);
            }
        });
    }

    /// Every job, by name.
    pub fn list(&self) -> Vec<JobView> {
        let jobs: Vec<_> = self.jobs.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        jobs.iter().map(|m| m.view()).collect()
    }

    /// One job's status.
    pub fn status(&self, job: &str) -> Result<JobView, ServerError> {
        Ok(self.get(job)?.view())
    }

    /// True while `job` runs or waits to be restarted.
    pub fn is_active(&self, job: &str) -> bool {
        self.get(job).is_ok_and(|m| m.is_active())
    }

    /// Asks `job` to stop as `how` says; it is not started again.
    pub fn stop(&self, job: &str, how: StopRequest) -> Result<JobView, ServerError> {
        // Not while the job is being started again, so the stop reaches the run that will go on.
        let _starting = self.starting.lock().unwrap_or_else(|e| e.into_inner());
        let managed = self.get(job)?;
        managed.stop(how)?;
        Ok(managed.view())
    }

    /// Swaps `stream`'s plugin in running `job` for `operator` at the next batch boundary, initialised
    /// with `model` (a model's text) in place of the stream's `model` file when given; returns the first
    /// batch that runs it. Blocks until then.
    pub fn upgrade(
        &self,
        job: &str,
        stream: &str,
        operator: &str,
        model: Option<Arc<str>>,
    ) -> Result<(u64, Operator), ServerError> {
        let managed = self.get(job)?;
        let op = self.registry.resolve(operator)?;
        let from = managed.swap(stream, &op, &self.registry.blob(&op.digest), model)?;
        Ok((from, op))
    }

    /// The job `job`'s event stream, if it runs.
    pub fn subscribe(
        &self,
        job: &str,
    ) -> Result<Option<tokio::sync::broadcast::Receiver<crate::event::JobEvent>>, ServerError> {
        Ok(self.get(job)?.subscribe())
    }

    /// The batches of `stream` in running `job` from now on.
    pub fn tap(
        &self,
        job: &str,
        stream: &str,
    ) -> Result<tokio::sync::broadcast::Receiver<Arc<crate::operator::tap::Tapped>>, ServerError> {
        self.get(job)?.tap(stream)
    }

    /// Removes an operator unless a job that runs or should run uses it.
    pub fn delete_operator(&self, reference: &str) -> Result<Operator, ServerError> {
        let _starting = self.starting.lock().unwrap_or_else(|e| e.into_inner());
        let jobs: Vec<_> = self.jobs.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        let used_by = |digest: &str| jobs.iter().find(|m| m.uses(digest)).map(|m| m.name.clone());
        Ok(self.registry.delete(reference, used_by)?)
    }

    /// Stops every job at its next batch boundary, with a final checkpoint, keeping them marked as
    /// running so the next start of the server resumes them; waits for them to end.
    pub fn shutdown(&self) {
        let jobs: Vec<_> = self.jobs.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        for m in &jobs {
            m.stop_for_shutdown();
        }
        for m in &jobs {
            m.wait_ended();
        }
    }
}
