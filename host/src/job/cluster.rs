//! One job across several processes, on timely's cluster mode. Weir makes the TCP connections itself
//! (then hands them to timely) so that a peer that cannot be reached is named in the error instead of
//! being retried forever, and so that every pair of processes checks it runs the same job: a handshake
//! carries each side's fingerprint of the spec, and process 0 (the leader, which runs the batch clock,
//! the sources and the sinks) tells the others the time of the first batch.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use thiserror::Error;

/// Starts every handshake, so a stray connection is told apart from a peer.
const MAGIC: u64 = u64::from_be_bytes(*b"WEIRCLU1");

/// Why a process could not join its cluster.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// The hosts file cannot be read or is malformed.
    #[error("hosts file {path}: {message}")]
    Hosts {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line.
        message: String,
    },
    /// This process cannot listen on its own address.
    #[error("process {process}: cannot listen on {address}: {source}")]
    Listen {
        /// This process.
        process: usize,
        /// Its address in the hosts file.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// A peer could not be reached, or did not connect, in time.
    #[error("process {process}: cannot reach process {peer} at {address} within {waited:?}: {reason}")]
    Unreachable {
        /// This process.
        process: usize,
        /// The peer.
        peer: usize,
        /// The peer's address in the hosts file.
        address: String,
        /// How long this process tried.
        waited: Duration,
        /// The last error seen.
        reason: String,
    },
    /// The connection to a peer broke while the job ran: timely's model stops the whole job.
    #[error(
        "process {process}: lost process {peer} at {address} (its connection broke); the job stops here. Start \
         every process again: with [checkpoint] the job resumes from its last committed batch"
    )]
    Lost {
        /// This process.
        process: usize,
        /// The peer.
        peer: usize,
        /// The peer's address in the hosts file.
        address: String,
    },
    /// A peer runs another spec, another worker count or another cluster size.
    #[error(
        "process {process}: process {peer} at {address} runs another job (its spec, workers or process count differ, or it \
         resumed from another checkpoint)"
    )]
    Mismatch {
        /// This process.
        process: usize,
        /// The peer.
        peer: usize,
        /// The peer's address.
        address: String,
    },
}

/// `n` addresses on 127.0.0.1 for the processes of a cluster on this machine: ports `base`, `base + 1`,
/// …, or ports free now.
///
/// ```
/// let picked = weir::job::loopback_addresses(3, None).unwrap();
/// assert_eq!(picked.len(), 3);
/// assert!(picked.iter().all(|a| a.starts_with("127.0.0.1:")));
/// assert_eq!(weir::job::loopback_addresses(2, Some(7400)).unwrap(), ["127.0.0.1:7400", "127.0.0.1:7401"]);
/// ```
pub fn loopback_addresses(n: usize, base: Option<u16>) -> std::io::Result<Vec<String>> {
    if let Some(base) = base {
        return Ok((0..n).map(|i| format!("127.0.0.1:{}", base as usize + i)).collect());
    }
    // Holding every listener until all are picked keeps the ports distinct.
    let held: Vec<std::net::TcpListener> =
        (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0")).collect::<Result<_, _>>()?;
    held.iter().map(|l| l.local_addr().map(|a| a.to_string())).collect()
}

/// Where this process sits in a cluster: its index and every process's address (timely's addressing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// This process's index; process 0 leads.
    pub process: usize,
    /// `host:port` of every process, by index.
    pub addresses: Vec<String>,
    /// How long to wait for the peers at start.
    pub connect_timeout: Duration,
}

impl Cluster {
    /// Reads a hosts file: one `host:port` per line, process 0 first; blank lines and `#` comments are
    /// skipped.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let hosts = dir.path().join("hosts.txt");
    /// std::fs::write(&hosts, "# two processes\n127.0.0.1:7000\n127.0.0.1:7001\n").unwrap();
    /// let c = weir::job::Cluster::from_hosts_file(&hosts, 1, std::time::Duration::from_secs(5)).unwrap();
    /// assert_eq!((c.processes(), c.process), (2, 1));
    /// ```
    pub fn from_hosts_file(path: &Path, process: usize, connect_timeout: Duration) -> Result<Cluster, ClusterError> {
        let bad = |message: String| ClusterError::Hosts { path: path.to_path_buf(), message };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let mut addresses = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if line.to_socket_addrs().is_err() {
                return Err(bad(format!("line {}: `{line}` is not a host:port", i + 1)));
            }
            if addresses.iter().any(|a| a == line) {
                return Err(bad(format!("line {}: `{line}` is listed twice", i + 1)));
            }
            addresses.push(line.to_string());
        }
        if addresses.is_empty() {
            return Err(bad("it lists no process".into()));
        }
        if process >= addresses.len() {
            return Err(bad(format!("it lists {} processes; there is no process {process}", addresses.len())));
        }
        Ok(Cluster { process, addresses, connect_timeout })
    }

    /// How many processes the cluster has.
    pub fn processes(&self) -> usize {
        self.addresses.len()
    }

    /// True for process 0, which runs the batch clock, the sources and the sinks.
    pub fn leads(&self) -> bool {
        self.process == 0
    }

    /// `path` made this process's own: process 0 keeps it, process I writes `stem.process-I.ext`.
    ///
    /// ```
    /// use std::path::Path;
    /// let c = weir::job::Cluster { process: 2, addresses: vec![], connect_timeout: Default::default() };
    /// assert_eq!(c.own_file(Path::new("out/dead.jsonl")), Path::new("out/dead.process-2.jsonl"));
    /// ```
    pub fn own_file(&self, path: &Path) -> PathBuf {
        if self.leads() {
            return path.to_path_buf();
        }
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let name = match path.extension() {
            Some(ext) => format!("{stem}.process-{}.{}", self.process, ext.to_string_lossy()),
            None => format!("{stem}.process-{}", self.process),
        };
        path.with_file_name(name)
    }

    /// Connects to every peer as timely expects: dial each lower index, accept each higher one. Returns
    /// one stream per process (none for this one) and the first batch time, which the leader gives
    /// (`first_time`) and the others learn from it.
    pub(crate) fn connect(
        &self,
        fingerprint: u64,
        first_time: Option<u64>,
    ) -> Result<(Vec<Option<TcpStream>>, u64), ClusterError> {
        let me = self.process;
        let deadline = Instant::now() + self.connect_timeout;
        let listener = TcpListener::bind(&self.addresses[me]).map_err(|source| ClusterError::Listen {
            process: me,
            address: self.addresses[me].clone(),
            source,
        })?;
        let mut sockets: Vec<Option<TcpStream>> = (0..self.processes()).map(|_| None).collect();
        let mut learned = first_time;
        for (peer, socket) in sockets.iter_mut().enumerate().take(me) {
            let (stream, told) = self.dial(peer, fingerprint, deadline)?;
            if peer == 0 {
                learned = Some(told);
            }
            *socket = Some(stream);
        }
        let hello = Hello { process: me as u64, processes: self.processes() as u64, fingerprint };
        self.accept(&listener, &mut sockets, hello, learned.unwrap_or(0), deadline)?;
        Ok((sockets, learned.unwrap_or(0)))
    }

    fn dial(&self, peer: usize, fingerprint: u64, deadline: Instant) -> Result<(TcpStream, u64), ClusterError> {
        let address = &self.addresses[peer];
        let unreachable = |reason: String| ClusterError::Unreachable {
            process: self.process,
            peer,
            address: address.clone(),
            waited: self.connect_timeout,
            reason,
        };
        loop {
            let attempt = TcpStream::connect(address).and_then(|mut s| {
                let hello = Hello { process: self.process as u64, processes: self.processes() as u64, fingerprint };
                s.set_read_timeout(Some(self.connect_timeout))?;
                s.write_all(&hello.bytes())?;
                let mut reply = [0u8; 16];
                s.read_exact(&mut reply)?;
                Ok((s, reply))
            });
            match attempt {
                Ok((s, reply)) => {
                    let [ok, first_time] = words(&reply);
                    if ok != 1 {
                        return Err(ClusterError::Mismatch { process: self.process, peer, address: address.clone() });
                    }
                    s.set_read_timeout(None).map_err(|e| unreachable(e.to_string()))?;
                    s.set_nodelay(true).map_err(|e| unreachable(e.to_string()))?;
                    return Ok((s, first_time));
                }
                Err(e) if Instant::now() >= deadline => return Err(unreachable(e.to_string())),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    fn accept(
        &self,
        listener: &TcpListener,
        sockets: &mut [Option<TcpStream>],
        mine: Hello,
        first_time: u64,
        deadline: Instant,
    ) -> Result<(), ClusterError> {
        let me = self.process;
        let listen_error = |source| ClusterError::Listen { process: me, address: self.addresses[me].clone(), source };
        listener.set_nonblocking(true).map_err(listen_error)?;
        while let Some(missing) = (me + 1..self.processes()).find(|p| sockets[*p].is_none()) {
            let mut s = match listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                Err(e) => {
                    let reason =
                        if e.kind() == ErrorKind::WouldBlock { "it did not connect".into() } else { e.to_string() };
                    return Err(ClusterError::Unreachable {
                        process: me,
                        peer: missing,
                        address: self.addresses[missing].clone(),
                        waited: self.connect_timeout,
                        reason,
                    });
                }
            };
            // A connection that is not a peer's hello (a port scan, a health check) is dropped.
            let Some(theirs) = Hello::read(&mut s) else { continue };
            let peer = theirs.process as usize;
            if peer <= me || peer >= self.processes() || sockets[peer].is_some() {
                continue;
            }
            let same = theirs.processes == mine.processes && theirs.fingerprint == mine.fingerprint;
            let mut reply = [0u8; 16];
            reply[..8].copy_from_slice(&u64::from(same).to_be_bytes());
            reply[8..].copy_from_slice(&first_time.to_be_bytes());
            let _ = s.write_all(&reply);
            if !same {
                return Err(ClusterError::Mismatch { process: me, peer, address: self.addresses[peer].clone() });
            }
            s.set_nonblocking(false).and_then(|()| s.set_nodelay(true)).map_err(listen_error)?;
            sockets[peer] = Some(s);
        }
        Ok(())
    }
}

/// What a dialling process says first.
#[derive(Debug, Clone, Copy)]
struct Hello {
    process: u64,
    processes: u64,
    fingerprint: u64,
}

impl Hello {
    fn bytes(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for (i, w) in [MAGIC, self.process, self.processes, self.fingerprint].iter().enumerate() {
            b[i * 8..(i + 1) * 8].copy_from_slice(&w.to_be_bytes());
        }
        b
    }

    fn read(s: &mut TcpStream) -> Option<Hello> {
        s.set_nonblocking(false).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut b = [0u8; 32];
        s.read_exact(&mut b).ok()?;
        s.set_read_timeout(None).ok()?;
        let [magic, process, processes, fingerprint] = words(&b);
        (magic == MAGIC).then_some(Hello { process, processes, fingerprint })
    }
}

/// Big-endian u64 words.
fn words<const N: usize>(b: &[u8]) -> [u64; N] {
    std::array::from_fn(|i| u64::from_be_bytes(b[i * 8..(i + 1) * 8].try_into().expect("8 bytes")))
}

/// What every process of one job must agree on: its spec, its workers per process and the checkpoint
/// it resumed from (0: none).
pub(crate) fn fingerprint(spec_text: &str, workers: usize, resumed_from: u64) -> u64 {
    let mut h = Sha256::new();
    h.update(spec_text.as_bytes());
    h.update((workers as u64).to_be_bytes());
    h.update(resumed_from.to_be_bytes());
    u64::from_be_bytes(h.finalize()[..8].try_into().expect("8 bytes"))
}

/// Timely's allocators for `workers` threads here, over `sockets` to the other processes (none: one
/// process).
pub(crate) fn allocators(
    workers: usize,
    process: usize,
    sockets: Option<Vec<Option<TcpStream>>>,
) -> Result<(Vec<timely::communication::AllocatorBuilder>, Box<dyn std::any::Any + Send>), String> {
    use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
    use timely::communication::allocator::{AllocatorBuilder, ProcessBuilder};
    let Some(sockets) = sockets else {
        return timely::CommunicationConfig::Process(workers).try_build();
    };
    let hooks = timely::communication::Hooks::default();
    let local = ProcessBuilder::new_typed_vector(workers, hooks.refill.clone(), hooks.spill.clone());
    let (builders, guard) = initialize_networking_from_sockets(local, sockets, process, workers, hooks)
        .map_err(|e| format!("cannot start the cluster's connections: {e}"))?;
    Ok((builders.into_iter().map(AllocatorBuilder::Tcp).collect(), Box::new(guard)))
}
