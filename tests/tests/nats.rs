//! The NATS JetStream source and sink against the machine's NATS server: messages read in sequence,
//! bad ones to the dead letters, acknowledged only once Weir's checkpoint holds them, and — with
//! `kill -9` at random moments while messages keep arriving — every published message in the output
//! stream exactly once (JetStream drops a message id it has seen within its duplicate window).

use std::process::Stdio;

use weir_tests::broker::{
    Copies, assert_good_once_and_bad_dead, checkpointed, copy_job, drain_when, kill_while_publishing, some_malformed,
};
use weir_tests::crash::{env_or, setup, weir};
use weir_tests::nats::{NATS_URL, NatsStreams};

/// A job copying stream `in` to subject `out` (stream `out`, made by the sink).
fn job(n: &NatsStreams, interval: &str, every: u64, format: &str) -> String {
    let (stream, subject) = (n.stream("in"), n.subject("in"));
    let source = format!(
        "kind = \"nats\"\nurl = \"{NATS_URL}\"\nstream = \"{stream}\"\nsubject = \"{subject}\"\nformat = \"{format}\""
    );
    let (stream, subject) = (n.stream("out"), n.subject("out"));
    let sink = format!("kind = \"nats\"\nurl = \"{NATS_URL}\"\nsubject = \"{subject}\"\nstream = \"{stream}\"");
    copy_job(interval, every, &source, &sink)
}

fn values_out(n: &NatsStreams) -> Vec<String> {
    n.read_all("out").into_iter().map(|(v, _)| v).collect()
}

#[test]
fn messages_are_read_in_sequence_bad_ones_are_dead_letters_and_acks_follow_the_checkpoint() {
    let n = NatsStreams::new("plain");
    let values = some_malformed();
    n.publish(&values);
    let dir = setup(&job(&n, "200ms", 1, "json"));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    drain_when(child, dir.path(), || n.read_all("out").len() >= 1980);
    assert_good_once_and_bad_dead(values_out(&n), &values, dir.path());
    // Acknowledged through the last message: the final checkpoint holds them all.
    assert_eq!(n.ack_floor("weir-copy-events"), 2000);
}

#[test]
fn killed_at_random_moments_while_messages_arrive_the_output_holds_each_message_once() {
    let n = NatsStreams::new("killed");
    let total = env_or("WEIR_NATS_MESSAGES", 6000) as usize;
    let kills = env_or("WEIR_NATS_KILLS", 6);
    let values: Vec<String> = (0..total).map(|i| format!("m{i:06}")).collect();
    let dir = setup(&job(&n, "100ms", 3, "text"));
    let log = kill_while_publishing(dir.path(), kills, env_or("WEIR_NATS_SEED", 13), &values, |s| n.publish(s));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    drain_when(child, dir.path(), || n.read_all("out").len() >= total);

    Copies::of(&values_out(&n), &values, kills).assert_exactly_once();
    assert_eq!(n.ack_floor("weir-copy-events"), total as u64);
}

#[test]
fn in_a_cluster_process_0_reads_the_stream_and_a_resumed_job_goes_on_from_its_checkpoint() {
    // Another process holds this source's offset where the job resumed: only process 0's may commit.
    let n = NatsStreams::new("cluster");
    let values: Vec<String> = (0..2000).map(|i| format!("c{i:05}")).collect();
    let dir = setup(&job(&n, "100ms", 1, "text"));
    for (run, half) in values.chunks(1000).enumerate() {
        n.publish(half);
        let log = std::fs::File::create(dir.path().join("runs.log")).unwrap();
        let child = std::process::Command::new(weir_tests::weir_bin())
            .args(["cluster", "run", "job.toml", "--processes", "2"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let want = (run + 1) * 1000;
        drain_when(child, dir.path(), || n.read_all("out").len() >= want);
        assert_eq!(n.ack_floor("weir-copy-events"), want as u64, "run {run}: acknowledged what the checkpoint holds");
        let next = checkpointed(dir.path(), "events");
        assert_eq!(next[&0], want as i64 + 1, "run {run}: the checkpoint holds the stream read to its end");
    }
    Copies::of(&values_out(&n), &values, 0).assert_exactly_once();
}
