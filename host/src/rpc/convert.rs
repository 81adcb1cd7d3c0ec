//! From the server's types to `weir.v1` messages, and from its errors to gRPC status codes.

use tonic::Status;

use super::proto;
use crate::event::JobEvent;
use crate::job::JobState;
use crate::registry::{Operator, RegistryError};
use crate::server::{JobView, ServerError};

/// Each error as its status code means it.
impl From<ServerError> for Status {
    fn from(e: ServerError) -> Status {
        let message = e.to_string();
        match e {
            ServerError::Spec(_) => Status::invalid_argument(message),
            ServerError::NotFound(_) => Status::not_found(message),
            ServerError::AlreadyExists(_) => Status::already_exists(message),
            ServerError::Precondition(_) => Status::failed_precondition(message),
            ServerError::Registry(r) => r.into(),
            ServerError::Job(j) if j.is_refused_spec() => Status::invalid_argument(message),
            ServerError::Job(_) | ServerError::Io { .. } => Status::internal(message),
        }
    }
}

impl From<RegistryError> for Status {
    fn from(e: RegistryError) -> Status {
        let message = e.to_string();
        match e {
            RegistryError::BadName(_) | RegistryError::Invalid(_) => Status::invalid_argument(message),
            RegistryError::NotFound(_) => Status::not_found(message),
            RegistryError::Exists { .. } => Status::already_exists(message),
            RegistryError::InUse { .. } => Status::failed_precondition(message),
            RegistryError::Io { .. } => Status::internal(message),
        }
    }
}

pub(super) fn operator(o: Operator) -> proto::Operator {
    proto::Operator {
        name: o.name,
        version: o.version,
        digest: o.digest,
        size: o.size,
        world: o.world,
        kind: o.kind,
        params: o.params,
        describes_as: o.describes_as,
        pushed_at_ms: o.pushed_at_ms,
    }
}

pub(super) fn plugin(stream: String, o: &Operator) -> proto::PluginVersion {
    proto::PluginVersion { stream, name: o.name.clone(), version: o.version.clone(), digest: o.digest.clone() }
}

fn state(s: JobState) -> proto::JobState {
    match s {
        JobState::Starting => proto::JobState::Starting,
        JobState::Running => proto::JobState::Running,
        JobState::Stopping => proto::JobState::Stopping,
        JobState::Finished => proto::JobState::Finished,
        JobState::Failed => proto::JobState::Failed,
    }
}

pub(super) fn job(v: JobView) -> proto::Job {
    let s = v.status;
    let rate = s.records_per_second(crate::registry::now_ms());
    let state = if v.restarting { proto::JobState::Restarting } else { state(s.state) };
    proto::Job {
        job_id: v.name,
        state: state.into(),
        batches: s.batches,
        last_batch: s.last_batch,
        last_completed: s.last_completed,
        last_checkpoint: s.last_checkpoint,
        dead_letters: s.dead_letters,
        plugin_failures: s.plugin_failures,
        last_error: s.error.unwrap_or_default(),
        plugins: v.plugins.into_iter().map(|p| plugin(p.stream, &p.operator)).collect(),
        restarts: v.restarts,
        submitted_at_ms: v.submitted_at_ms,
        records_in: s.records_in,
        records_per_second: rate,
        last_processing_ms: s.last_processing_ms,
        last_scheduling_delay_ms: s.last_scheduling_delay_ms,
    }
}

pub(super) fn event(job_id: &str, e: JobEvent) -> proto::JobEvent {
    use proto::job_event::Event as E;
    let event = match e {
        JobEvent::Started { first_time, resumed_from } => E::Started(proto::Started { first_time, resumed_from }),
        JobEvent::BatchCut { time, records, queued, lag } => E::BatchCut(proto::BatchCut {
            time,
            records: records.into_iter().collect(),
            queued,
            lag: lag.into_iter().collect(),
        }),
        JobEvent::BatchWritten { sink, time, records, write_ms, queued } => {
            E::BatchWritten(proto::BatchWritten { sink, time, records, write_ms, queued })
        }
        JobEvent::BatchCompleted { time, scheduling_delay_ms, processing_ms, streams, watermark } => {
            let streams = streams
                .into_iter()
                .map(|(s, f)| {
                    let plugin = f.plugin.map(|p| proto::PluginFigures {
                        calls: p.calls,
                        busy_us: p.busy_us,
                        traps: p.traps,
                        deadline_hits: p.deadline_hits,
                        memory_cap_hits: p.memory_cap_hits,
                        memory_peak: p.memory_peak,
                    });
                    let figures = proto::StreamFigures {
                        records_in: f.records_in,
                        records_out: f.records_out,
                        busy_us: f.busy_us,
                        plugin,
                    };
                    (s, figures)
                })
                .collect();
            E::BatchCompleted(proto::BatchCompleted { time, scheduling_delay_ms, processing_ms, streams, watermark })
        }
        JobEvent::PluginFailed { stream, batch_time, reason } => {
            E::PluginFailed(proto::PluginFailed { stream, batch_time, reason })
        }
        JobEvent::DeadLetter { operator, batch_time, reason } => {
            E::DeadLetter(proto::DeadLetter { operator, batch_time, reason })
        }
        JobEvent::PluginSwapped { stream, from_batch, version, hash } => {
            E::PluginSwapped(proto::PluginSwapped { stream, from_batch, version, digest: hash })
        }
        JobEvent::CheckpointCommitted { time, offsets, duration_ms, bytes } => {
            let offsets_json = offsets.to_string();
            E::CheckpointCommitted(proto::CheckpointCommitted { time, offsets_json, duration_ms, bytes })
        }
        JobEvent::Stopping { how } => E::Stopping(proto::Stopping { how: how.to_string() }),
        JobEvent::Finished { batches, failed_batches, dead_letters } => {
            E::Finished(proto::Finished { batches, failed_batches, dead_letters })
        }
        JobEvent::Failed { error, users_fault } => E::Failed(proto::Failed { error, users_fault }),
        JobEvent::ScreenUpdated { sink, stream, time, rows } => {
            let rows = rows.into_iter().map(|(key, value)| proto::ScreenRow { key, value }).collect();
            E::ScreenUpdated(proto::ScreenUpdated { sink, stream, time, rows })
        }
    };
    proto::JobEvent { job_id: job_id.to_string(), event: Some(event) }
}
