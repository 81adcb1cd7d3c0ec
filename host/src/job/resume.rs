//! Resuming a job: the checkpoint it resumes from, the batches it cuts again from the batch log, and
//! the checkpoint coordinator of the run.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::JobError;
use crate::batcher::Shared;
use crate::checkpoint::{
    BatchLog, CheckpointError, CheckpointPlan, Checkpointer, Manifest, Peers, PluginRecord, Restored, SourceOffset,
};
use crate::event::Events;
use crate::graph::Plan;
use crate::graph::spec::ClockMode;
use crate::operator::keyed_state::owned_groups;
use crate::state::{KeyedPart, StateDb};

/// Checks the checkpoint to resume from fits `plan` run by `peers`, and loads into `state` the keyed
/// state of the key groups this process's workers own (whatever the number of workers and processes
/// that wrote it). Returns the checkpoint's manifest and the window parts the operators take back.
pub(super) fn resume(
    plan: &Plan,
    restored: Option<Restored>,
    state: Option<&StateDb>,
    allow_dropped: bool,
    peers: Peers,
) -> Result<Option<Resumed>, JobError> {
    let Some(restored) = restored else { return Ok(None) };
    let all = plan.workers * peers.processes;
    let dropped = crate::checkpoint::check(plan, &restored.manifest, all, allow_dropped)?;
    let mut owned = [false; 256];
    for worker in peers.process * plan.workers..(peers.process + 1) * plan.workers {
        owned_groups(worker, all).for_each(|g| owned[usize::from(g)] = true);
    }
    let m = &restored.manifest;
    tracing::info!(batch_time = m.time, dir = %restored.dir.display(), "resuming from the checkpoint");
    let mut windows = HashMap::new();
    let mut keyed: BTreeMap<String, Vec<KeyedPart>> = BTreeMap::new();
    for ((stream, worker), payload) in restored.parts {
        match m.state.get(&stream) {
            _ if dropped.contains(&stream) => {}
            Some(shape) if shape.starts_with("keyed") => {
                let mut part: KeyedPart = postcard::from_bytes(&payload).map_err(|e| CheckpointError::Decode {
                    stream: stream.clone(),
                    worker,
                    reason: e.to_string(),
                })?;
                // Both kinds of entry start with their key group.
                let ours = |k: &[u8]| k.first().is_some_and(|g| owned[usize::from(*g)]);
                part.entries.retain(|(k, _)| ours(k));
                part.timeouts.retain(|k| ours(k));
                keyed.entry(stream).or_default().push(part);
            }
            _ => {
                windows.insert((stream, worker), payload);
            }
        }
    }
    if let Some(db) = state {
        for (stream, parts) in keyed {
            db.restore(&stream, parts)?;
        }
    }
    Ok(Some(Resumed { time: m.time, offsets: m.offsets.clone(), windows }))
}

/// What a job resumes from.
pub(super) struct Resumed {
    pub(super) time: u64,
    pub(super) offsets: BTreeMap<String, SourceOffset>,
    pub(super) windows: HashMap<(String, usize), Vec<u8>>,
}

/// Realtime clock: the batches this process's batch log holds after batch `after` (the checkpoint
/// resumed from, 0 for none, where the sources were at `base`), each with every source's offset by the
/// plan's source order, to be cut again. `pending`: the batches the checkpoint says process 0 had
/// already cut, which its log must hold (another process may not have had their close yet: then none
/// of their output was written, and it cuts them afresh).
pub(super) fn recut_batches(
    plan: &Plan,
    peers: Peers,
    after: u64,
    base: &BTreeMap<String, SourceOffset>,
    pending: &[u64],
) -> Result<Vec<(u64, Vec<SourceOffset>)>, JobError> {
    let Some(ck) = plan.checkpoint.as_ref().filter(|_| plan.clock == ClockMode::Realtime) else {
        return Ok(Vec::new());
    };
    let pending = if peers.commits() { pending } else { &[] };
    let logged = BatchLog::new(&peers.own_dir(&ck.dir))
        .after(after, base, pending)
        .map_err(|e| CheckpointError::Refused { root: ck.dir.clone(), reason: e.to_string() })?;
    if let Some(last) = logged.last() {
        tracing::info!(batches = logged.len(), last = last.time, "cutting the batches logged before the stop again");
    }
    let cuts = logged.into_iter().filter(|b| b.time.is_multiple_of(plan.interval)).map(|b| {
        let offsets = plan.sources.iter().map(|(n, _)| b.offsets.get(n).cloned().unwrap_or_default()).collect();
        (b.time, offsets)
    });
    Ok(cuts.collect())
}

/// The checkpoint coordinator of `plan` in this process of `peers`, if it checkpoints.
pub(super) fn checkpointer(
    plan: &Plan,
    peers: Peers,
    records: BTreeMap<String, PluginRecord>,
    sinks: &HashMap<String, Box<dyn crate::sink::Sink>>,
    shared: &Arc<Shared>,
    events: &Events,
    windows: HashMap<(String, usize), Vec<u8>>,
) -> Result<Option<Arc<Checkpointer>>, JobError> {
    let Some(ck) = &plan.checkpoint else { return Ok(None) };
    let base = Manifest {
        format: crate::checkpoint::manifest_format(),
        job: plan.name.clone(),
        time: 0,
        interval: plan.interval,
        workers: plan.workers * peers.processes,
        spec: plan.text.clone(),
        plugins: records,
        state: crate::checkpoint::shapes(plan),
        keys: crate::checkpoint::keys(plan),
        offsets: BTreeMap::new(),
        parts: Vec::new(),
        pending: Vec::new(),
    };
    let cp = CheckpointPlan {
        root: ck.dir.clone(),
        period: ck.every * plan.interval,
        keep: ck.keep,
        base,
        sinks: sinks.keys().cloned().collect(),
        peers,
    };
    let ckpt = Arc::new(Checkpointer::new(cp, shared.clone(), events.clone(), windows)?);
    ckpt.start();
    Ok(Some(ckpt))
}
