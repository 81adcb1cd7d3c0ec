//! The RabbitMQ source and sink against the machine's RabbitMQ: messages consumed with acknowledgements
//! sent only after Weir's checkpoint holds them, bad ones to the dead letters, and — with `kill -9` at
//! random moments while messages keep arriving — every published message in the output queue, with
//! the duplicates a crash causes counted and printed (at-least-once, as docs/CONNECTORS.md says):
//! RabbitMQ keeps no ids, so the batch being written at a crash is written again whole.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{SystemTime, UNIX_EPOCH};

use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use weir_tests::broker::{
    Copies, assert_good_once_and_bad_dead, copy_job, drain_when, kill_while_publishing, some_malformed,
};
use weir_tests::crash::{env_or, setup, weir};

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A test's own queues, deleted when dropped.
struct Queues {
    rt: tokio::runtime::Runtime,
    channel: Channel,
    _conn: Connection,
    prefix: String,
}

impl Drop for Queues {
    fn drop(&mut self) {
        for q in [self.queue("in"), self.queue("out")] {
            let _ = self.rt.block_on(self.channel.queue_delete(q.as_str().into(), QueueDeleteOptions::default()));
        }
    }
}

impl Queues {
    fn new(test: &str) -> Queues {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (conn, channel) = rt.block_on(async {
            let conn = Connection::connect(URL, ConnectionProperties::default())
                .await
                .expect("RabbitMQ runs on 127.0.0.1:5672 (scripts/services.sh)");
            let channel = conn.create_channel().await.unwrap();
            (conn, channel)
        });
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
        let q = Queues { rt, channel, _conn: conn, prefix: format!("weirtest.{test}.{}.{nanos}", std::process::id()) };
        q.declare("in");
        q
    }

    fn queue(&self, side: &str) -> String {
        format!("{}.{side}", self.prefix)
    }

    /// Declares queue `side` (durable) and returns how many messages are ready in it.
    fn declare(&self, side: &str) -> u32 {
        let options = QueueDeclareOptions { durable: true, ..Default::default() };
        let q = self.rt.block_on(self.channel.queue_declare(
            self.queue(side).as_str().into(),
            options,
            FieldTable::default(),
        ));
        q.unwrap().message_count()
    }

    fn publish(&self, values: &[String]) {
        self.rt.block_on(async {
            for v in values {
                let q = self.queue("in");
                self.channel
                    .basic_publish(
                        "".into(),
                        q.as_str().into(),
                        BasicPublishOptions::default(),
                        v.as_bytes(),
                        BasicProperties::default(),
                    )
                    .await
                    .unwrap();
            }
        });
    }

    /// Takes every message out of queue `out`: (body, message id).
    fn take_all(&self) -> Vec<(String, String)> {
        self.declare("out");
        let mut out = Vec::new();
        self.rt.block_on(async {
            let q = self.queue("out");
            while let Some(m) =
                self.channel.basic_get(q.as_str().into(), BasicGetOptions { no_ack: true }).await.unwrap()
            {
                let id = m.delivery.properties.message_id().as_ref().map(|s| s.to_string()).unwrap_or_default();
                out.push((String::from_utf8_lossy(&m.delivery.data).into_owned(), id));
            }
        });
        out
    }
}

/// A job copying queue `in` to queue `out`.
fn job(q: &Queues, interval: &str, every: u64, format: &str) -> String {
    let source = format!("kind = \"rabbitmq\"\nqueue = \"{}\"\nformat = \"{format}\"", q.queue("in"));
    let sink = format!("kind = \"rabbitmq\"\nqueue = \"{}\"", q.queue("out"));
    copy_job(interval, every, &source, &sink)
}

#[test]
fn messages_are_consumed_bad_ones_are_dead_letters_and_acks_follow_the_checkpoint() {
    let q = Queues::new("plain");
    let values = some_malformed();
    q.publish(&values);
    let dir = setup(&job(&q, "200ms", 1, "json"));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    drain_when(child, dir.path(), || q.declare("out") >= 1980);
    let out: Vec<String> = q.take_all().into_iter().map(|(v, _)| v).collect();
    assert_good_once_and_bad_dead(out, &values, dir.path());
    assert_eq!(q.declare("in"), 0, "every message acknowledged once the last checkpoint holds it");
}

#[test]
fn killed_at_random_moments_while_messages_arrive_every_message_is_in_the_output() {
    let q = Queues::new("killed");
    let total = env_or("WEIR_RABBITMQ_MESSAGES", 6000) as usize;
    let kills = env_or("WEIR_RABBITMQ_KILLS", 6);
    let values: Vec<String> = (0..total).map(|i| format!("m{i:06}")).collect();
    let dir = setup(&job(&q, "100ms", 3, "text"));
    let log = kill_while_publishing(dir.path(), kills, env_or("WEIR_RABBITMQ_SEED", 19), &values, |s| q.publish(s));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    drain_when(child, dir.path(), || q.declare("out") >= total as u32);
    let out = q.take_all();

    let copies = Copies::of(&out.iter().map(|(v, _)| v.clone()).collect::<Vec<_>>(), &values, kills);
    assert!(copies.missing.is_empty(), "missing: {:?}", &copies.missing[..copies.missing.len().min(10)]);
    // A batch written again whole gives copies with the same message id (consumers drop them by id);
    // a crash in the moment between a checkpoint's commit and its acknowledgement gives a message
    // taken twice, in two batches: copies with different ids. Both are counted, not refused.
    let mut ids: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (v, id) in &out {
        ids.entry(v.as_str()).or_default().push(id.as_str());
    }
    let other_ids = ids.values().filter(|i| i.iter().any(|x| x != &i[0])).count();
    println!(
        "of the {} twice, {other_ids} with different message ids (taken again after a crash before the ack)",
        copies.twice.len()
    );
    assert_eq!(q.declare("in"), 0);
}
