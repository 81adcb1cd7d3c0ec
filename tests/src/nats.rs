//! The machine's NATS server with JetStream (127.0.0.1:4222) for the NATS tests: streams with names of
//! their own per test (deleted when dropped), publishing the tests' messages and reading a stream back,
//! through async-nats (not through Weir).

use std::time::{SystemTime, UNIX_EPOCH};

use async_nats::jetstream::{self, consumer::pull, stream};

/// The server's URL.
pub const NATS_URL: &str = "nats://127.0.0.1:4222";

/// Streams `<PREFIX>_IN` and `<PREFIX>_OUT` on subjects `<prefix>.in` and `<prefix>.out`.
pub struct NatsStreams {
    rt: tokio::runtime::Runtime,
    js: jetstream::Context,
    /// The names' unique part.
    pub prefix: String,
}

impl Drop for NatsStreams {
    fn drop(&mut self) {
        for s in [self.stream("in"), self.stream("out")] {
            let _ = self.rt.block_on(self.js.delete_stream(&s));
        }
    }
}

impl NatsStreams {
    /// Connects and makes the input stream (the output one is made by Weir's sink).
    pub fn new(test: &str) -> NatsStreams {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
        let prefix = format!("weirtest_{test}_{}_{nanos}", std::process::id());
        let js = rt.block_on(async {
            let client =
                async_nats::connect(NATS_URL).await.expect("NATS runs on 127.0.0.1:4222 (scripts/services.sh)");
            jetstream::new(client)
        });
        let this = NatsStreams { rt, js, prefix };
        let config =
            stream::Config { name: this.stream("in"), subjects: vec![this.subject("in")], ..Default::default() };
        this.rt.block_on(this.js.get_or_create_stream(config)).unwrap();
        this
    }

    /// The stream's name for `side` (`in`, `out`).
    pub fn stream(&self, side: &str) -> String {
        format!("{}_{}", self.prefix, side).to_uppercase()
    }

    /// The subject for `side`.
    pub fn subject(&self, side: &str) -> String {
        format!("{}.{side}", self.prefix)
    }

    /// Publishes `values` to the input subject, waiting for JetStream's acknowledgements.
    pub fn publish(&self, values: &[String]) {
        self.rt.block_on(async {
            let mut acks = Vec::new();
            for v in values {
                acks.push(self.js.publish(self.subject("in"), v.clone().into()).await.unwrap());
            }
            for a in acks {
                a.await.unwrap();
            }
        });
    }

    /// Every message of stream `side`: (payload, `weir-key` header).
    pub fn read_all(&self, side: &str) -> Vec<(String, Option<String>)> {
        self.rt.block_on(async {
            let Ok(mut s) = self.js.get_stream(self.stream(side)).await else { return Vec::new() };
            let state = s.info().await.unwrap().state.clone();
            let mut out = Vec::new();
            for seq in state.first_sequence..=state.last_sequence {
                if state.messages == 0 {
                    break;
                }
                let Ok(m) = s.get_raw_message(seq).await else { continue };
                let key = m.headers.get("weir-key").map(|v| v.as_str().to_string());
                out.push((String::from_utf8_lossy(&m.payload).into_owned(), key));
            }
            out
        })
    }

    /// The stream sequence durable consumer `name` of the input stream has acknowledged through.
    pub fn ack_floor(&self, name: &str) -> u64 {
        self.rt.block_on(async {
            let s = self.js.get_stream(self.stream("in")).await.unwrap();
            let mut c = s.get_consumer::<pull::Config>(name).await.unwrap();
            c.info().await.unwrap().ack_floor.stream_sequence
        })
    }
}
