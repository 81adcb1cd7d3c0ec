//! The MQTT source and sink against Mosquitto (the machine's binary, on a port of the test's own),
//! driven by Mosquitto's own clients: messages taken with QoS 1 and kept in the write-ahead log before
//! they are acknowledged, bad ones to the dead letters; with `kill -9` at random moments while messages
//! keep arriving, every published message in the output topic, with the duplicates a crash causes
//! counted and printed (at-least-once, as docs/CONNECTORS.md says); and a broker restarted mid-run
//! loses nothing.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use weir_tests::broker::{
    Copies, assert_good_once_and_bad_dead, copy_job, drain_when, kill_while_publishing, some_malformed,
};
use weir_tests::crash::{env_or, setup, weir};
use weir_tests::mosquitto::Mosquitto;

const IN: &str = "weirtest/in";
const OUT: &str = "weirtest/out";
const SOURCE_CLIENT: &str = "weirtest-source";

/// A broker whose output topic is being recorded, and where the source's session waits for messages.
fn broker() -> Mosquitto {
    let mut m = Mosquitto::start();
    m.subscribe(OUT);
    m.session(SOURCE_CLIENT, IN);
    m
}

/// A job copying topic `in` to topic `out`.
fn job(m: &Mosquitto, interval: &str, every: u64, format: &str) -> String {
    let port = m.port;
    let source = format!(
        "kind = \"mqtt\"\nport = {port}\ntopic = \"{IN}\"\nclient_id = \"{SOURCE_CLIENT}\"\nformat = \"{format}\""
    );
    let sink = format!("kind = \"mqtt\"\nport = {port}\ntopic = \"{OUT}\"");
    copy_job(interval, every, &source, &sink)
}

/// Every distinct value out.
fn distinct(m: &Mosquitto) -> usize {
    m.received().into_iter().collect::<BTreeSet<_>>().len()
}

#[test]
fn messages_are_taken_bad_ones_are_dead_letters_and_the_log_holds_them() {
    let m = broker();
    let values = some_malformed();
    m.publish(IN, &values);
    let dir = setup(&job(&m, "200ms", 1, "json"));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    drain_when(child, dir.path(), || m.received().len() >= 1980);
    let out = m.received();
    assert_eq!(out.len(), 1980, "every good message once");
    assert_good_once_and_bad_dead(out, &values, dir.path());
    let logged = std::fs::read_dir(dir.path().join("checkpoints/wal/events")).unwrap().count();
    assert!(logged > 0, "what was taken is in the source's write-ahead log");
}

#[test]
fn killed_at_random_moments_while_messages_arrive_every_message_is_in_the_output() {
    let m = broker();
    let total = env_or("WEIR_MQTT_MESSAGES", 6000) as usize;
    let kills = env_or("WEIR_MQTT_KILLS", 6);
    let values: Vec<String> = (0..total).map(|i| format!("m{i:06}")).collect();
    let dir = setup(&job(&m, "100ms", 3, "text"));
    let log = kill_while_publishing(dir.path(), kills, env_or("WEIR_MQTT_SEED", 23), &values, |s| m.publish(IN, s));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    drain_when(child, dir.path(), || distinct(&m) >= total);
    let copies = Copies::of(&m.received(), &values, kills);
    assert!(copies.missing.is_empty(), "missing: {:?}", &copies.missing[..copies.missing.len().min(10)]);
    println!(
        "{} out twice: the batch being written at a crash, and messages logged whose acknowledgement had not \
         reached the broker",
        copies.twice.len()
    );
}

#[test]
fn a_broker_restarted_mid_run_loses_nothing() {
    let mut m = broker();
    let values: Vec<String> = (0..2000).map(|i| format!("r{i:05}")).collect();
    let dir = setup(&job(&m, "100ms", 3, "text"));
    let log = std::fs::File::create(dir.path().join("runs.log")).unwrap();
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    m.publish(IN, &values[..1000]);
    m.restart(Duration::from_secs(2));
    m.publish(IN, &values[1000..]);
    drain_when(child, dir.path(), || distinct(&m) >= values.len());
    let copies = Copies::of(&m.received(), &values, 0);
    assert!(copies.missing.is_empty(), "missing: {:?}", &copies.missing[..copies.missing.len().min(10)]);
    let log = std::fs::read_to_string(dir.path().join("runs.log")).unwrap();
    assert!(log.contains("waiting for MQTT"), "the wait for the broker is logged: {log}");
}
