//! `weir job submit|validate|list|status|stop|cancel|upgrade|state|logs|tail|watch`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;
use serde_json::json;

use super::{Conn, Failure, Output, jobs, runtime, spinner, table};
use weir::rpc::proto::{self, JobState};

/// `weir job` subcommands.
#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Submit a job spec to the server and start it (a stream's `plugin` names a pushed operator:
    /// `name@version`, `name` or `sha256:<digest>`).
    Submit {
        /// The job spec (TOML).
        spec: PathBuf,
        /// Discard the job's checkpoints from an earlier run and start from the beginning.
        #[arg(long)]
        start_over: bool,
        /// Resume even when some checkpointed state no longer fits the spec (it is dropped).
        #[arg(long)]
        allow_dropped_state: bool,
    },
    /// Check a job spec against the server (operators resolved) without starting it.
    Validate {
        /// The job spec (TOML).
        spec: PathBuf,
    },
    /// List the server's jobs.
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Show one job's status.
    Status {
        /// The job.
        job: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Stop a job at its next batch boundary, with a final checkpoint, and wait until it has stopped.
    Stop {
        /// The job.
        job: String,
        /// Process every record already received before stopping.
        #[arg(long)]
        drain: bool,
        /// Return at once instead of waiting.
        #[arg(long)]
        no_wait: bool,
    },
    /// Stop a job at its next batch boundary without a final checkpoint.
    Cancel {
        /// The job.
        job: String,
    },
    /// Swap a stream's plugin in a running job for a pushed operator, at the next batch boundary.
    Upgrade {
        /// The job.
        job: String,
        /// The stream whose plugin is swapped.
        stream: String,
        /// The new operator: `name@version`, `name` or `sha256:<digest>` (the running one, to swap only
        /// the model).
        operator: String,
        /// A model file (`weir model train`'s output) the new plugin runs with, in place of the stream's
        /// `model` file: swapping a model is a plugin swap at a batch boundary.
        #[arg(long, value_name = "FILE")]
        model: Option<std::path::PathBuf>,
    },
    /// Read a running job's keyed state as of its newest checkpoint: one key, a prefix or the top N.
    State {
        /// The job.
        job: String,
        /// The stateful stream.
        stream: String,
        /// Exactly this key.
        #[arg(long, conflicts_with_all = ["prefix", "top"])]
        key: Option<String>,
        /// Every key starting with this.
        #[arg(long, conflicts_with = "top")]
        prefix: Option<String>,
        /// The N keys with the largest numeric values.
        #[arg(long)]
        top: Option<u32>,
        /// The most entries to print.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Print a job's recent log lines, among them what its plugins printed.
    Logs {
        /// The job.
        job: String,
        /// Keep printing new lines until the job ends.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long)]
        tail: Option<u32>,
    },
    /// Print the records of a running job's source or stream as they pass, one JSON object per line
    /// (`{"time": …, "record": …}`), until the job ends or `--batches` batches were seen.
    Tail {
        /// The job.
        job: String,
        /// The source or stream.
        stream: String,
        /// Stop after this many batches.
        #[arg(long)]
        batches: Option<u64>,
    },
    /// Print a job's events as they happen, one JSON object per line, until it ends.
    Watch {
        /// The job.
        job: String,
    },
}

fn state_name(state: i32) -> &'static str {
    match JobState::try_from(state).unwrap_or(JobState::Unspecified) {
        JobState::Unspecified => "unknown",
        JobState::Starting => "starting",
        JobState::Running => "running",
        JobState::Stopping => "stopping",
        JobState::Finished => "finished",
        JobState::Failed => "failed",
        JobState::Restarting => "restarting",
    }
}

fn job_json(j: &proto::Job) -> serde_json::Value {
    let plugins: Vec<_> = j
        .plugins
        .iter()
        .map(|p| json!({"stream": p.stream, "operator": format!("{}@{}", p.name, p.version), "digest": p.digest}))
        .collect();
    json!({
        "job": j.job_id, "state": state_name(j.state), "batches": j.batches, "last_batch": j.last_batch,
        "last_completed": j.last_completed, "last_checkpoint": j.last_checkpoint, "dead_letters": j.dead_letters,
        "plugin_failures": j.plugin_failures, "last_error": j.last_error, "plugins": plugins,
        "restarts": j.restarts, "submitted_at_ms": j.submitted_at_ms, "records_in": j.records_in,
        "records_per_second": j.records_per_second, "last_processing_ms": j.last_processing_ms,
        "last_scheduling_delay_ms": j.last_scheduling_delay_ms,
    })
}

fn opt(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

fn print_jobs(jobs: &[proto::Job], output: Output) {
    match output {
        Output::Json => println!("{}", serde_json::Value::Array(jobs.iter().map(job_json).collect())),
        Output::Table => {
            let mut t = table(&["JOB", "STATE", "BATCHES", "LAST BATCH", "CHECKPOINT", "DEAD LETTERS", "PLUGINS"]);
            for j in jobs {
                let plugins: Vec<_> =
                    j.plugins.iter().map(|p| format!("{}={}@{}", p.stream, p.name, p.version)).collect();
                t.add_row(vec![
                    j.job_id.clone(),
                    state_name(j.state).to_string(),
                    j.batches.to_string(),
                    opt(j.last_batch),
                    opt(j.last_checkpoint),
                    j.dead_letters.to_string(),
                    plugins.join(" "),
                ]);
            }
            println!("{t}");
        }
    }
}

fn print_state(r: &proto::QueryStateResponse, output: Output) {
    let value = |e: &proto::StateEntry| serde_json::from_str(&e.value_json).unwrap_or(serde_json::Value::Null);
    match output {
        Output::Json => {
            let entries: Vec<_> =
                r.entries.iter().map(|e| json!({"key": e.key, "value": value(e), "last_seen": e.last_seen})).collect();
            println!("{}", json!({"as_of_batch": r.as_of_batch, "entries": entries, "truncated": r.truncated}));
        }
        Output::Table => {
            let mut t = table(&["KEY", "VALUE", "LAST SEEN"]);
            for e in &r.entries {
                t.add_row(vec![e.key.clone(), e.value_json.clone(), e.last_seen.to_string()]);
            }
            println!("{t}");
            let more = if r.truncated { " (more entries not shown: raise --limit)" } else { "" };
            println!("as of batch {}{more}", r.as_of_batch);
        }
    }
}

fn read(spec: &PathBuf) -> Result<String, Failure> {
    std::fs::read_to_string(spec).map_err(|e| Failure::new(2, format!("cannot read {}: {e}", spec.display())))
}

fn ended(state: i32) -> bool {
    matches!(JobState::try_from(state), Ok(JobState::Finished | JobState::Failed))
}

/// Runs a `weir job` subcommand.
pub fn run(conn: &Conn, cmd: JobCommand) -> Result<(), Failure> {
    runtime()?.block_on(async {
        let mut client = jobs(conn).await?;
        match cmd {
            JobCommand::Submit { spec, start_over, allow_dropped_state } => {
                let spec = read(&spec)?;
                let r =
                    client.submit(proto::SubmitRequest { spec, start_over, allow_dropped_state }).await?.into_inner();
                let how = if r.resumed { " (resuming from its checkpoint)" } else { "" };
                println!("submitted job {}{how}", r.job_id);
            }
            JobCommand::Validate { spec } => {
                let r = client.validate(proto::ValidateRequest { spec: read(&spec)? }).await?.into_inner();
                println!("job {} is valid", r.job_id);
                for p in r.plugins {
                    println!("  stream {}: {}@{} (sha256:{})", p.stream, p.name, p.version, p.digest);
                }
            }
            JobCommand::List { output } => {
                print_jobs(&client.list(proto::ListJobsRequest {}).await?.into_inner().jobs, output);
            }
            JobCommand::Status { job, output } => {
                let j = client.get(proto::GetJobRequest { job_id: job }).await?.into_inner();
                match output {
                    Output::Json => println!("{}", job_json(&j)),
                    Output::Table => {
                        print_jobs(std::slice::from_ref(&j), output);
                        let (last, delay) = (j.last_processing_ms, j.last_scheduling_delay_ms);
                        println!(
                            "{}",
                            weir::job::status_line(j.batches, j.records_per_second, last, delay, j.dead_letters)
                        );
                        if !j.last_error.is_empty() {
                            println!("last error: {}", j.last_error);
                        }
                    }
                }
            }
            JobCommand::Stop { job, drain, no_wait } => {
                client.stop(proto::StopJobRequest { job_id: job.clone(), drain }).await?;
                if no_wait {
                    println!("job {job} is stopping");
                    return Ok(());
                }
                let bar = spinner(format!("waiting for job {job} to {}", if drain { "drain" } else { "stop" }));
                let j = loop {
                    let j = client.get(proto::GetJobRequest { job_id: job.clone() }).await?.into_inner();
                    if ended(j.state) {
                        break j;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                };
                bar.finish_and_clear();
                println!("job {job} {} after {} batches", state_name(j.state), j.batches);
                if JobState::try_from(j.state) == Ok(JobState::Failed) {
                    return Err(Failure::new(1, format!("job {job} failed: {}", j.last_error)));
                }
            }
            JobCommand::Cancel { job } => {
                client.cancel(proto::CancelJobRequest { job_id: job.clone() }).await?;
                println!("job {job} cancelled");
            }
            JobCommand::Upgrade { job, stream, operator, model } => {
                let model = model.as_ref().map(read).transpose()?;
                let bar = spinner(format!("waiting for the next batch boundary of job {job}"));
                let req = proto::UpgradeRequest { job_id: job.clone(), stream: stream.clone(), operator, model };
                let r = client.upgrade(req).await;
                bar.finish_and_clear();
                let r = r?.into_inner();
                let p = r.plugin.unwrap_or_default();
                println!("job {job}: stream {stream} runs {}@{} from batch {}", p.name, p.version, r.from_batch);
            }
            JobCommand::State { job, stream, key, prefix, top, limit, output } => {
                use proto::query_state_request::Query;
                let query = key.map(Query::Key).or(prefix.map(Query::Prefix)).or(top.map(Query::Top));
                let req = proto::QueryStateRequest { job_id: job, stream, query, limit };
                let r = client.query_state(req).await?.into_inner();
                print_state(&r, output);
            }
            JobCommand::Logs { job, follow, tail } => {
                let req = proto::LogsRequest { job_id: job, follow, tail: tail.unwrap_or(0) };
                let mut lines = client.logs(req).await?.into_inner();
                while let Some(l) = lines.message().await? {
                    let time =
                        humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(l.time_ms));
                    match l.source.as_str() {
                        "host" => println!("{time} {:>5} {}", l.level, l.message),
                        source => println!("{time} {:>5} [{} {source}] {}", l.level, l.operator, l.message),
                    }
                }
            }
            JobCommand::Tail { job, stream, batches } => {
                let mut parts = client.tail(proto::TailRequest { job_id: job, stream }).await?.into_inner();
                let mut seen = std::collections::BTreeSet::new();
                while let Some(p) = parts.message().await? {
                    if batches.is_some_and(|n| !seen.contains(&p.time) && seen.len() as u64 >= n) {
                        break;
                    }
                    seen.insert(p.time);
                    if p.lost > 0 {
                        eprintln!("warning: {} parts lost: this client fell behind", p.lost);
                    }
                    for r in &p.records_json {
                        println!("{{\"time\":{},\"record\":{r}}}", p.time);
                    }
                    if p.omitted > 0 {
                        eprintln!("batch {} worker {}: {} more records not shown", p.time, p.worker, p.omitted);
                    }
                }
            }
            JobCommand::Watch { job } => {
                let mut events = client.watch(proto::WatchRequest { job_id: job }).await?.into_inner();
                while let Some(e) = events.message().await? {
                    println!("{}", super::server::event_json(&e));
                }
            }
        }
        Ok(())
    })
}
