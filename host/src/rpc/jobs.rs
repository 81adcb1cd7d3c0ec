//! `weir.v1.JobService` over the server's jobs.

use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::convert;
use super::proto::{self, job_service_server::JobService};
use crate::event::JobEvent;
use crate::job::{JobState, StopRequest};
use crate::server::{JobLogs, LogLine, Server, StateQuery, SubmitOptions};

pub(super) struct JobApi {
    pub(super) server: Arc<Server>,
    pub(super) logs: JobLogs,
}

/// How often a followed log checks whether its job has ended.
const FOLLOW_CHECK: std::time::Duration = std::time::Duration::from_millis(250);

fn log_line(l: LogLine) -> proto::LogLine {
    proto::LogLine { time_ms: l.time_ms, level: l.level, source: l.source, operator: l.operator, message: l.message }
}

/// Runs blocking server work (starting threads, waiting for a batch boundary) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, crate::server::ServerError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(work).await.map_err(|e| Status::internal(e.to_string()))?.map_err(Status::from)
}

type EventStream = Pin<Box<dyn Stream<Item = Result<proto::JobEvent, Status>> + Send>>;
type LogStream = Pin<Box<dyn Stream<Item = Result<proto::LogLine, Status>> + Send>>;
type TailStream = Pin<Box<dyn Stream<Item = Result<proto::TailBatch, Status>> + Send>>;

#[tonic::async_trait]
impl JobService for JobApi {
    async fn submit(&self, request: Request<proto::SubmitRequest>) -> Result<Response<proto::SubmitResponse>, Status> {
        let r = request.into_inner();
        let server = self.server.clone();
        let opts = SubmitOptions { start_over: r.start_over, allow_dropped_state: r.allow_dropped_state };
        let done = blocking(move || server.submit(&r.spec, opts)).await?;
        Ok(Response::new(proto::SubmitResponse { job_id: done.job_id, resumed: done.resumed }))
    }

    async fn validate(
        &self,
        request: Request<proto::ValidateRequest>,
    ) -> Result<Response<proto::ValidateResponse>, Status> {
        let (job_id, ops) = self.server.validate(&request.into_inner().spec)?;
        let plugins = ops.iter().map(|(s, o)| convert::plugin(s.clone(), o)).collect();
        Ok(Response::new(proto::ValidateResponse { job_id, plugins }))
    }

    async fn list(&self, _: Request<proto::ListJobsRequest>) -> Result<Response<proto::ListJobsResponse>, Status> {
        let jobs = self.server.list().into_iter().map(convert::job).collect();
        Ok(Response::new(proto::ListJobsResponse { jobs }))
    }

    async fn get(&self, request: Request<proto::GetJobRequest>) -> Result<Response<proto::Job>, Status> {
        Ok(Response::new(convert::job(self.server.status(&request.into_inner().job_id)?)))
    }

    async fn stop(&self, request: Request<proto::StopJobRequest>) -> Result<Response<proto::Job>, Status> {
        let r = request.into_inner();
        let how = if r.drain { StopRequest::Drain } else { StopRequest::AtBoundary };
        Ok(Response::new(convert::job(self.server.stop(&r.job_id, how)?)))
    }

    async fn cancel(&self, request: Request<proto::CancelJobRequest>) -> Result<Response<proto::Job>, Status> {
        Ok(Response::new(convert::job(self.server.stop(&request.into_inner().job_id, StopRequest::Cancel)?)))
    }

    async fn upgrade(
        &self,
        request: Request<proto::UpgradeRequest>,
    ) -> Result<Response<proto::UpgradeResponse>, Status> {
        let r = request.into_inner();
        let server = self.server.clone();
        let stream = r.stream.clone();
        let model = r.model.map(std::sync::Arc::<str>::from);
        let (from_batch, op) = blocking(move || server.upgrade(&r.job_id, &r.stream, &r.operator, model)).await?;
        Ok(Response::new(proto::UpgradeResponse { from_batch, plugin: Some(convert::plugin(stream, &op)) }))
    }

    async fn query_state(
        &self,
        request: Request<proto::QueryStateRequest>,
    ) -> Result<Response<proto::QueryStateResponse>, Status> {
        use proto::query_state_request::Query;
        let r = request.into_inner();
        let query = match r.query {
            Some(Query::Key(k)) => StateQuery::Key(k),
            Some(Query::Prefix(p)) => StateQuery::Prefix(p),
            Some(Query::Top(n)) => StateQuery::Top(n as usize),
            None => StateQuery::Prefix(String::new()),
        };
        let limit = if r.limit == 0 { 1000 } else { r.limit as usize };
        let server = self.server.clone();
        let answer = blocking(move || server.query_state(&r.job_id, &r.stream, &query, limit)).await?;
        let entries = answer
            .entries
            .into_iter()
            .map(|e| proto::StateEntry { key: e.key, value_json: e.value.to_string(), last_seen: e.last_seen })
            .collect();
        Ok(Response::new(proto::QueryStateResponse { as_of_batch: answer.as_of, entries, truncated: answer.truncated }))
    }

    type LogsStream = LogStream;

    async fn logs(&self, request: Request<proto::LogsRequest>) -> Result<Response<LogStream>, Status> {
        let r = request.into_inner();
        self.server.status(&r.job_id)?;
        let (kept, mut new) = self.logs.follow(&r.job_id, (r.tail > 0).then_some(r.tail as usize));
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let server = self.server.clone();
        tokio::spawn(async move {
            for line in kept {
                if tx.send(Ok(log_line(line))).await.is_err() {
                    return;
                }
            }
            if !r.follow {
                return;
            }
            let mut check = tokio::time::interval(FOLLOW_CHECK);
            loop {
                tokio::select! {
                    line = new.recv() => match line {
                        Ok(line) => if tx.send(Ok(log_line(line))).await.is_err() { return },
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return,
                    },
                    _ = check.tick() => if !server.is_active(&r.job_id) {
                        // The job's last lines come before its end is seen.
                        while let Ok(line) = new.try_recv() {
                            let _ = tx.send(Ok(log_line(line))).await;
                        }
                        return;
                    },
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    type TailStream = TailStream;

    async fn tail(&self, request: Request<proto::TailRequest>) -> Result<Response<TailStream>, Status> {
        let r = request.into_inner();
        let mut parts = self.server.tap(&r.job_id, &r.stream)?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let server = self.server.clone();
        tokio::spawn(async move {
            let mut check = tokio::time::interval(FOLLOW_CHECK);
            let mut lost = 0;
            loop {
                tokio::select! {
                    part = parts.recv() => match part {
                        Ok(p) => {
                            let records_json = p.records.iter().map(|r| r.to_string()).collect();
                            let batch = proto::TailBatch {
                                time: p.time, worker: p.worker as u32, records_json, omitted: p.omitted as u64, lost,
                            };
                            lost = 0;
                            if tx.send(Ok(batch)).await.is_err() { return }
                        }
                        Err(RecvError::Lagged(n)) => lost += n,
                        Err(RecvError::Closed) => return,
                    },
                    _ = check.tick() => if !server.is_active(&r.job_id) { return },
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    type WatchStream = EventStream;

    async fn watch(&self, request: Request<proto::WatchRequest>) -> Result<Response<EventStream>, Status> {
        let job_id = request.into_inner().job_id;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        match self.server.subscribe(&job_id)? {
            Some(mut events) => {
                let server = self.server.clone();
                tokio::spawn(async move {
                    let mut check = tokio::time::interval(FOLLOW_CHECK);
                    loop {
                        let event = tokio::select! {
                            e = events.recv() => match e {
                                Ok(e) => e,
                                Err(RecvError::Lagged(_)) => continue,
                                Err(RecvError::Closed) => break,
                            },
                            // Subscribed after the job's last event: end with the job.
                            _ = check.tick() => if server.is_active(&job_id) { continue } else { break },
                        };
                        let last = matches!(event, JobEvent::Finished { .. } | JobEvent::Failed { .. });
                        if tx.send(Ok(convert::event(&job_id, event))).await.is_err() || last {
                            break;
                        }
                    }
                });
            }
            None => {
                // An ended job: its end, as its status tells it.
                let s = self.server.status(&job_id)?.status;
                let end = match s.state {
                    JobState::Failed => JobEvent::Failed { error: s.error.unwrap_or_default(), users_fault: false },
                    _ => JobEvent::Finished { batches: s.batches, failed_batches: 0, dead_letters: s.dead_letters },
                };
                let _ = tx.send(Ok(convert::event(&job_id, end))).await;
            }
        }
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }
}
