//! A job `weir serve` runs across processes (`[job] processes = N`): the server runs process 0 itself, as
//! any job, and starts processes 1..N on this machine as children (`weir cluster follow`), on loopback
//! ports it picks. Each child places the job as the server does, from the data dir: the same spec, the
//! plugins its record pins, the swapped models. A child that dies breaks the cluster: process 0 fails
//! naming it, and the job's restart policy starts every process again from its last checkpoint.
//! However a run ends, its children end with it.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::place::{place, swapped_models};
use super::record::JobRecord;
use super::{ServerError, io};
use crate::graph::Plan;
use crate::job::Cluster;
use crate::registry::Registry;

/// How long every process waits for the others to connect.
const CONNECT: std::time::Duration = std::time::Duration::from_secs(30);

/// The other processes of one run of a job.
pub(super) struct Followers {
    children: Vec<Child>,
}

impl Followers {
    /// Picks ports for `processes` processes of job `name` (its folder `home` in data dir `data`),
    /// writes them to `home/hosts.txt`, starts processes 1.. and returns them with process 0's place.
    pub(super) fn start(
        data: &Path,
        home: &Path,
        name: &str,
        processes: usize,
    ) -> Result<(Followers, Cluster), ServerError> {
        let addresses = crate::job::loopback_addresses(processes, None).map_err(io(home))?;
        let hosts = home.join("hosts.txt");
        std::fs::write(&hosts, addresses.join("\n") + "\n").map_err(io(&hosts))?;
        let exe = std::env::current_exe().map_err(io(home))?;
        let mut followers = Followers { children: Vec::new() };
        for process in 1..processes {
            let mut cmd = Command::new(&exe);
            cmd.args(["cluster", "follow", "--job", name, "--process", &process.to_string()]);
            cmd.arg("--data-dir").arg(data).arg("--hosts").arg(&hosts);
            // Its own process group: a terminal's Ctrl-C reaches the server, which stops process 0.
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).spawn().map_err(io(&exe))?;
            followers.children.push(child);
        }
        Ok((followers, Cluster { process: 0, addresses, connect_timeout: CONNECT }))
    }

    /// Kills and reaps every follower still running.
    pub(super) fn end(&mut self) {
        for child in &mut self.children {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        self.children.clear();
    }
}

impl Drop for Followers {
    fn drop(&mut self) {
        self.end();
    }
}

/// The plan the other processes of job `job` in data dir `data` run: placed as the server places it,
/// with the plugins and models its record pins.
pub fn follower_plan(data: &Path, job: &str) -> Result<Plan, ServerError> {
    let data = data.canonicalize().map_err(io(data))?;
    let home = data.join("jobs").join(job);
    let registry = Registry::open(&data.join("operators"))?;
    let record = JobRecord::load(&home).map_err(io(&home))?;
    let text = std::fs::read_to_string(home.join("spec.toml")).map_err(io(&home))?;
    let mut placed = place(&text, &data.join("jobs"), &registry, &record.plugins)?;
    swapped_models(&mut placed.plan, &home, &record.models)?;
    Ok(placed.plan)
}
