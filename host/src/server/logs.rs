//! Each job's recent log lines, for `weir serve`'s Logs call: a tracing layer the binary installs keeps
//! every event inside a job's span (`job{job=NAME}`, entered by all of a job's threads) or carrying a
//! `job` field (a plugin's captured stdout and stderr), the last [`KEEP`] per job, and tells followers.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Lines kept per job.
pub const KEEP: usize = 2000;

/// One log line of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When (ms since the Unix epoch).
    pub time_ms: u64,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub level: String,
    /// `host`, or `stdout` / `stderr` for what a plugin printed.
    pub source: String,
    /// The stream whose plugin printed it, for plugin output.
    pub operator: String,
    /// The message, with the event's other fields after it.
    pub message: String,
}

#[derive(Default)]
struct JobLog {
    lines: VecDeque<LogLine>,
    followers: Option<broadcast::Sender<LogLine>>,
}

/// The jobs' recent log lines; clones share them.
#[derive(Clone, Default)]
pub struct JobLogs {
    jobs: Arc<Mutex<HashMap<String, JobLog>>>,
}

impl JobLogs {
    /// The last `tail` lines kept of `job` (all kept when `None`), and a receiver of the lines after them.
    pub fn follow(&self, job: &str, tail: Option<usize>) -> (Vec<LogLine>, broadcast::Receiver<LogLine>) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let log = jobs.entry(job.to_string()).or_default();
        let skip = tail.map_or(0, |t| log.lines.len().saturating_sub(t));
        let rx = log.followers.get_or_insert_with(|| broadcast::channel(256).0).subscribe();
        (log.lines.iter().skip(skip).cloned().collect(), rx)
    }

    fn push(&self, job: String, line: LogLine) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let log = jobs.entry(job).or_default();
        if log.lines.len() == KEEP {
            log.lines.pop_front();
        }
        if let Some(tx) = &log.followers {
            let _ = tx.send(line.clone());
        }
        log.lines.push_back(line);
    }
}

/// The job name a span carries.
struct JobName(String);

#[derive(Default)]
struct Fields {
    job: Option<String>,
    operator: Option<String>,
    stream: Option<String>,
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "job" => self.job = Some(value.to_string()),
            "operator" => self.operator = Some(value.to_string()),
            "stream" => self.stream = Some(value.to_string()),
            "message" => self.message = value.to_string(),
            name => {
                let _ = write!(self.rest, " {name}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for JobLogs {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let (Some(job), Some(span)) = (fields.job, ctx.span(id)) {
            span.extensions_mut().insert(JobName(job));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let from_span =
            || ctx.event_scope(event)?.from_root().find_map(|s| s.extensions().get::<JobName>().map(|j| j.0.clone()));
        let Some(job) = f.job.clone().or_else(from_span) else { return };
        let plugin = f.operator.is_some() && matches!(f.stream.as_deref(), Some("stdout" | "stderr"));
        let source = if plugin { f.stream.clone().unwrap_or_default() } else { "host".to_string() };
        let mut message = f.message;
        if !plugin {
            message.push_str(&f.rest);
            if let Some(s) = &f.stream {
                let _ = write!(message, " stream={s}");
            }
        }
        let line = LogLine {
            time_ms: crate::registry::now_ms(),
            level: event.metadata().level().to_string(),
            source,
            operator: f.operator.unwrap_or_default(),
            message,
        };
        self.push(job, line);
    }
}
