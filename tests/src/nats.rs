//! The machine's NATS server with JetStream (127.0.0.1:4222) for the NATS tests: streams with names of
//! their own per test (deleted when dropped), publishing the tests' messages and reading a stream back,
//! through async-nats (not through Weir). A test that restarts its server runs one of its own
//! ([`NatsServer`]) from the machine's binary.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::{self, consumer::pull, message::PublishMessage, stream};

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
    /// Connects to the machine's server and makes the input stream (the output one is made by Weir's
    /// sink).
    pub fn new(test: &str) -> NatsStreams {
        NatsStreams::on(NATS_URL, test)
    }

    /// As [`NatsStreams::new`], on the server at `url`.
    pub fn on(url: &str, test: &str) -> NatsStreams {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
        let prefix = format!("weirtest_{test}_{}_{nanos}", std::process::id());
        let js = rt.block_on(async {
            let client = async_nats::connect(url).await.unwrap_or_else(|e| {
                panic!("NATS runs at {url} (scripts/services.sh starts the machine's on 127.0.0.1:4222): {e}")
            });
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

    /// Publishes `values` to the input subject, waiting for JetStream's acknowledgements. Each message
    /// carries its value as its id, so one published again (its acknowledgement lost to a server
    /// restart) is stored once.
    pub fn publish(&self, values: &[String]) {
        for _ in 0..100 {
            match self.rt.block_on(self.try_publish(values)) {
                Ok(()) => return,
                Err(e) => eprintln!("publishing again: {e}"),
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        panic!("cannot publish to {}", self.subject("in"));
    }

    async fn try_publish(&self, values: &[String]) -> Result<(), String> {
        let mut acks = Vec::new();
        for v in values {
            let m = PublishMessage::build().payload(v.clone().into()).message_id(v);
            acks.push(self.js.send_publish(self.subject("in"), m).await.map_err(|e| e.to_string())?);
        }
        for a in acks {
            a.await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Connects anew to `url` (after its server restarted), keeping the streams' names.
    pub fn reconnect(&mut self, url: &str) {
        self.js = self.rt.block_on(async { jetstream::new(async_nats::connect(url).await.unwrap()) });
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

/// A NATS server with JetStream of the test's own, on a free loopback port, storing its streams in a
/// folder of its own so that they survive [`NatsServer::restart`]; killed when dropped.
pub struct NatsServer {
    child: Child,
    /// The port it listens on.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NatsServer {
    /// Starts a server and waits until it answers as NATS does. A port another test took between
    /// `free_port` and the server's bind makes the server exit: it is started again on another port.
    pub fn start() -> NatsServer {
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..5 {
            let port = crate::free_port();
            if let Some(child) = spawn_server(port, dir.path()) {
                return NatsServer { child, port, dir };
            }
        }
        panic!("nats-server did not start on any of 5 free ports");
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops the server (a clean shutdown, as a service restart does) and starts it again on the same
    /// port and store after `down`.
    pub fn restart(&mut self, down: Duration) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
        std::thread::sleep(down);
        self.child = spawn_server(self.port, self.dir.path()).expect("nats-server started again on its port");
    }
}

/// A NATS server on `port` with its store in `store`, once it greets a client with `INFO`; `None` when
/// it exits first (its port was taken).
fn spawn_server(port: u16, store: &std::path::Path) -> Option<Child> {
    // Debian installs the server in /usr/sbin, which a user's PATH may lack.
    let program = ["/usr/sbin/nats-server", "nats-server"].into_iter().find(|p| std::path::Path::new(p).exists());
    let mut child = Command::new(program.unwrap_or("nats-server"))
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd", &store.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server (Debian's package) is installed");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        if greets(port) {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("nats-server did not answer on {port} within 10 s");
}

/// True when what listens on `port` speaks NATS: a server's first words are `INFO {…}`.
fn greets(port: u16) -> bool {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut first = [0u8; 4];
    s.read_exact(&mut first).is_ok() && &first == b"INFO"
}
