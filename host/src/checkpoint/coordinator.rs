//! The checkpoint coordinator: collects, for a checkpointed batch `t`, every worker's part files, every
//! sink's word that `t` is written, and the batcher's source offsets; when all are in it writes the
//! manifest (the commit) and prunes old checkpoints. Participants report from their own threads.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::batch_log::{BatchLog, LoggedBatch};
use super::file::{checkpoint_dir, checkpoint_time, encode_part, write_atomic};
use super::manifest::{Manifest, PartRecord, PluginRecord};
use super::peers::{self, Peers};
use super::{CheckpointError, SourceOffset};
use crate::batcher::Shared;
use crate::event::{Events, JobEvent};

struct Pending {
    parts: BTreeMap<(String, usize), PartRecord>,
    sinks: BTreeSet<String>,
    offsets: Option<BTreeMap<String, SourceOffset>>,
    /// When the first of it arrived (the batch's cut, nearly always): the checkpoint's duration starts.
    opened: std::time::Instant,
}

impl Default for Pending {
    fn default() -> Self {
        let (parts, sinks, offsets) = Default::default();
        Pending { parts, sinks, offsets, opened: std::time::Instant::now() }
    }
}

#[derive(Default)]
struct Progress {
    pending: BTreeMap<u64, Pending>,
    final_time: Option<u64>,
    committed: Option<u64>,
    /// The kept checkpoints, oldest first: batch time and write-ahead log positions by source.
    kept: VecDeque<(u64, BTreeMap<String, u64>)>,
    /// Batches logged in the batch log and not yet covered by a committed checkpoint.
    logged: BTreeSet<u64>,
    /// The batch this run logged last: the next entry gives directory offsets as changes from it.
    last_logged: Option<LoggedBatch>,
    /// Plugins swapped while the job runs: from which batch, the stream, the new plugin.
    swapped: Vec<(u64, String, PluginRecord)>,
}

/// The write-ahead log positions among `offsets`.
fn log_positions(offsets: &BTreeMap<String, SourceOffset>) -> BTreeMap<String, u64> {
    offsets.iter().filter(|(_, o)| matches!(o, SourceOffset::Log(_))).map(|(s, o)| (s.clone(), o.units())).collect()
}

/// What a checkpoint needs besides the parts: the fixed fields of every manifest, and who reports.
pub struct CheckpointPlan {
    /// Root directory.
    pub root: PathBuf,
    /// Checkpoint at batch times that are multiples of this (milliseconds).
    pub period: u64,
    /// Committed checkpoints kept.
    pub keep: usize,
    /// The manifest's fixed fields (job, spec, plugins, state shapes, workers, interval).
    pub base: Manifest,
    /// Names of the sinks that must confirm each checkpointed batch.
    pub sinks: BTreeSet<String>,
    /// This process among the job's processes (see `peers.rs`); `base.workers` counts all of theirs.
    pub peers: Peers,
}

/// Coordinates the checkpoints of one running job.
pub struct Checkpointer {
    plan: CheckpointPlan,
    parts_expected: usize,
    shared: Arc<Shared>,
    events: Events,
    progress: Mutex<Progress>,
    restored: Mutex<HashMap<(String, usize), Vec<u8>>>,
    /// The batch log, made when the first realtime batch is logged (manual-clock jobs have none).
    batches: OnceLock<BatchLog>,
    /// Set when the job has ended: process 0 stops looking for other processes' parts.
    closed: AtomicBool,
}

impl Checkpointer {
    /// A coordinator for `plan`; `restored` holds the part payloads of the checkpoint the job resumes from;
    /// each commit is told on `events`.
    pub fn new(
        plan: CheckpointPlan,
        shared: Arc<Shared>,
        events: Events,
        restored: HashMap<(String, usize), Vec<u8>>,
    ) -> Result<Checkpointer, CheckpointError> {
        std::fs::create_dir_all(&plan.root)
            .map_err(|source| CheckpointError::Io { path: plan.root.clone(), source })?;
        // The parts this process's own workers write.
        let parts_expected = plan.base.state.len() * plan.base.workers / plan.peers.processes.max(1);
        // The checkpoints already kept still need their part of the write-ahead logs and the batch log.
        let mut kept = VecDeque::new();
        for (t, dir) in super::committed(&plan.root)?.into_iter().take(plan.keep) {
            if let Ok(m) = Manifest::read(&dir) {
                kept.push_front((t, log_positions(&m.offsets)));
            }
        }
        let progress = Mutex::new(Progress { kept, ..Progress::default() });
        Ok(Checkpointer {
            plan,
            parts_expected,
            shared,
            events,
            progress,
            restored: Mutex::new(restored),
            batches: OnceLock::new(),
            closed: AtomicBool::new(false),
        })
    }

    /// Starts what this process's part in the checkpoints needs beyond its workers' calls: process 0 of
    /// several looks for the others' parts.
    pub fn start(self: &Arc<Self>) {
        if self.plan.peers.commits() && self.plan.peers.processes > 1 {
            peers::watch(self);
        }
    }

    /// The job's workers have ended well: process 0 of several waits a moment for the others' parts of
    /// the final checkpoint (they write them as their input ends, as process 0's workers do); another
    /// process, until it has listed its own.
    pub fn await_final(&self) {
        let until = std::time::Instant::now() + FINAL_WAIT;
        while self.plan.peers.processes > 1 && std::time::Instant::now() < until {
            self.retry_pending();
            let p = self.progress();
            let done = match p.final_time {
                None => true,
                Some(t) if self.plan.peers.commits() => p.committed.is_some_and(|c| c >= t),
                Some(t) => !p.pending.contains_key(&t),
            };
            if done {
                break;
            }
            drop(p);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// The job has ended: process 0 stops looking for the other processes' parts.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Tries again to commit every pending checkpoint, oldest first (process 0 of several: another
    /// process's parts may have come in).
    pub(super) fn retry_pending(&self) {
        let mut p = self.progress();
        let times: Vec<u64> = p.pending.keys().copied().collect();
        for t in times {
            self.try_commit(&mut p, t);
        }
    }

    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True when batch `t` is checkpointed.
    pub fn due(&self, t: u64) -> bool {
        t.is_multiple_of(self.plan.period)
    }

    /// The batch of the final checkpoint, once the batcher has cut its last batch. Another process than
    /// process 0 has no batcher: asked once its input has ended, its last batch is the last one closed.
    pub fn final_time(&self) -> Option<u64> {
        if !self.plan.peers.commits() {
            let last = self.shared.closed_through.load(Ordering::SeqCst);
            return (last > 0).then_some(last);
        }
        self.progress().final_time
    }

    /// Takes the restored payload of `stream` on `worker`, if the job resumed from a checkpoint.
    pub fn take_restored(&self, stream: &str, worker: usize) -> Option<Vec<u8>> {
        self.restored.lock().unwrap_or_else(|e| e.into_inner()).remove(&(stream.to_string(), worker))
    }

    /// Writes the state of `stream` on `worker` after batch `t`.
    pub fn save_part(&self, stream: &str, worker: usize, t: u64, payload: &[u8]) {
        let dir = checkpoint_dir(&self.plan.root, t);
        let index = self.plan.base.state.keys().position(|s| s == stream).unwrap_or(usize::MAX);
        let file = format!("s{index}-w{worker}.part");
        let (bytes, crc32) = encode_part(payload);
        let written = std::fs::create_dir_all(&dir)
            .map_err(|source| CheckpointError::Io { path: dir.clone(), source })
            .and_then(|_| write_atomic(&dir.join(&file), &bytes));
        if let Err(e) = written {
            self.shared.fail(format!("checkpoint of batch {t}: {e}"));
            return;
        }
        let record = PartRecord { stream: stream.into(), worker, file, len: bytes.len() as u64, crc32 };
        let mut p = self.progress();
        p.pending.entry(t).or_default().parts.insert((stream.into(), worker), record);
        self.try_commit(&mut p, t);
    }

    /// Sink `sink` has written batch `t`.
    pub fn sink_done(&self, sink: &str, t: u64) {
        let mut p = self.progress();
        if self.due(t) || p.final_time == Some(t) {
            p.pending.entry(t).or_default().sinks.insert(sink.into());
            self.try_commit(&mut p, t);
        }
    }

    /// Sink `sink` has written every batch it will get.
    pub fn sink_finished(&self, sink: &str) {
        let mut p = self.progress();
        if let Some(t) = p.final_time {
            p.pending.entry(t).or_default().sinks.insert(sink.into());
            self.try_commit(&mut p, t);
        }
    }

    /// The batcher cut batch `t`; `offsets` is where every source was.
    pub fn offsets(&self, t: u64, offsets: BTreeMap<String, SourceOffset>) {
        let mut p = self.progress();
        p.pending.entry(t).or_default().offsets = Some(offsets);
        self.try_commit(&mut p, t);
    }

    /// Realtime clock: records in the batch log that batch `t`, cut right after batch `after` (0 for
    /// the job's first), is cut at `offsets`, before the batch is handed to the workers.
    pub fn log_batch(
        &self,
        t: u64,
        after: u64,
        offsets: BTreeMap<String, SourceOffset>,
    ) -> Result<(), CheckpointError> {
        let log = match self.batches.get() {
            Some(log) => log,
            None => self.batches.get_or_init(|| BatchLog::new(&self.log_root())).create()?,
        };
        let batch = LoggedBatch { time: t, offsets, after: Some(after) };
        let before = self.progress().last_logged.take();
        log.record(&batch, before.as_ref())?;
        let mut p = self.progress();
        p.logged.insert(t);
        p.last_logged = Some(batch);
        Ok(())
    }

    /// The batcher cut its last batch, `t`: the final checkpoint is taken there.
    pub fn finish(&self, t: u64, offsets: BTreeMap<String, SourceOffset>) {
        let mut p = self.progress();
        p.final_time = Some(t);
        p.pending.entry(t).or_default().offsets = Some(offsets);
        self.try_commit(&mut p, t);
    }

    /// Stream `stream` runs plugin `record` from batch `from` on: checkpoints from there record it.
    pub fn plugin_from(&self, stream: &str, from: u64, record: PluginRecord) {
        self.progress().swapped.push((from, stream.to_string(), record));
    }

    /// The batch of the newest checkpoint committed by this run.
    pub fn committed(&self) -> Option<u64> {
        self.progress().committed
    }

    fn try_commit(&self, p: &mut Progress, t: u64) {
        let Some(pending) = p.pending.get(&t) else { return };
        if !self.plan.peers.commits() {
            return self.list_parts(p, t);
        }
        let complete = pending.parts.len() == self.parts_expected
            && pending.sinks.len() == self.plan.sinks.len()
            && pending.offsets.is_some();
        if !complete || p.committed.is_some_and(|c| c >= t) {
            return;
        }
        let others = match peers::read_lists(&self.plan.root, t, self.plan.peers.processes) {
            Ok(Some(others)) => others,
            Ok(None) => return,
            Err(e) => return self.shared.fail(format!("checkpoint of batch {t}: {e}")),
        };
        let mut pending = p.pending.remove(&t).expect("checked above");
        for record in others.parts {
            pending.parts.insert((record.stream.clone(), record.worker), record);
        }
        let mut manifest = self.plan.base.clone();
        manifest.time = t;
        for (_, stream, record) in p.swapped.iter().filter(|(from, ..)| *from <= t) {
            manifest.plugins.insert(stream.clone(), record.clone());
        }
        manifest.offsets = pending.offsets.unwrap_or_default();
        peers::merge_offsets(&mut manifest.offsets, &others.offsets);
        manifest.parts = pending.parts.into_values().collect();
        p.logged.retain(|&b| b > t);
        manifest.pending = p.logged.iter().copied().collect();
        let dir = checkpoint_dir(&self.plan.root, t);
        let written = std::fs::create_dir_all(&dir)
            .map_err(|source| CheckpointError::Io { path: dir.clone(), source })
            .and_then(|_| manifest.write(&dir))
            .and_then(|_| super::mark_committed(&self.plan.root, t));
        if let Err(e) = written {
            self.shared.fail(format!("checkpoint of batch {t}: {e}"));
            return;
        }
        tracing::debug!(batch_time = t, "checkpoint committed");
        let offsets = serde_json::to_value(&manifest.offsets).unwrap_or_default();
        let (duration_ms, bytes) =
            (pending.opened.elapsed().as_millis() as u64, manifest.parts.iter().map(|p| p.len).sum());
        self.events.emit(JobEvent::CheckpointCommitted { time: t, offsets, duration_ms, bytes });
        p.committed = Some(t);
        p.pending.retain(|&later, _| later > t);
        if let Err(e) = prune(&self.plan.root, t, self.plan.keep) {
            tracing::warn!("cannot prune old checkpoints: {e}");
        }
        p.kept.push_back((t, log_positions(&manifest.offsets)));
        while p.kept.len() > self.plan.keep {
            p.kept.pop_front();
        }
        self.prune_logs(p);
    }

    /// Another process than process 0: once its workers have written all their parts of batch `t` and
    /// its cutter has given its offsets, lists them for process 0.
    fn list_parts(&self, p: &mut Progress, t: u64) {
        let ready = |pending: &Pending| pending.parts.len() >= self.parts_expected && pending.offsets.is_some();
        if !p.pending.get(&t).is_some_and(ready) {
            return;
        }
        let pending = p.pending.remove(&t).expect("checked above");
        let listed = peers::Listed {
            parts: pending.parts.into_values().collect(),
            offsets: pending.offsets.unwrap_or_default(),
        };
        if let Err(e) = peers::write_list(&self.plan.root, t, self.plan.peers.process, &listed) {
            return self.shared.fail(format!("checkpoint of batch {t}: {e}"));
        }
        // This process's batch log is kept back to the oldest checkpoint process 0 keeps.
        let kept = super::committed(&self.plan.root).map(|c| c.into_iter().take(self.plan.keep).next_back());
        if let (Ok(Some((oldest, _))), Some(log)) = (kept, self.batches.get())
            && let Err(e) = log.prune(oldest)
        {
            tracing::warn!("cannot prune the batch log: {e}");
        }
    }

    /// Where this process keeps its batch log: in the checkpoint directory, or, for another process
    /// than process 0 (which cuts its own spread sources' batches), in its own folder there.
    fn log_root(&self) -> PathBuf {
        self.plan.peers.own_dir(&self.plan.root)
    }

    /// Deletes what no kept checkpoint needs: write-ahead log segments and logged batches.
    fn prune_logs(&self, p: &Progress) {
        let Some((oldest, _)) = p.kept.front() else { return };
        if let Err(e) = self.batches.get().map_or(Ok(()), |log| log.prune(*oldest)) {
            tracing::warn!("cannot prune the batch log: {e}");
        }
        let sources: BTreeSet<&String> = p.kept.iter().flat_map(|(_, logs)| logs.keys()).collect();
        for source in sources {
            let floor = p.kept.iter().map(|(_, l)| l.get(source).copied().unwrap_or(0)).min().unwrap_or(0);
            if let Err(e) = crate::receiver::wal::prune(&super::wal_dir(&self.plan.root, source), floor) {
                tracing::warn!(source = %source, "cannot prune the write-ahead log: {e}");
            }
        }
    }
}

/// How long process 0 waits at the end for the other processes' parts of the final checkpoint, and
/// another process for its own.
const FINAL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Removes committed checkpoints beyond the newest `keep`, and uncommitted ones older than `latest`.
pub fn prune(root: &Path, latest: u64, keep: usize) -> std::io::Result<()> {
    let mut committed = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let Some(t) = entry.file_name().to_str().and_then(checkpoint_time) else { continue };
        if entry.path().join("manifest.json").is_file() {
            committed.push((t, entry.path()));
        } else if t < latest {
            std::fs::remove_dir_all(entry.path())?;
        }
    }
    committed.sort_by_key(|c| std::cmp::Reverse(c.0));
    for (_, path) in committed.into_iter().skip(keep) {
        std::fs::remove_dir_all(path)?;
    }
    Ok(())
}
