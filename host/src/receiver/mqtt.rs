//! MQTT source: a topic filter read with QoS 1 in a persistent session (the broker keeps what arrives
//! for the client id while the job is down). MQTT cannot read a message again once it is acknowledged,
//! so with checkpoints each payload is appended to the source's write-ahead log before its
//! acknowledgement goes out, and the log position is the source's offset: a resumed job replays the log
//! as the socket source does. A message logged whose acknowledgement had not reached the broker at a
//! crash is delivered again, and so taken twice (at-least-once for those; docs/CONNECTORS.md). Each line
//! of a payload is one record.

use std::path::PathBuf;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS};
use tokio::sync::mpsc;

use super::logged::{Replay, hand_over};
use super::partitioned::{RETRY, reporting};
use super::source::{Source, SourceContext, SourceTask};
use super::wal::Wal;
use super::{LineChunker, Outbox, SourceEvent};

/// The source's settings, from its spec.
pub struct MqttSource {
    pub host: String,
    pub port: u16,
    pub topic: String,
    pub client_id: Option<String>,
    /// With checkpoints: the write-ahead log's folder.
    pub wal: Option<PathBuf>,
}

impl Source for MqttSource {
    fn run(self: Box<Self>, ctx: SourceContext, out: Outbox) -> SourceTask {
        Box::pin(async move {
            let name = ctx.name.clone();
            reporting(&name, &out, self.read(ctx, &out)).await;
        })
    }
}

impl MqttSource {
    async fn read(self, ctx: SourceContext, out: &Outbox) -> Result<(), String> {
        let mut wal = match self.wal.clone() {
            Some(dir) => match Replay::new(dir, &ctx.start, &ctx.cuts).open(&ctx.name, out).await {
                Some(wal) => Some(wal),
                None => return Ok(()),
            },
            None => None,
        };
        let id = self.client_id.clone().unwrap_or_else(|| format!("weir-{}-{}", ctx.job, ctx.name));
        let mut options = MqttOptions::new(id, self.host.as_str(), self.port);
        // A persistent session: what is published while the job is down waits for it.
        options.set_clean_session(false).set_manual_acks(true).set_keep_alive(Duration::from_secs(30));
        options.set_max_packet_size(out.lines().max_record_bytes.saturating_add(1024), 1 << 16);
        // Room for an acknowledgement of every packet id: acknowledging never waits for the event loop,
        // which may be handing over messages it read in one go from the network before it sends them.
        let (client, events) = AsyncClient::new(options, 1 << 17);
        let (tx, mut received) = mpsc::channel(64);
        let at = format!("{}:{}", self.host, self.port);
        let poller = tokio::spawn(poll(events, client.clone(), self.topic.clone(), ctx.name.clone(), at, tx));
        loop {
            let next = tokio::select! {
                p = received.recv() => p,
                _ = out.drained() => break,
            };
            match next {
                Some(Ok(p)) => {
                    if !take(&p, &mut wal, out).await {
                        poller.abort();
                        return Ok(());
                    }
                    // Logged (or handed over, without checkpoints): only now may the broker forget it.
                    client.ack(&p).await.map_err(|e| e.to_string())?;
                }
                Some(Err(e)) => {
                    poller.abort();
                    return Err(e);
                }
                None => break,
            }
        }
        // What was received and not taken is not acknowledged: the broker keeps it for the next run.
        // The acknowledgements sent go out before the disconnect, which ends the poller.
        drop(received);
        let _ = client.try_disconnect();
        if tokio::time::timeout(Duration::from_secs(2), poller).await.is_err() {
            tracing::warn!(source = %ctx.name, "the broker did not take the disconnect within 2 s");
        }
        tracing::info!(source = %ctx.name, "drained");
        out.send(SourceEvent::Finished).await;
        Ok(())
    }
}

/// Runs the client's event loop: (re)connects and subscribes, sends what the client queues (the
/// acknowledgements), and forwards each message to `received`, which pushes back when the source is
/// busy. Ends once the disconnect is sent.
async fn poll(
    mut events: EventLoop,
    client: AsyncClient,
    topic: String,
    source: String,
    at: String,
    received: mpsc::Sender<Result<Publish, String>>,
) {
    let mut waiting = false;
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                tracing::info!(source = %source, topic = %topic, "connected to MQTT at {at}");
                waiting = false;
                // Subscribing again is harmless, and needed when the broker lost the session.
                if let Err(e) = client.try_subscribe(topic.as_str(), QoS::AtLeastOnce) {
                    let _ = received.send(Err(e.to_string())).await;
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) if ack.return_codes.iter().any(failed) => {
                let _ = received.send(Err(format!("the broker refused the subscription to `{topic}`"))).await;
            }
            // Once the source has stopped taking, a message is dropped unacknowledged: sent again later.
            Ok(Event::Incoming(Packet::Publish(p))) => drop(received.send(Ok(p)).await),
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(e) => {
                if !waiting {
                    tracing::warn!(source = %source, "waiting for MQTT at {at}: {e}");
                    waiting = true;
                }
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

fn failed(code: &rumqttc::SubscribeReasonCode) -> bool {
    matches!(code, rumqttc::SubscribeReasonCode::Failure)
}

/// Hands the lines of `p` over, logged first when there is a log; false when the job is stopping.
async fn take(p: &Publish, wal: &mut Option<Wal>, out: &Outbox) -> bool {
    let mut chunker = LineChunker::new(out);
    let text = p.payload.strip_suffix(b"\n").unwrap_or(&p.payload);
    for line in text.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match out.lines().read(line) {
            Ok((kind, value, time)) => {
                if let Some(full) = chunker.push_value(kind, &value, time)
                    && !hand_over(full, wal, out).await
                {
                    return false;
                }
            }
            Err(bad) => {
                if !out.send(bad.into()).await {
                    return false;
                }
            }
        }
    }
    chunker.is_empty() || hand_over(chunker.take(), wal, out).await
}
