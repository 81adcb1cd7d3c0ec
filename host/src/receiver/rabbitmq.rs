//! RabbitMQ source: one queue, consumed with manual acknowledgements that Weir sends (`multiple`) only
//! after a checkpoint holding the messages commits. A queue cannot be read again from an offset, so the
//! source's offset is how many messages the job has taken (partition 0 of the shared reader). After a
//! crash, the broker hands back every message not acknowledged — those after the last checkpoint —
//! first and in their order (a queue with this one consumer puts them back where they were), so the
//! batches logged after the checkpoint are cut again from the same messages by their counts.

use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Acker, Connection, ConnectionProperties};
use tokio_stream::StreamExt;

use super::Outbox;
use super::partitioned::{Ackers, Fetch, Message, Positions, Reader, positions, reporting, until_connected};
use super::source::{Commits, Source, SourceContext, SourceTask};

/// The source's settings, from its spec.
pub struct RabbitSource {
    pub url: String,
    pub queue: String,
    pub prefetch: u16,
}

impl Source for RabbitSource {
    fn run(self: Box<Self>, ctx: SourceContext, out: Outbox) -> SourceTask {
        Box::pin(async move {
            let name = ctx.name.clone();
            reporting(&name, &out, self.read(ctx, &out)).await;
        })
    }
}

impl RabbitSource {
    async fn read(self, mut ctx: SourceContext, out: &Outbox) -> Result<(), String> {
        let what = format!("RabbitMQ at {}", self.url);
        let connect = || Connection::connect(&self.url, ConnectionProperties::default());
        let Some(conn) = until_connected(&ctx.name, &what, out, connect).await else { return Ok(()) };
        let channel = conn.create_channel().await.map_err(|e| format!("channel: {e}"))?;
        let durable = QueueDeclareOptions { durable: true, ..Default::default() };
        channel
            .queue_declare(self.queue.as_str().into(), durable, FieldTable::default())
            .await
            .map_err(|e| format!("queue `{}`: {e}", self.queue))?;
        // Acknowledgements wait for checkpoints: the broker sends at most this many unacknowledged.
        channel.basic_qos(self.prefetch, BasicQosOptions::default()).await.map_err(|e| format!("qos: {e}"))?;
        let tag = format!("weir-{}-{}", ctx.job, ctx.name);
        let consumer = channel
            .basic_consume(
                self.queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("consume `{}`: {e}", self.queue))?;
        let taken = positions(&ctx.start).and_then(|p| p.get(&0).copied()).unwrap_or(0);
        tracing::info!(source = %ctx.name, queue = %self.queue, "consuming; {taken} messages taken before");
        let ackers = Ackers::<Acker>::default();
        let (acked, name, acking) = (ackers.clone(), ctx.name.clone(), channel.clone());
        ctx.acknowledge(|commits| ack_loop(acked, name, commits, acking));
        let fetch = RabbitFetch { consumer, next: taken, last: None, ackers, _conn: conn };
        Reader::new(fetch, Positions::from([(0, taken)]), out).run(&ctx.cuts, out).await;
        Ok(())
    }
}

/// Acknowledges, once a checkpoint commits, every message it holds (one `multiple` acknowledgement).
/// When the job ends the channel is closed: AMQP does not confirm acknowledgements, but the broker
/// answers a close only after the frames before it, so the last one is not lost when the process exits.
async fn ack_loop(ackers: Ackers<Acker>, name: String, mut commits: Commits, channel: lapin::Channel) {
    while let Some((time, offset)) = commits.next().await {
        let Some(next) = positions(&offset).and_then(|p| p.get(&0).copied()) else { continue };
        if let Some(acker) = ackers.newest_through(next)
            && let Err(e) = acker.ack(BasicAckOptions { multiple: true }).await
        {
            tracing::warn!(source = %name, batch_time = time, "cannot acknowledge: {e}");
        }
    }
    if let Err(e) = channel.close(200, "the job has ended".into()).await {
        tracing::warn!(source = %name, "closing the channel: {e}");
    }
}

/// Deliveries, numbered by how many the job has taken.
struct RabbitFetch {
    consumer: lapin::Consumer,
    next: i64,
    last: Option<(i64, Acker)>,
    ackers: Ackers<Acker>,
    /// Kept open while the source runs.
    _conn: Connection,
}

impl Fetch for RabbitFetch {
    async fn next(&mut self) -> Message {
        loop {
            match self.consumer.next().await {
                Some(Ok(d)) => {
                    let n = self.next;
                    self.next += 1;
                    self.last = Some((n, d.acker));
                    return (0, n, Some(d.data), None);
                }
                Some(Err(e)) => tracing::warn!("rabbitmq: {e}"),
                None => {
                    tracing::error!("rabbitmq: the consumer was cancelled or its connection closed");
                    std::future::pending::<()>().await;
                }
            }
        }
    }

    fn marked(&mut self, at: &Positions) {
        if let (Some((n, acker)), Some(next)) = (self.last.take(), at.get(&0))
            && n + 1 == *next
        {
            self.ackers.keep(*next, acker);
        }
    }
}
