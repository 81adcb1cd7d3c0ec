//! RabbitMQ sink: each record is one persistent message on a durable queue (through the default
//! exchange), its value as text and its key in the `weir-key` header, with the message id
//! `job/sink/batch/place`; a batch counts as written once the broker confirmed every message. With
//! checkpoints the sink records the last batch written whole ([`super::written`]) and skips it and the
//! ones before when a resumed job writes them again. RabbitMQ keeps no ids: the batch being written at
//! a crash is written again whole, so the messages of it that were already sent appear twice
//! (at-least-once for that batch; consumers can drop them by message id).

use std::path::Path;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use weir_sdk::packed::Batch;

use super::written::Record;
use super::{Sink, SinkError};
use crate::render;

/// A RabbitMQ queue written batch by batch.
pub struct RabbitSink {
    name: String,
    id: String,
    queue: String,
    channel: Channel,
    _conn: Connection,
    written: Record,
    io: tokio::runtime::Handle,
}

impl RabbitSink {
    /// A sink of job `job` named `name` writing to `queue` on `url`; `state`: with checkpoints, where
    /// it records what it has written; `resume`: the job resumes.
    pub fn new(
        job: &str,
        name: &str,
        url: &str,
        queue: &str,
        resume: bool,
        state: Option<&Path>,
        io: &tokio::runtime::Handle,
    ) -> Result<RabbitSink, SinkError> {
        let err = |message: String| SinkError::Broker { sink: name.into(), message };
        let written = Record::open(state, resume).map_err(err)?;
        let (conn, channel) = io.block_on(async {
            let conn = Connection::connect(url, ConnectionProperties::default())
                .await
                .map_err(|e| err(format!("cannot reach {url}: {e}")))?;
            let channel = conn.create_channel().await.map_err(|e| err(format!("channel: {e}")))?;
            let durable = QueueDeclareOptions { durable: true, ..Default::default() };
            channel
                .queue_declare(queue.into(), durable, FieldTable::default())
                .await
                .map_err(|e| err(format!("queue `{queue}`: {e}")))?;
            channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(|e| err(format!("confirms: {e}")))?;
            Ok::<_, SinkError>((conn, channel))
        })?;
        Ok(RabbitSink {
            name: name.into(),
            id: format!("{job}/{name}"),
            queue: queue.into(),
            channel,
            _conn: conn,
            written,
            io: io.clone(),
        })
    }
}

impl Sink for RabbitSink {
    fn write_batch(&mut self, time: u64, records: &Batch, order: &[usize]) -> Result<(), SinkError> {
        if self.written.holds(time) {
            return Ok(());
        }
        let sent: Result<(), String> = self.io.block_on(async {
            for (seq, &i) in order.iter().enumerate() {
                let r = records.get(i);
                let mut props = BasicProperties::default()
                    .with_message_id(format!("{}/{time}/{seq}", self.id).into())
                    .with_delivery_mode(2);
                if let Some(k) = r.key {
                    let mut headers = FieldTable::default();
                    headers.insert("weir-key".into(), AMQPValue::LongString(render::lossy(k).as_ref().into()));
                    props = props.with_headers(headers);
                }
                let value = render::value_text(&r.value);
                let options = BasicPublishOptions::default();
                self.channel
                    .basic_publish("".into(), self.queue.as_str().into(), options, value.as_bytes(), props)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            let returned = self.channel.wait_for_confirms().await.map_err(|e| e.to_string())?;
            if returned.is_empty() { Ok(()) } else { Err(format!("{} messages were not accepted", returned.len())) }
        });
        sent.map_err(|e| SinkError::Broker { sink: self.name.clone(), message: format!("batch {time}: {e}") })?;
        let done = self.written.done(time, Default::default());
        done.map_err(|message| SinkError::Broker { sink: self.name.clone(), message })
    }
}
