//! NATS JetStream source: a stream's messages in sequence, through a durable pull consumer that Weir
//! sets to start where the job resumes (its checkpointed stream sequence), so the stream sequence is the
//! source's offset (partition 0 of the shared reader). Messages are acknowledged with `AckPolicy::All`
//! only after a checkpoint holding them commits: the consumer's ack floor is Weir's last checkpoint.
//! A first start takes the durable consumer's ack floor when it exists, else `start`.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::message::Acker;
use async_nats::jetstream::{self, stream};
use tokio_stream::StreamExt;

use super::Outbox;
use super::partitioned::{Ackers, Fetch, Message, Positions, Reader, positions, reporting, until_connected};
use super::source::{Commits, Source, SourceContext, SourceTask};
use crate::graph::spec::StartAt;

/// Messages delivered and not yet acknowledged are redelivered after this: longer than any checkpoint
/// interval (a redelivered message already taken is skipped by its sequence).
const ACK_WAIT: Duration = Duration::from_secs(600);

/// The source's settings, from its spec.
pub struct NatsSource {
    pub url: String,
    pub stream: String,
    pub subject: String,
    pub consumer: Option<String>,
    pub start: StartAt,
}

impl Source for NatsSource {
    fn run(self: Box<Self>, ctx: SourceContext, out: Outbox) -> SourceTask {
        Box::pin(async move {
            let name = ctx.name.clone();
            reporting(&name, &out, self.read(ctx, &out)).await;
        })
    }
}

impl NatsSource {
    async fn read(self, mut ctx: SourceContext, out: &Outbox) -> Result<(), String> {
        let what = format!("NATS at {}", self.url);
        let who = format!("source `{}`", ctx.name);
        let Some(client) = until_connected(&ctx.name, &what, out, || crate::nats::connect(&self.url, &who)).await
        else {
            return Ok(());
        };
        let js = jetstream::new(client);
        let config =
            stream::Config { name: self.stream.clone(), subjects: vec![self.subject.clone()], ..Default::default() };
        let mut stream = js.get_or_create_stream(config).await.map_err(|e| format!("stream `{}`: {e}", self.stream))?;
        let durable = self.consumer.clone().unwrap_or_else(|| format!("weir-{}-{}", ctx.job, ctx.name));
        let next = match positions(&ctx.start).and_then(|p| p.get(&0).copied()) {
            Some(seq) => seq,
            None => {
                let floor = match stream.get_consumer::<pull::Config>(&durable).await {
                    Ok(mut c) => c.info().await.ok().map(|i| i.ack_floor.stream_sequence as i64 + 1),
                    Err(_) => None,
                };
                let state = stream.info().await.map_err(|e| format!("stream `{}`: {e}", self.stream))?.state.clone();
                let policy = match self.start {
                    StartAt::Earliest => state.first_sequence.max(1) as i64,
                    StartAt::Latest => state.last_sequence as i64 + 1,
                };
                floor.unwrap_or(policy)
            }
        };
        // The durable consumer is made again to start exactly where this run starts.
        let _ = stream.delete_consumer(&durable).await;
        let consumer: PullConsumer = stream
            .create_consumer(pull::Config {
                durable_name: Some(durable.clone()),
                ack_policy: AckPolicy::All,
                deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: next as u64 },
                ack_wait: ACK_WAIT,
                max_ack_pending: 1_000_000,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("consumer `{durable}`: {e}"))?;
        let messages = consumer.messages().await.map_err(|e| format!("consumer `{durable}`: {e}"))?;
        tracing::info!(source = %ctx.name, stream = %self.stream, consumer = %durable, "reading from sequence {next}");
        let ackers = Ackers::<Acker>::default();
        let (acked, name) = (ackers.clone(), ctx.name.clone());
        ctx.acknowledge(|commits| ack_loop(acked, name, commits));
        let fetch = NatsFetch { messages, last: None, ackers };
        Reader::new(fetch, Positions::from([(0, next)]), out).run(&ctx.cuts, out).await;
        Ok(())
    }
}

/// Acknowledges, once a checkpoint commits, everything up to the sequence it holds.
async fn ack_loop(ackers: Ackers<Acker>, name: String, mut commits: Commits) {
    while let Some((time, offset)) = commits.next().await {
        let Some(next) = positions(&offset).and_then(|p| p.get(&0).copied()) else { continue };
        if let Some(acker) = ackers.newest_through(next) {
            match acker.double_ack().await {
                Ok(()) => {
                    tracing::debug!(source = %name, batch_time = time, "acknowledged up to sequence {}", next - 1)
                }
                Err(e) => tracing::warn!(source = %name, batch_time = time, "cannot acknowledge: {e}"),
            }
        }
    }
}

/// Messages from the consumer, as the shared reader takes them.
struct NatsFetch {
    messages: pull::Stream,
    /// The last message's sequence and acknowledger.
    last: Option<(i64, Acker)>,
    ackers: Ackers<Acker>,
}

impl Fetch for NatsFetch {
    async fn next(&mut self) -> Message {
        loop {
            match self.messages.next().await {
                Some(Ok(m)) => {
                    let seq = match m.info() {
                        Ok(info) => info.stream_sequence as i64,
                        Err(e) => {
                            tracing::warn!("nats: a message without its sequence: {e}");
                            continue;
                        }
                    };
                    let (msg, acker) = m.split();
                    self.last = Some((seq, acker));
                    return (0, seq, Some(msg.payload.to_vec()), None);
                }
                Some(Err(e)) => tracing::warn!("nats: {e}"),
                // The client reconnects by itself; a closed stream means the consumer is gone.
                None => {
                    tracing::error!("nats: the consumer's message stream ended");
                    std::future::pending::<()>().await;
                }
            }
        }
    }

    fn marked(&mut self, at: &Positions) {
        if let (Some((seq, acker)), Some(next)) = (self.last.take(), at.get(&0))
            && seq + 1 == *next
        {
            self.ackers.keep(*next, acker);
        }
    }
}
