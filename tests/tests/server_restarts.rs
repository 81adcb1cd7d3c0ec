//! Servers restarted mid-run, while records keep arriving: PostgreSQL and MariaDB under a database
//! sink, NATS under a NATS source and sink. The job waits for the server with a doubling wait, logs
//! what it waits for, and loses nothing: every record reaches the output exactly once. The database
//! tests restart the machine's own servers (this binary holds no other test that uses them); the NATS
//! test runs a server of its own.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use weir_tests::broker::{Copies, copy_job, drain_when};
use weir_tests::crash::{setup, weir};
use weir_tests::nats::{NatsServer, NatsStreams};
use weir_tests::restart;

/// How long a server stays down.
const DOWN: Duration = Duration::from_secs(3);

/// Values `r0000`… written as files of 100 lines into `dir/in`, one every 200 ms; `restart` runs
/// beside them from the 4th file on, so files keep arriving while the server is down.
fn drop_files(dir: &Path, files: usize, restart: impl FnOnce() + Send + 'static) -> Vec<String> {
    let values: Vec<String> = (0..files * 100).map(|i| format!("r{i:04}")).collect();
    let mut restart = Some(restart);
    let mut restarting = None;
    for (n, chunk) in values.chunks(100).enumerate() {
        let tmp = dir.join(format!("f{n:02}.tmp"));
        std::fs::write(&tmp, chunk.join("\n") + "\n").unwrap();
        std::fs::rename(&tmp, dir.join("in").join(format!("f{n:02}.txt"))).unwrap();
        if n == 3 {
            restarting = Some(std::thread::spawn(restart.take().unwrap()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    restarting.unwrap().join().expect("the server restarted");
    values
}

/// A database: its sink kind and URL, how to query it, and how to restart it.
struct Db {
    kind: &'static str,
    url: &'static str,
    restart: fn(Duration),
    server: &'static str,
}

impl Db {
    /// Runs `sql`, returning the rows (a JSON string's quotes trimmed).
    fn sql(&self, sql: &str) -> Vec<String> {
        weir_tests::db::sql(self.kind, sql).into_iter().map(|l| l.trim_matches('"').to_string()).collect()
    }
}

/// A job copying the files of `in/` into a table of `db` through a sink with one column, `line`.
fn a_database_restarted_mid_run_is_waited_for_and_nothing_is_lost(db: Db) {
    let (job, table) = (format!("restart-{}-{}", db.kind, std::process::id()), format!("weir_restart_{}", db.kind));
    db.sql(&format!("DROP TABLE IF EXISTS {table}"));
    let sink = format!(
        "kind = \"{}\"\nurl = \"{}\"\ntable = \"{table}\"\ncolumns = {{ line = \"value\" }}\n\
         column_types = {{ line = \"VARCHAR(16)\" }}",
        db.kind, db.url
    );
    let spec = copy_job("100ms", 3, "kind = \"directory\"\npath = \"in\"\ninclude_existing = true", &sink)
        .replace("\"copy\"", &format!("\"{job}\""));
    let dir = setup(&spec);
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let log = std::fs::File::create(dir.path().join("runs.log")).unwrap();
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    let values = drop_files(dir.path(), 20, move || (db.restart)(DOWN));
    let count = format!("SELECT count(*) FROM {table}");
    drain_when(child, dir.path(), || {
        db.sql(&count).first().is_some_and(|n| n.parse::<usize>().unwrap() >= values.len())
    });

    let rows = db.sql(&format!("SELECT line FROM {table}"));
    Copies::of(&rows, &values, 0).assert_exactly_once();
    let log = std::fs::read_to_string(dir.path().join("runs.log")).unwrap();
    let waited = format!("sink `out` cannot reach {}", db.server);
    assert!(log.contains(&waited) && log.contains("waiting for it, trying again in"), "the wait is logged: {log}");
    db.sql(&format!("DROP TABLE {table}"));
    db.sql(&format!("DELETE FROM weir_sink_commits WHERE job = '{job}'"));
}

#[test]
fn postgres_restarted_mid_run_is_waited_for_and_nothing_is_lost() {
    a_database_restarted_mid_run_is_waited_for_and_nothing_is_lost(Db {
        kind: "postgres",
        url: "postgres://postgres@127.0.0.1:5432/test",
        restart: restart::postgres,
        server: "the PostgreSQL server",
    });
}

#[test]
fn mariadb_restarted_mid_run_is_waited_for_and_nothing_is_lost() {
    a_database_restarted_mid_run_is_waited_for_and_nothing_is_lost(Db {
        kind: "mariadb",
        url: "mysql://root@127.0.0.1:3306/test",
        restart: restart::mariadb,
        server: "the MariaDB server",
    });
}

/// A job copying stream `in` to subject `out` on a NATS server of its own, restarted while messages
/// are published: the source reconnects and goes on from its sequence, the sink publishes a batch that
/// failed again (JetStream drops the ids it has seen).
#[test]
fn nats_restarted_mid_run_is_waited_for_and_nothing_is_lost() {
    let mut server = NatsServer::start();
    let url = server.url();
    let mut n = NatsStreams::on(&url, "restart");
    let values: Vec<String> = (0..3000).map(|i| format!("m{i:05}")).collect();
    let (stream, subject) = (n.stream("in"), n.subject("in"));
    let source =
        format!("kind = \"nats\"\nurl = \"{url}\"\nstream = \"{stream}\"\nsubject = \"{subject}\"\nformat = \"text\"");
    let (stream, subject) = (n.stream("out"), n.subject("out"));
    let sink = format!("kind = \"nats\"\nurl = \"{url}\"\nsubject = \"{subject}\"\nstream = \"{stream}\"");
    let dir = setup(&copy_job("100ms", 3, &source, &sink));
    let log = std::fs::File::create(dir.path().join("runs.log")).unwrap();
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    n.publish(&values[..1500]);
    // The job runs (a server it cannot reach at start is refused at once, not waited for).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while n.read_all("out").is_empty() {
        assert!(std::time::Instant::now() < deadline, "the job wrote nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
    server.restart(DOWN);
    n.reconnect(&url);
    n.publish(&values[1500..]);
    drain_when(child, dir.path(), || n.read_all("out").len() >= values.len());

    let out: Vec<String> = n.read_all("out").into_iter().map(|(v, _)| v).collect();
    Copies::of(&out, &values, 0).assert_exactly_once();
    let log = std::fs::read_to_string(dir.path().join("runs.log")).unwrap();
    for who in ["source `events`", "sink `out`"] {
        assert!(log.contains(&format!("{who} lost NATS at {url}; waiting for it")), "{who}'s wait is logged: {log}");
    }
}
