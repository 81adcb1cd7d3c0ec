//! Runs one job in-process: compiles its plugins, starts the receivers (on the environment's tokio
//! runtime), the batch clock (a thread) and the timely workers, and waits until the input ends, a
//! limit is reached or its handle asks it to stop (`handle.rs`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

mod cluster;
pub mod connectors;
mod env;
mod handle;
mod lost;
mod plugins;
mod resume;
mod run;
mod stop;

pub use cluster::{Cluster, ClusterError, loopback_addresses};
pub use env::Env;
pub use handle::{Job, JobHandle, JobState, JobStatus, status_line};
pub use lost::network_peer;
use run::run_in;
pub use stop::{StopRequest, Stopper};

use crate::graph::Plan;
use crate::graph::spec::StreamSpec;
use crate::operator::wasm::PluginError;
use crate::state::StateDb;
use weir_sdk::packed::Batch;

/// Why a job could not run.
#[derive(Debug, Error)]
pub enum JobError {
    /// A plugin could not be loaded or refused its parameters.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// A declared parameter is missing from the plugin, or similar.
    #[error("stream `{stream}`: {message}")]
    Params {
        /// Stream name.
        stream: String,
        /// What is wrong.
        message: String,
    },
    /// A plugin source or sink does not fit its table.
    #[error("{section} `{name}`: {message}")]
    Connector {
        /// `source` or `sink`.
        section: &'static str,
        /// Its name in the spec.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A sink could not be opened.
    #[error(transparent)]
    Sink(#[from] crate::sink::SinkError),
    /// A source could not read its input.
    #[error("{0}")]
    Source(String),
    /// The state database or an initial-state file could not be opened.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// A static table could not be loaded.
    #[error(transparent)]
    Table(#[from] crate::table::TableError),
    /// The dead-letter file could not be opened.
    #[error("cannot open dead-letter file: {0}")]
    DeadLetter(std::io::Error),
    /// A checkpoint could not be read, written or used.
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    /// The checkpoint or state directory is in use by another process.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// A stream's `on_error = "fail"` or the job's `[dead_letter] max` was reached.
    #[error("{0}")]
    Refused(String),
    /// The runtime could not start or a worker failed.
    #[error("runtime: {0}")]
    Runtime(String),
    /// This process could not join its cluster, or the job cannot run in one.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

impl JobError {
    /// True when the job was refused for what its spec asks (a plugin that cannot be loaded, does not
    /// fit its op or refuses its parameters), not for something that went wrong while it ran: the CLI
    /// exits 2 for these, as for other spec errors.
    pub fn is_refused_spec(&self) -> bool {
        matches!(
            self,
            JobError::Params { .. }
                | JobError::Connector { .. }
                | JobError::Plugin(PluginError::Load { .. } | PluginError::Init { .. } | PluginError::Start { .. })
        )
    }

    /// True when the spec or its input is at fault, so running the job again unchanged fails again; false
    /// when a retry may succeed (a server down, a full disk, a directory in use).
    pub fn is_users_fault(&self) -> bool {
        self.is_refused_spec() || matches!(self, JobError::Refused(_) | JobError::Checkpoint(_))
    }
}

/// Limits on a run, from the command line.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop after this many batches.
    pub max_batches: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Resume from a checkpoint even when some of its state no longer fits the job (that state is dropped).
    pub allow_dropped_state: bool,
    /// Discard what the checkpoint directory holds and start the job from the beginning.
    pub start_over: bool,
    /// Run as one process of a cluster (see `cluster.rs`); none: the whole job in this process.
    pub cluster: Option<Cluster>,
}

/// What a finished run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// Batches cut.
    pub batches: u64,
    /// Batches a plugin failed.
    pub failed_batches: u64,
    /// Records sent to the dead letters.
    pub dead_letters: u64,
    /// What each stream and source refused.
    pub refused: BTreeMap<String, crate::operator::dead_letter::Tally>,
}

/// Opens the state database and reads initial-state files, when a stream keeps state.
type StateParts = (Option<Arc<StateDb>>, HashMap<String, Arc<Batch>>);

/// A resumed job (`resume`) takes its state from the checkpoint, never from initial-state files.
/// In a cluster, each process keeps its key groups' state in a directory of its own.
fn open_state(plan: &Plan, resume: bool, cluster: Option<&Cluster>) -> Result<StateParts, JobError> {
    let mut initial = HashMap::new();
    let mut stateful = false;
    for (name, spec) in &plan.streams {
        if let StreamSpec::UpdateStateByKey { initial_state, .. } | StreamSpec::MapWithState { initial_state, .. } =
            spec
        {
            stateful = true;
            if let (Some(path), false) = (initial_state, resume) {
                initial.insert(name.clone(), Arc::new(crate::state::load_initial(path)?));
            }
        }
    }
    if !stateful {
        return Ok((None, initial));
    }
    let dir = match (&plan.state.dir, cluster) {
        (Some(d), Some(c)) => Some(d.join(format!("process-{}", c.process))),
        (d, _) => d.clone(),
    };
    let db = StateDb::open(dir.as_deref(), plan.state.cache)?;
    tracing::info!(dir = %db.path().display(), "state database open");
    Ok((Some(Arc::new(db)), initial))
}

/// Runs `plan` to the end of its input or a limit, in the process's [`Env`], and waits for it. With
/// `[checkpoint]`, a job whose directory holds a checkpoint resumes from it.
pub fn run(plan: Plan, opts: RunOptions) -> Result<RunReport, JobError> {
    Job::start(plan, opts, &Env::process()?)?.wait()
}
