//! `weir server health|info`.

use clap::Subcommand;
use serde_json::json;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::{Conn, Failure, channel, jobs, operators, runtime};
use weir::rpc::proto;

/// `weir server` subcommands.
#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Ask the server's standard gRPC health service whether it serves (no token needed).
    Health,
    /// Print the server's address, health and how many jobs and operators it holds.
    Info,
}

/// One stream's figures in a completed batch, with its plugin's calls when it has a plugin.
fn stream_json(f: &proto::StreamFigures) -> serde_json::Value {
    let mut v = json!({"in": f.records_in, "out": f.records_out, "busy_us": f.busy_us});
    if let Some(p) = &f.plugin {
        v["plugin"] = json!({
            "calls": p.calls, "busy_us": p.busy_us, "traps": p.traps, "deadline_hits": p.deadline_hits,
            "memory_cap_hits": p.memory_cap_hits, "memory_peak": p.memory_peak,
        });
    }
    v
}

/// A job event as one JSON object.
pub fn event_json(e: &proto::JobEvent) -> serde_json::Value {
    use proto::job_event::Event as E;
    let (kind, body) = match &e.event {
        Some(E::Started(s)) => ("started", json!({"first_time": s.first_time, "resumed_from": s.resumed_from})),
        Some(E::BatchCut(b)) => {
            ("batch_cut", json!({"time": b.time, "records": b.records, "queued": b.queued, "lag": b.lag}))
        }
        Some(E::BatchWritten(b)) => (
            "batch_written",
            json!({"sink": b.sink, "time": b.time, "records": b.records, "write_ms": b.write_ms, "queued": b.queued}),
        ),
        Some(E::BatchCompleted(b)) => (
            "batch_completed",
            json!({
                "time": b.time, "scheduling_delay_ms": b.scheduling_delay_ms, "processing_ms": b.processing_ms,
                "streams": b.streams.iter().map(|(s, f)| (s.clone(), stream_json(f))).collect::<serde_json::Map<_, _>>(),
                "watermark": b.watermark,
            }),
        ),
        Some(E::PluginFailed(p)) => {
            ("plugin_failed", json!({"stream": p.stream, "batch_time": p.batch_time, "reason": p.reason}))
        }
        Some(E::DeadLetter(d)) => {
            ("dead_letter", json!({"operator": d.operator, "batch_time": d.batch_time, "reason": d.reason}))
        }
        Some(E::PluginSwapped(p)) => (
            "plugin_swapped",
            json!({"stream": p.stream, "from_batch": p.from_batch, "version": p.version, "digest": p.digest}),
        ),
        Some(E::CheckpointCommitted(c)) => (
            "checkpoint_committed",
            json!({"time": c.time, "offsets": c.offsets_json, "duration_ms": c.duration_ms, "bytes": c.bytes}),
        ),
        Some(E::ScreenUpdated(s)) => (
            "screen_updated",
            json!({"sink": s.sink, "stream": s.stream, "time": s.time,
                   "rows": s.rows.iter().map(|r| json!([r.key, r.value])).collect::<Vec<_>>()}),
        ),
        Some(E::Stopping(s)) => ("stopping", json!({"how": s.how})),
        Some(E::Finished(f)) => (
            "finished",
            json!({"batches": f.batches, "failed_batches": f.failed_batches, "dead_letters": f.dead_letters}),
        ),
        Some(E::Failed(f)) => ("failed", json!({"error": f.error, "users_fault": f.users_fault})),
        None => ("unknown", json!({})),
    };
    json!({"job": e.job_id, "event": kind, "data": body})
}

async fn health(conn: &Conn) -> Result<&'static str, Failure> {
    let mut client = HealthClient::new(channel(conn).await?);
    let r = client.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await?.into_inner();
    Ok(match r.status() {
        ServingStatus::Serving => "serving",
        ServingStatus::NotServing => "not serving",
        _ => "unknown",
    })
}

/// Runs a `weir server` subcommand.
pub fn run(conn: &Conn, cmd: ServerCommand) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let status = health(conn).await?;
        match cmd {
            ServerCommand::Health => println!("{status}"),
            ServerCommand::Info => {
                let jobs = jobs(conn).await?.list(proto::ListJobsRequest {}).await?.into_inner().jobs;
                let ops = operators(conn).await?.list(proto::ListOperatorsRequest {}).await?.into_inner().operators;
                let running = jobs.iter().filter(|j| j.state == proto::JobState::Running as i32).count();
                println!(
                    "server: {}\nhealth: {status}\njobs: {} ({running} running)\noperators: {}\nclient: weir {}",
                    conn.server,
                    jobs.len(),
                    ops.len(),
                    env!("CARGO_PKG_VERSION")
                );
            }
        }
        if status != "serving" {
            return Err(Failure::new(1, format!("the server is {status}")));
        }
        Ok(())
    })
}
