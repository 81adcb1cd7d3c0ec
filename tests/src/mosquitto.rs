//! A real MQTT broker for the MQTT tests: the machine's Mosquitto binary, started per test on a free
//! loopback port with a configuration of its own, and killed when dropped. The machine's broker on
//! 1883 keeps at most 1000 messages for a client that is away (Mosquitto's default), fewer than a test
//! publishes while Weir is killed; this one keeps every message, and can be restarted mid-run.
//! Messages go in and out through Mosquitto's own clients (`mosquitto_pub`, `mosquitto_sub`).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running broker, with a subscriber writing what reaches one topic to a file.
pub struct Mosquitto {
    broker: Child,
    subscriber: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        for child in self.subscriber.iter_mut().chain([&mut self.broker]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Mosquitto {
    /// Starts a broker on a free port of 127.0.0.1 and waits until it accepts connections.
    pub fn start() -> Mosquitto {
        let port = crate::free_port();
        let dir = tempfile::tempdir().unwrap();
        // Mosquitto started as root runs as user `mosquitto`, which must be able to save its sessions.
        let mut open = std::fs::metadata(dir.path()).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut open, 0o777);
        std::fs::set_permissions(dir.path(), open).unwrap();
        let config = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\npersistence true\n\
             persistence_location {}/\nautosave_interval 1\n",
            dir.path().display()
        );
        std::fs::write(dir.path().join("mosquitto.conf"), config).unwrap();
        let broker = spawn_broker(&dir.path().join("mosquitto.conf"), port);
        Mosquitto { broker, subscriber: None, port, dir }
    }

    /// Stops the broker (a clean shutdown: it saves its sessions) and starts it again on the same port.
    pub fn restart(&mut self, down: Duration) {
        let _ = Command::new("kill").args(["-TERM", &self.broker.id().to_string()]).status();
        let _ = self.broker.wait();
        std::thread::sleep(down);
        self.broker = spawn_broker(&self.dir.path().join("mosquitto.conf"), self.port);
    }

    fn client(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q", "1"]);
        c
    }

    /// Makes the persistent session of client `id` subscribed to `topic` (QoS 1), so the broker keeps
    /// what is published there for it from now on (MQTT keeps nothing for a client it has not seen).
    pub fn session(&self, id: &str, topic: &str) {
        let status = self.client("mosquitto_sub").args(["-c", "-E", "-i", id, "-t", topic]).status();
        assert!(status.expect("mosquitto_sub (Debian's mosquitto-clients) is installed").success());
    }

    /// Starts writing what reaches `topic` to a file ([`Mosquitto::received`]), once subscribed.
    pub fn subscribe(&mut self, topic: &str) {
        let file = std::fs::File::create(self.received_path()).unwrap();
        let id = format!("weirtest-subscriber-{}", self.port);
        let child = self.client("mosquitto_sub").args(["-c", "-i", &id, "-t", topic]).stdout(file).spawn().unwrap();
        self.subscriber = Some(child);
        for _ in 0..200 {
            self.publish(topic, &["probe".to_string()]);
            if std::fs::read_to_string(self.received_path()).unwrap_or_default().lines().any(|l| l == "probe") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("mosquitto_sub never subscribed to {topic}");
    }

    fn received_path(&self) -> PathBuf {
        self.dir.path().join("received.txt")
    }

    /// What reached the subscribed topic, the probes left out.
    pub fn received(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.received_path()).unwrap_or_default();
        text.lines().filter(|l| *l != "probe").map(str::to_string).collect()
    }

    /// Publishes each value as one QoS 1 message to `topic`.
    pub fn publish(&self, topic: &str, values: &[String]) {
        let mut publisher =
            self.client("mosquitto_pub").args(["-l", "-t", topic]).stdin(Stdio::piped()).spawn().unwrap();
        let mut stdin = publisher.stdin.take().unwrap();
        for v in values {
            writeln!(stdin, "{v}").unwrap();
        }
        drop(stdin);
        assert!(publisher.wait().unwrap().success(), "mosquitto_pub to {topic}");
    }
}

fn spawn_broker(config: &std::path::Path, port: u16) -> Child {
    // Debian installs the broker in /usr/sbin, which a user's PATH may lack.
    let program = ["/usr/sbin/mosquitto", "mosquitto"].into_iter().find(|p| std::path::Path::new(p).exists());
    let child = Command::new(program.unwrap_or("mosquitto"))
        .args(["-c", &config.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto (Debian's package) is installed");
    crate::wait_listening(port, "Mosquitto", Duration::from_secs(10));
    child
}
