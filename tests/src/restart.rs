//! Restarting the machine's PostgreSQL and MariaDB mid-test, as a service restart does: a clean, fast
//! shutdown, a pause, and a start of the same server on the same data; each waits until the server
//! answers again (and fails the test when it does not, so a later test never finds it down).

use std::process::Command;
use std::time::{Duration, Instant};

/// Restarts PostgreSQL (every cluster in /etc/postgresql, as `scripts/services.sh` starts them).
pub fn postgres(down: Duration) {
    let versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
        .expect("PostgreSQL from Debian's packages")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for v in &versions {
        ctl(v, "stop");
    }
    std::thread::sleep(down);
    for v in &versions {
        ctl(v, "start");
    }
    wait_for("PostgreSQL", || run("pg_isready", &["-q", "-h", "127.0.0.1", "-p", "5432"]));
}

fn ctl(version: &str, action: &str) {
    let mut args = vec!["--skip-systemctl-redirect", version, "main", action];
    if action == "stop" {
        args.extend(["-m", "fast"]);
    }
    assert!(run("pg_ctlcluster", &args), "pg_ctlcluster {args:?}");
}

/// Restarts MariaDB: `shutdown` through its client, then the server started as the machine's service
/// starts it (without the service script, which waits half a minute for its own checks).
pub fn mariadb(down: Duration) {
    assert!(run("mariadb-admin", &["-h", "127.0.0.1", "-u", "root", "shutdown"]), "mariadb-admin shutdown");
    wait_for("MariaDB's shutdown", || !run("pgrep", &["-x", "mariadbd"]));
    std::thread::sleep(down);
    let started = ["--start", "--background", "--exec", "/usr/sbin/mariadbd", "--", "--user=mysql"];
    assert!(run("start-stop-daemon", &started), "start-stop-daemon mariadbd");
    wait_for("MariaDB", || run("mariadb-admin", &["ping", "-h", "127.0.0.1", "-u", "root", "--silent"]));
}

fn run(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).output().is_ok_and(|o| o.status.success())
}

fn wait_for(what: &str, mut up: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !up() {
        assert!(Instant::now() < deadline, "{what}: not done within 30 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}
