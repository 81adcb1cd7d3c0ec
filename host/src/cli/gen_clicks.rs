//! `weir gen clicks`: publishes click events `deviceId|deviceType|time|click` at a steady rate, for the
//! user-behaviour pipeline and its benchmark. `time` is the moment of publishing (Unix milliseconds),
//! so a reader can measure how long an event took to reach its output. With `--bad-fraction`, that
//! share of lines is malformed on purpose (each in one of a few known ways), and the counts are
//! printed at the end: what a test compares with the job's dead letters.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Device types, most common first.
const TYPES: [&str; 5] = ["phone", "tablet", "desktop", "tv", "watch"];

/// `weir gen clicks` arguments.
#[derive(Debug, Args)]
pub struct ClicksArgs {
    /// Where to publish: `kafka://HOST:PORT/TOPIC`; `listen://HOST:PORT` to serve the lines to whoever
    /// connects, as `nc -lk` does for a socket source; or `-` for standard output.
    #[arg(long, default_value = "-")]
    to: String,
    /// Events per second.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    rate: u64,
    /// Stop after this many events (default: run until interrupted).
    #[arg(long)]
    count: Option<u64>,
    /// Distinct device ids.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    devices: u64,
    /// Share of lines made malformed on purpose (0 to 1), e.g. 0.01.
    #[arg(long, default_value_t = 0.0)]
    bad_fraction: f64,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Where generated lines go.
trait Publish {
    fn line(&mut self, line: &str) -> anyhow::Result<()>;
    fn flush(&mut self) -> anyhow::Result<()>;
}

struct Stdout(std::io::BufWriter<std::io::Stdout>);

impl Publish for Stdout {
    fn line(&mut self, line: &str) -> anyhow::Result<()> {
        use std::io::Write;
        Ok(writeln!(self.0, "{line}")?)
    }
    fn flush(&mut self) -> anyhow::Result<()> {
        use std::io::Write;
        Ok(self.0.flush()?)
    }
}

#[cfg(feature = "kafka")]
struct Kafka {
    producer: rdkafka::producer::BaseProducer,
    topic: String,
}

#[cfg(feature = "kafka")]
impl Publish for Kafka {
    fn line(&mut self, line: &str) -> anyhow::Result<()> {
        use rdkafka::producer::BaseRecord;
        let mut record = BaseRecord::<(), str>::to(&self.topic).payload(line);
        // A full local queue empties as the brokers acknowledge.
        while let Err((e, back)) = self.producer.send(record) {
            if !matches!(e, rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull))
            {
                anyhow::bail!("cannot publish to {}: {e}", self.topic);
            }
            self.producer.poll(Duration::from_millis(10));
            record = back;
        }
        self.producer.poll(Duration::ZERO);
        Ok(())
    }
    fn flush(&mut self) -> anyhow::Result<()> {
        use rdkafka::producer::Producer;
        Ok(self.producer.flush(Duration::from_secs(30))?)
    }
}

/// Serves the lines to one connected reader at a time (a socket source); when it goes, waits for
/// the next. Lines sent while nobody listens are not kept, as with `nc -lk`.
struct Listen {
    listener: std::net::TcpListener,
    reader: Option<std::io::BufWriter<std::net::TcpStream>>,
    flushed: Instant,
}

impl Publish for Listen {
    fn line(&mut self, line: &str) -> anyhow::Result<()> {
        use std::io::Write;
        if self.reader.is_none() {
            let (stream, peer) = self.listener.accept()?;
            eprintln!("weir gen clicks: {peer} connected");
            self.reader = Some(std::io::BufWriter::new(stream));
        }
        if let Some(r) = &mut self.reader
            && writeln!(r, "{line}").is_err()
        {
            self.reader = None;
        }
        // Lines reach the reader within 50 ms, so they fall into the batch of their time.
        if self.flushed.elapsed() > Duration::from_millis(50) {
            self.flush()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> anyhow::Result<()> {
        use std::io::Write;
        if let Some(r) = &mut self.reader
            && r.flush().is_err()
        {
            self.reader = None;
        }
        self.flushed = Instant::now();
        Ok(())
    }
}

fn target(to: &str) -> anyhow::Result<Box<dyn Publish>> {
    if to == "-" {
        return Ok(Box::new(Stdout(std::io::BufWriter::new(std::io::stdout()))));
    }
    if let Some(addr) = to.strip_prefix("listen://") {
        let listener =
            std::net::TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("--to `{to}`: cannot listen: {e}"))?;
        return Ok(Box::new(Listen { listener, reader: None, flushed: Instant::now() }));
    }
    let Some(rest) = to.strip_prefix("kafka://") else {
        anyhow::bail!("--to `{to}`: write `kafka://HOST:PORT/TOPIC`, `listen://HOST:PORT` or `-`");
    };
    let Some((brokers, topic)) = rest.split_once('/').filter(|(b, t)| !b.is_empty() && !t.is_empty()) else {
        anyhow::bail!("--to `{to}`: name the brokers and the topic, `kafka://HOST:PORT/TOPIC`");
    };
    #[cfg(feature = "kafka")]
    {
        let producer = rdkafka::config::ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("linger.ms", "5")
            .create()
            .map_err(|e| anyhow::anyhow!("cannot make a Kafka producer for {brokers}: {e}"))?;
        Ok(Box::new(Kafka { producer, topic: topic.to_string() }))
    }
    #[cfg(not(feature = "kafka"))]
    {
        let _ = (brokers, topic);
        anyhow::bail!("--to `{to}`: this weir was built without Kafka (cargo feature `kafka`)")
    }
}

/// One event line; a malformed one (with `bad`) is broken in one of four ways, chosen by the rng.
fn event(rng: &mut StdRng, devices: u64, now_ms: u128, bad: bool) -> String {
    let device = rng.random_range(0..devices);
    // Skewed towards the first types, as real traffic is.
    let kind = TYPES[(rng.random_range(0.0f64..1.0).powi(2) * TYPES.len() as f64) as usize];
    let click = rng.random_range(1..=5);
    if !bad {
        return format!("d{device}|{kind}|{now_ms}|{click}");
    }
    match rng.random_range(0..4) {
        0 => format!("d{device}|{kind}|{now_ms}"),
        1 => format!("d{device}|{kind}|soon|{click}"),
        2 => format!("d{device}||{now_ms}|{click}"),
        _ => format!("d{device}|{kind}|{now_ms}|many"),
    }
}

/// Publishes events until `--count` or Ctrl-C; prints how many were sent and how many malformed.
pub fn run(args: ClicksArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.bad_fraction) {
        anyhow::bail!("--bad-fraction {}: must be between 0 and 1", args.bad_fraction);
    }
    let mut out = target(&args.to)?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let start = Instant::now();
    let (mut sent, mut bad) = (0u64, 0u64);
    let limit = args.count.unwrap_or(u64::MAX);
    // Malformed lines are spread evenly: line i is bad when the running share falls behind.
    while sent < limit {
        let due = (start.elapsed().as_secs_f64() * args.rate as f64) as u64;
        if sent >= due {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        while sent < due.min(limit) {
            let is_bad = ((sent + 1) as f64 * args.bad_fraction) as u64 > bad;
            out.line(&event(&mut rng, args.devices, now_ms, is_bad))?;
            sent += 1;
            bad += u64::from(is_bad);
        }
    }
    out.flush()?;
    let secs = start.elapsed().as_secs_f64();
    eprintln!("weir gen clicks: published {sent} events ({bad} malformed) in {secs:.1} s to {}", args.to);
    Ok(())
}
