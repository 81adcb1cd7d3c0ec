//! NATS JetStream sink: each record's value (as text) is one message on the subject, its key in the
//! `weir-key` header, and every message carries the message id `job/sink/batch/place`. A batch counts
//! as written once JetStream acknowledged every message; a batch written again after a crash is
//! dropped message by message by the stream's duplicate window (two minutes unless the stream sets
//! another): exactly once when the job is back within it, else the messages of the batches after the
//! checkpoint may appear twice (see docs/CONNECTORS.md). A batch that fails (the server restarting, an
//! acknowledgement that never came) is published again whole, with the same ids, for as long as
//! `retry::PATIENCE` allows.

use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage, stream};
use weir_sdk::packed::Batch;

use super::retry::patiently;
use super::{Sink, SinkError};
use crate::render;

/// A JetStream subject written batch by batch.
pub struct NatsSink {
    name: String,
    url: String,
    id: String,
    subject: String,
    js: jetstream::Context,
    io: tokio::runtime::Handle,
}

impl NatsSink {
    /// A sink of job `job` named `name`, publishing to `subject` on `url`; `stream`: the stream to
    /// create for the subject when it is missing.
    pub fn new(
        job: &str,
        name: &str,
        url: &str,
        subject: &str,
        stream: Option<&str>,
        io: &tokio::runtime::Handle,
    ) -> Result<NatsSink, SinkError> {
        let err = |message: String| SinkError::Broker { sink: name.into(), message };
        let js = io.block_on(async {
            let who = format!("sink `{name}`");
            let client = crate::nats::connect(url, &who).await.map_err(|e| err(format!("cannot reach {url}: {e}")))?;
            let js = jetstream::new(client);
            if let Some(s) = stream {
                let config = stream::Config { name: s.into(), subjects: vec![subject.into()], ..Default::default() };
                js.get_or_create_stream(config).await.map_err(|e| err(format!("stream `{s}`: {e}")))?;
            }
            Ok::<_, SinkError>(js)
        })?;
        let (name, url, subject, io) = (name.into(), url.into(), subject.into(), io.clone());
        Ok(NatsSink { id: format!("{job}/{name}"), name, url, subject, js, io })
    }
}

impl Sink for NatsSink {
    fn write_batch(&mut self, time: u64, records: &Batch, order: &[usize]) -> Result<(), SinkError> {
        let server = format!("NATS at {}", self.url);
        let unreachable = |message| SinkError::Unreachable { sink: self.name.clone(), server: server.clone(), message };
        patiently(1, || self.publish(time, records, order).map_err(|e| unreachable(format!("batch {time}: {e}"))))
    }
}

impl NatsSink {
    /// Publishes the batch and waits for every acknowledgement.
    fn publish(&self, time: u64, records: &Batch, order: &[usize]) -> Result<(), String> {
        let js = self.js.clone();
        self.io.block_on(async {
            // Every message goes out before any acknowledgement is awaited.
            let mut acks: Vec<PublishAckFuture> = Vec::with_capacity(order.len());
            for (seq, &i) in order.iter().enumerate() {
                let r = records.get(i);
                let mut m = PublishMessage::build()
                    .payload(render::value_text(&r.value).into())
                    .message_id(format!("{}/{time}/{seq}", self.id));
                if let Some(k) = r.key {
                    m = m.header("weir-key", render::lossy(k).as_ref());
                }
                acks.push(js.send_publish(self.subject.clone(), m).await.map_err(|e| e.to_string())?);
            }
            for ack in acks {
                ack.await.map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    }
}
