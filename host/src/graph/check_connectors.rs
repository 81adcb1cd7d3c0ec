//! The checks of sources and connector sinks in a job spec: what each needs, and whether this build
//! has it (connectors are cargo features; a spec naming one the build lacks is refused at load). A
//! refusal is the field at fault and why; `plan.rs` adds the section, name and line.

use std::path::Path;
use std::time::Duration;

use super::placement::Placement;
use super::spec::{BROKER_TIMESTAMP, ClockMode, LineFormat, SinkSpec, SourceSpec};

/// Why a live source (a socket or a broker) cannot run under the manual clock.
pub(super) const REALTIME_ONLY: &str = "a socket or broker source needs the realtime clock (`job.clock`)";

/// Why a connector's table is refused: the field at fault and the message.
pub(super) type Refusal = (&'static str, String);

fn refuse(field: &'static str, message: impl Into<String>) -> Result<(), Refusal> {
    Err((field, message.into()))
}

/// Checks source `name`, resolving its paths against `base` and its plugin through `placement`.
pub(super) fn source(
    src: &mut SourceSpec,
    clock: ClockMode,
    name: &str,
    base: &Path,
    placement: &Placement<'_>,
) -> Result<(), Refusal> {
    let is_kafka = matches!(src, SourceSpec::Kafka { .. });
    if let SourceSpec::Socket { format, columns, event_time, .. }
    | SourceSpec::Directory { format, columns, event_time, .. }
    | SourceSpec::Kafka { format, columns, event_time, .. }
    | SourceSpec::Nats { format, columns, event_time, .. }
    | SourceSpec::Redis { format, columns, event_time, .. }
    | SourceSpec::Rabbitmq { format, columns, event_time, .. }
    | SourceSpec::Mqtt { format, columns, event_time, .. } = src
    {
        if let Some(field) = event_time.as_deref().filter(|f| *f == BROKER_TIMESTAMP) {
            if !is_kafka {
                return refuse(
                    "event_time",
                    format!("`{field}` is a message's timestamp at the broker: only a `kafka` source has one"),
                );
            }
        } else if let Some(field) = event_time {
            if *format == LineFormat::Text {
                return refuse(
                    "event_time",
                    "names a field of `format = \"json\"` or `\"csv\"` lines; a text line has none",
                );
            }
            if field.split('.').any(str::is_empty) {
                return refuse("event_time", format!("`{field}`: name a field, `a.b` for a nested one"));
            }
            if *format == LineFormat::Csv && !columns.contains(field) {
                return refuse("event_time", format!("`{field}` is not one of the `columns`"));
            }
        }
        let csv = *format == LineFormat::Csv;
        if csv && columns.is_empty() {
            return refuse("columns", "a csv source needs `columns`: its fields' names, in order");
        }
        if !csv && !columns.is_empty() {
            return refuse("columns", "`columns` name the fields of `format = \"csv\"` lines");
        }
    }
    let manual = clock == ClockMode::Manual;
    match src {
        SourceSpec::Socket { .. }
        | SourceSpec::Kafka { .. }
        | SourceSpec::Nats { .. }
        | SourceSpec::Redis { .. }
        | SourceSpec::Rabbitmq { .. }
        | SourceSpec::Mqtt { .. }
            if manual =>
        {
            refuse("kind", REALTIME_ONLY)
        }
        SourceSpec::Kafka { brokers, topic, .. } => kafka(brokers, topic),
        SourceSpec::Nats { stream, subject, .. } => nats(Some(stream), subject),
        SourceSpec::Redis { stream, .. } => redis(stream),
        SourceSpec::Rabbitmq { prefetch: 0, .. } => refuse("prefetch", "must be at least 1 (0 would be unbounded)"),
        SourceSpec::Rabbitmq { queue, .. } => rabbitmq(queue),
        SourceSpec::Mqtt { topic, .. } => mqtt(topic, true),
        SourceSpec::Scripted { .. } if !manual => {
            refuse("kind", "a scripted source needs `clock = \"manual\"` in [job]")
        }
        SourceSpec::Directory { files_per_batch: 0, .. } => refuse("files_per_batch", "must be at least 1"),
        SourceSpec::Scripted { path, .. } | SourceSpec::Directory { path, .. } => {
            *path = base.join(&*path);
            match path.exists() {
                true => Ok(()),
                false => refuse("path", format!("{} does not exist", path.display())),
            }
        }
        SourceSpec::Generator { rate, vocabulary, zipf, words_per_line, prefix, .. } => {
            if *rate == 0 || *vocabulary == 0 || *words_per_line == 0 {
                refuse("rate", "rate, vocabulary and words_per_line must be above 0")
            } else if *zipf <= 0.0 || !zipf.is_finite() {
                refuse("zipf", "the Zipf exponent must be above 0")
            } else if prefix.chars().any(char::is_whitespace) {
                // A space or a newline would split every word, or every line, in two.
                refuse("prefix", "must hold no spaces or line breaks: it is part of every word")
            } else {
                Ok(())
            }
        }
        SourceSpec::Plugin { poll_records: 0, .. } => refuse("poll_records", "must be at least 1"),
        SourceSpec::Plugin { plugin, grants, deadline, .. } => {
            plugin_table(&format!("sources.{name}"), plugin, grants, deadline.0, base, placement)
        }
        SourceSpec::Socket { .. } => Ok(()),
    }
}

/// Checks a plugin source's or sink's component file (resolved in place) and grants.
fn plugin_table(
    key: &str,
    plugin: &mut std::path::PathBuf,
    grants: &super::grants::Grants,
    deadline: u64,
    base: &Path,
    placement: &Placement<'_>,
) -> Result<(), Refusal> {
    if deadline == 0 {
        return refuse("deadline", "must be above 0");
    }
    let written = plugin.to_string_lossy().into_owned();
    *plugin = placement.plugin(key, &written, base).map_err(|m| ("plugin", m))?;
    super::grants::check(grants, Duration::from_millis(deadline))
}

/// Checks a connector sink (other sinks pass), resolving a plugin sink's component through `placement`.
pub(super) fn sink(sink: &mut SinkSpec, name: &str, base: &Path, placement: &Placement<'_>) -> Result<(), Refusal> {
    match sink {
        SinkSpec::Kafka { brokers, topic, .. } => kafka(brokers, topic),
        SinkSpec::Nats { stream, subject, .. } => nats(stream.as_deref(), subject),
        SinkSpec::Redis { stream, .. } => redis(stream),
        SinkSpec::Rabbitmq { queue, .. } => rabbitmq(queue),
        SinkSpec::Mqtt { topic, .. } => mqtt(topic, false),
        SinkSpec::Webhook { .. } if !cfg!(feature = "webhook") => {
            refuse("kind", "this weir was built without webhooks (cargo feature `webhook`)")
        }
        SinkSpec::Webhook { url, .. } if !(url.starts_with("http://") || url.starts_with("https://")) => {
            refuse("url", format!("`{url}`: write an http:// or https:// URL"))
        }
        SinkSpec::Plugin { plugin, grants, deadline, .. } => {
            plugin_table(&format!("sinks.{name}"), plugin, grants, deadline.0, base, placement)
        }
        SinkSpec::Screen { top, .. } if !(1..=crate::sink::screen::MAX_TOP).contains(top) => {
            refuse("top", format!("{top}: show 1 to {} keys", crate::sink::screen::MAX_TOP))
        }
        _ => Ok(()),
    }
}

/// Kafka needs brokers and a topic.
fn kafka(brokers: &str, topic: &str) -> Result<(), Refusal> {
    if !cfg!(feature = "kafka") {
        return refuse("kind", "this weir was built without Kafka (cargo feature `kafka`)");
    }
    if brokers.trim().is_empty() {
        return refuse("brokers", "name at least one broker, `host:port`");
    }
    if topic.trim().is_empty() {
        return refuse("topic", "name the topic");
    }
    Ok(())
}

/// NATS needs a subject, and a source its stream.
fn nats(stream: Option<&str>, subject: &str) -> Result<(), Refusal> {
    if !cfg!(feature = "nats") {
        return refuse("kind", "this weir was built without NATS (cargo feature `nats`)");
    }
    // JetStream stream names may not hold spaces, `.`, `*`, `>`, path separators or control characters.
    if let Some(s) = stream
        && (s.is_empty() || s.chars().any(|ch| ch.is_whitespace() || ".*>/\\".contains(ch)))
    {
        return refuse("stream", "a stream name: no spaces, `.`, `*`, `>` or slashes");
    }
    if subject.trim().is_empty() || subject.contains(char::is_whitespace) {
        return refuse("subject", "name the subject, without spaces");
    }
    Ok(())
}

/// Redis needs a stream key.
fn redis(stream: &str) -> Result<(), Refusal> {
    if !cfg!(feature = "redis") {
        return refuse("kind", "this weir was built without Redis (cargo feature `redis`)");
    }
    if stream.is_empty() {
        return refuse("stream", "name the stream's key");
    }
    Ok(())
}

/// RabbitMQ needs a queue.
fn rabbitmq(queue: &str) -> Result<(), Refusal> {
    if !cfg!(feature = "rabbitmq") {
        return refuse("kind", "this weir was built without RabbitMQ (cargo feature `rabbitmq`)");
    }
    if queue.is_empty() || queue.len() > 255 {
        return refuse("queue", "name the queue (at most 255 bytes)");
    }
    Ok(())
}

/// MQTT needs a topic; only a source's may hold wildcards (`filter`).
fn mqtt(topic: &str, filter: bool) -> Result<(), Refusal> {
    if !cfg!(feature = "mqtt") {
        return refuse("kind", "this weir was built without MQTT (cargo feature `mqtt`)");
    }
    if topic.is_empty() || topic.len() > 65535 || topic.contains('\0') {
        return refuse("topic", "name the topic (at most 65535 bytes, no NUL)");
    }
    if !filter && topic.contains(['+', '#']) {
        return refuse("topic", format!("`{topic}`: a sink publishes to one topic; `+` and `#` only filter"));
    }
    let misplaced = |(i, level): (usize, &str)| {
        (level.contains('+') && level != "+")
            || (level.contains('#') && (level != "#" || i + 1 != topic.split('/').count()))
    };
    if topic.split('/').enumerate().any(misplaced) {
        return refuse("topic", format!("`{topic}`: `+` stands for a whole level, `#` for the last ones"));
    }
    Ok(())
}
