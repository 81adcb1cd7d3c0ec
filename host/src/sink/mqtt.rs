//! MQTT sink: each record's value (as text) is one QoS 1 message on the topic, `{key}` in the topic
//! standing for the record's key; a batch counts as written once the broker acknowledged every message.
//! The client resends what was not acknowledged when it reconnects to its session. With checkpoints the sink records
//! the last batch written whole ([`super::written`]) and skips it and the ones before when a resumed
//! job writes them again. MQTT keeps no ids: the batch being written at a crash is written again whole,
//! so the messages of it that were already sent appear twice (at-least-once for that batch).

use std::path::Path;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;
use weir_sdk::packed::{Batch, RecordRef};

use super::written::Record;
use super::{Sink, SinkError};
use crate::render;

/// How long a batch waits for the broker's acknowledgements before its write fails.
const CONFIRM_WITHIN: Duration = Duration::from_secs(30);

/// An MQTT topic written batch by batch.
pub struct MqttSink {
    name: String,
    topic: String,
    client: AsyncClient,
    /// One item per acknowledgement the broker sent.
    acked: mpsc::UnboundedReceiver<()>,
    events: tokio::task::JoinHandle<()>,
    written: Record,
    io: tokio::runtime::Handle,
}

impl MqttSink {
    /// A sink of job `job` named `name` publishing to `topic` on the broker at `host:port`; `state`:
    /// with checkpoints, where it records what it has written; `resume`: the job resumes.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        job: &str,
        name: &str,
        host: &str,
        port: u16,
        topic: &str,
        client_id: Option<&str>,
        resume: bool,
        state: Option<&Path>,
        io: &tokio::runtime::Handle,
    ) -> Result<MqttSink, SinkError> {
        let written =
            Record::open(state, resume).map_err(|message| SinkError::Broker { sink: name.into(), message })?;
        let id = client_id.map_or_else(|| format!("weir-{job}-{name}"), str::to_string);
        let mut options = MqttOptions::new(id, host, port);
        options.set_keep_alive(Duration::from_secs(30)).set_max_packet_size(1 << 16, 256 << 20);
        // A persistent session: after a reconnect the client sends again what was not acknowledged (a
        // new session drops it; the batch then fails after `CONFIRM_WITHIN`, and is written again).
        options.set_clean_session(false);
        let (client, mut events) = AsyncClient::new(options, 1024);
        let (tx, acked) = mpsc::unbounded_channel();
        let (sink, at) = (name.to_string(), format!("{host}:{port}"));
        // The event loop sends what the client queues, reconnects, and reports acknowledgements.
        let events = io.spawn(async move {
            let mut waiting = false;
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        if tx.send(()).is_err() {
                            return;
                        }
                    }
                    Ok(Event::Incoming(Packet::ConnAck(_))) => waiting = false,
                    Ok(_) => {}
                    Err(e) => {
                        if !waiting {
                            tracing::warn!(sink = %sink, "waiting for MQTT at {at}: {e}");
                            waiting = true;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(MqttSink { name: name.into(), topic: topic.into(), client, acked, events, written, io: io.clone() })
    }

    fn topic_of(&self, r: &RecordRef<'_>) -> String {
        match r.key {
            Some(k) if self.topic.contains("{key}") => self.topic.replace("{key}", &render::lossy(k)),
            _ => self.topic.clone(),
        }
    }
}

impl Drop for MqttSink {
    fn drop(&mut self) {
        self.events.abort();
    }
}

impl Sink for MqttSink {
    fn write_batch(&mut self, time: u64, records: &Batch, order: &[usize]) -> Result<(), SinkError> {
        if self.written.holds(time) {
            return Ok(());
        }
        let sent: Result<(), String> = self.io.clone().block_on(async {
            for &i in order {
                let r = records.get(i);
                let value = render::value_text(&r.value);
                let topic = self.topic_of(&r);
                self.client.publish(topic, QoS::AtLeastOnce, false, value).await.map_err(|e| e.to_string())?;
            }
            let mut confirmed = 0;
            while confirmed < order.len() {
                match tokio::time::timeout(CONFIRM_WITHIN, self.acked.recv()).await {
                    Ok(Some(())) => confirmed += 1,
                    Ok(None) => return Err("the connection's event loop ended".to_string()),
                    Err(_) => {
                        let n = order.len();
                        return Err(format!("the broker acknowledged {confirmed} of {n} messages in 30 s"));
                    }
                }
            }
            Ok(())
        });
        let err = |message: String| SinkError::Broker { sink: self.name.clone(), message };
        sent.map_err(|e| err(format!("batch {time}: {e}")))?;
        self.written.done(time, Default::default()).map_err(err)
    }

    fn refuses(&self, record: &RecordRef<'_>) -> Option<String> {
        if !self.topic.contains("{key}") {
            return None;
        }
        match record.key {
            None => Some(format!("the topic `{}` names `{{key}}` and the record has no key", self.topic)),
            Some(k) if render::lossy(k).contains(['+', '#', '\0']) => {
                Some("the key holds `+`, `#` or NUL, which a topic may not".into())
            }
            Some(_) => None,
        }
    }
}
