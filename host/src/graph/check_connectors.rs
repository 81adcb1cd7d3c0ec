//! The checks of connector sources and sinks in a job spec: what each needs, and whether this build
//! has it (connectors are cargo features; a spec naming one the build lacks is refused at load).

use super::plan::{Checker, SpecError};
use super::spec::{SinkSpec, SourceSpec};

/// Checks connector source `name`.
pub(super) fn source(c: &Checker<'_>, name: &str, src: &SourceSpec) -> Result<(), SpecError> {
    match src {
        SourceSpec::Kafka { brokers, topic, .. } => check_kafka(c, "sources", name, brokers, topic),
        SourceSpec::Nats { stream, subject, .. } => check_nats(c, "sources", name, Some(stream), subject),
        SourceSpec::Redis { stream, .. } => check_redis(c, "sources", name, stream),
        SourceSpec::Rabbitmq { queue, prefetch, .. } => {
            if *prefetch == 0 {
                return Err(c.err("sources", name, "prefetch", "must be at least 1 (0 would be unbounded)"));
            }
            check_rabbitmq(c, "sources", name, queue)
        }
        _ => Ok(()),
    }
}

/// Checks connector sink `name`.
pub(super) fn sink(c: &Checker<'_>, name: &str, sink: &SinkSpec) -> Result<(), SpecError> {
    match sink {
        SinkSpec::Kafka { brokers, topic, .. } => check_kafka(c, "sinks", name, brokers, topic),
        SinkSpec::Nats { stream, subject, .. } => check_nats(c, "sinks", name, stream.as_deref(), subject),
        SinkSpec::Redis { stream, .. } => check_redis(c, "sinks", name, stream),
        SinkSpec::Rabbitmq { queue, .. } => check_rabbitmq(c, "sinks", name, queue),
        SinkSpec::Webhook { url, .. } => {
            if !cfg!(feature = "webhook") {
                return Err(c.err(
                    "sinks",
                    name,
                    "kind",
                    "this weir was built without webhooks (cargo feature `webhook`)",
                ));
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(c.err("sinks", name, "url", format!("`{url}`: write an http:// or https:// URL")));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A Kafka source or sink needs brokers and a topic, and a build that has the connector.
fn check_kafka(c: &Checker<'_>, section: &str, name: &str, brokers: &str, topic: &str) -> Result<(), SpecError> {
    if !cfg!(feature = "kafka") {
        return Err(c.err(section, name, "kind", "this weir was built without Kafka (cargo feature `kafka`)"));
    }
    if brokers.trim().is_empty() {
        return Err(c.err(section, name, "brokers", "name at least one broker, `host:port`"));
    }
    if topic.trim().is_empty() {
        return Err(c.err(section, name, "topic", "name the topic"));
    }
    Ok(())
}

/// A NATS source or sink needs a subject (and a source its stream), and a build that has the connector.
fn check_nats(
    c: &Checker<'_>,
    section: &str,
    name: &str,
    stream: Option<&str>,
    subject: &str,
) -> Result<(), SpecError> {
    if !cfg!(feature = "nats") {
        return Err(c.err(section, name, "kind", "this weir was built without NATS (cargo feature `nats`)"));
    }
    // JetStream stream names may not hold spaces, `.`, `*`, `>`, path separators or control characters.
    if let Some(s) = stream
        && (s.is_empty() || s.chars().any(|ch| ch.is_whitespace() || ".*>/\\".contains(ch)))
    {
        return Err(c.err(section, name, "stream", "a stream name: no spaces, `.`, `*`, `>` or slashes"));
    }
    if subject.trim().is_empty() || subject.contains(char::is_whitespace) {
        return Err(c.err(section, name, "subject", "name the subject, without spaces"));
    }
    Ok(())
}

/// A Redis source or sink needs a stream key, and a build that has the connector.
fn check_redis(c: &Checker<'_>, section: &str, name: &str, stream: &str) -> Result<(), SpecError> {
    if !cfg!(feature = "redis") {
        return Err(c.err(section, name, "kind", "this weir was built without Redis (cargo feature `redis`)"));
    }
    if stream.is_empty() {
        return Err(c.err(section, name, "stream", "name the stream's key"));
    }
    Ok(())
}

/// A RabbitMQ source or sink needs a queue, and a build that has the connector.
fn check_rabbitmq(c: &Checker<'_>, section: &str, name: &str, queue: &str) -> Result<(), SpecError> {
    if !cfg!(feature = "rabbitmq") {
        return Err(c.err(section, name, "kind", "this weir was built without RabbitMQ (cargo feature `rabbitmq`)"));
    }
    if queue.is_empty() || queue.len() > 255 {
        return Err(c.err(section, name, "queue", "name the queue (at most 255 bytes)"));
    }
    Ok(())
}
