//! The Kafka source and sink against a real Kafka-protocol broker (Tansu, on loopback, memory storage):
//! every partition read, bad messages to the dead letters, offsets committed to the group only after
//! Weir's checkpoint holds them, and — with `kill -9` at random moments while messages keep arriving —
//! every published message in the output topic exactly once. Tansu keeps topics in memory, so these
//! tests restart Weir, never the broker.

use std::process::Stdio;

use weir_tests::broker::{
    Copies, assert_good_once_and_bad_dead, checkpointed, copy_job, drain_when, kill_while_publishing, some_malformed,
};
use weir_tests::crash::{env_or, setup, weir};
use weir_tests::tansu::Tansu;

/// A job copying topic `in` to topic `out`.
fn job(brokers: &str, interval: &str, every: u64, format: &str) -> String {
    let source = format!("kind = \"kafka\"\nbrokers = \"{brokers}\"\ntopic = \"in\"\nformat = \"{format}\"");
    let sink = format!("kind = \"kafka\"\nbrokers = \"{brokers}\"\ntopic = \"out\"");
    copy_job(interval, every, &source, &sink)
}

#[test]
fn every_partition_is_read_bad_messages_are_dead_letters_and_offsets_commit_after_the_checkpoint() {
    let tansu = Tansu::start();
    tansu.create_topic("in", 3);
    tansu.create_topic("out", 2);
    let values = some_malformed();
    tansu.publish("in", &values, Some(3));
    let dir = setup(&job(&tansu.brokers(), "200ms", 1, "json"));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    drain_when(child, dir.path(), || tansu.read_all("out").len() >= 1980);

    let out = tansu.read_all("out");
    assert!(out.iter().all(|r| r.headers.get("weir-sink").map(String::as_str) == Some("copy/out")));
    assert_good_once_and_bad_dead(tansu.values("out"), &values, dir.path());
    // The group holds what the last checkpoint holds: every partition read to its end.
    let committed = tansu.committed("weir.copy.events", "in", 3);
    assert_eq!(committed, checkpointed(dir.path(), "events"));
    assert_eq!(committed.values().sum::<i64>(), 2000, "{committed:?}");
}

#[test]
fn killed_at_random_moments_while_messages_arrive_the_output_holds_each_message_once() {
    let tansu = Tansu::start();
    tansu.create_topic("in", 3);
    tansu.create_topic("out", 3);
    let total = env_or("WEIR_KAFKA_MESSAGES", 6000) as usize;
    let kills = env_or("WEIR_KAFKA_KILLS", 6);
    let values: Vec<String> = (0..total).map(|i| format!("m{i:06}")).collect();
    let dir = setup(&job(&tansu.brokers(), "100ms", 3, "text"));
    let publisher = weir_tests::tansu::Publisher::new(&tansu.brokers());
    let seed = env_or("WEIR_KAFKA_SEED", 11);
    let log = kill_while_publishing(dir.path(), kills, seed, &values, |slice| publisher.publish("in", slice));
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    drain_when(child, dir.path(), || tansu.read_all("out").len() >= total);

    Copies::of(&tansu.values("out"), &values, kills).assert_exactly_once();
    assert_eq!(tansu.committed("weir.copy.events", "in", 3).values().sum::<i64>(), total as i64);
}

#[test]
fn event_time_from_the_brokers_timestamps_puts_each_message_in_its_own_window() {
    let tansu = Tansu::start();
    // One partition: the messages come in the order they were published.
    tansu.create_topic("in", 1);
    // 100 messages 100 ms apart in event time, a and b in turn, published out of their time order
    // (every tenth one a second late, within the watermark's 2 s), so only the timestamps can put them
    // in the right windows; then one at BASE + 20 s moves the watermark past all of them.
    const BASE: i64 = 1_800_000_000_000;
    let mut values: Vec<(String, Option<i64>)> =
        (0..100).map(|i| (if i % 2 == 0 { "a" } else { "b" }.to_string(), Some(BASE + i * 100))).collect();
    values.sort_by_key(|(_, at)| at.unwrap() + if at.unwrap() % 1000 == 0 { 1000 } else { 0 });
    values.push(("c".to_string(), Some(BASE + 20_000)));
    weir_tests::tansu::Publisher::new(&tansu.brokers()).send_at("in", &values, None);
    let spec = format!(
        "[job]\nname = \"stamped\"\nbatch_interval = \"200ms\"\n\n\
         [watermark]\ndelay = \"2s\"\n\n\
         [sources.events]\nkind = \"kafka\"\nbrokers = \"{}\"\ntopic = \"in\"\nevent_time = \"@timestamp\"\n\n\
         [streams.keyed]\nop = \"map_to_pair\"\nfrom = \"events\"\n\n\
         [streams.windows]\nop = \"event_window\"\nfrom = \"keyed\"\nreducer = \"count\"\nlength = \"1s\"\n\n\
         [sinks.out]\nkind = \"jsonl\"\nfrom = \"windows\"\npath = \"windows.jsonl\"\n",
        tansu.brokers()
    );
    let dir = setup(&spec);
    let out = dir.path().join("windows.jsonl");
    let windows = || -> Vec<(String, i64, u64)> {
        let batches = if out.exists() { weir_tests::read_jsonl(&out) } else { vec![] };
        let records = batches.iter().flat_map(|b| b["records"].as_array().unwrap().clone());
        let mut w: Vec<_> = records
            .map(|r| {
                let v = &r["value"];
                (r["key"].as_str().unwrap().to_string(), v["start"].as_i64().unwrap(), v["value"].as_u64().unwrap())
            })
            .collect();
        w.sort();
        w
    };
    let child = weir(dir.path(), &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    drain_when(child, dir.path(), || windows().len() >= 20);
    let want: Vec<(String, i64, u64)> =
        ["a", "b"].iter().flat_map(|k| (0..10).map(move |s| (k.to_string(), BASE + s * 1000, 5))).collect();
    assert_eq!(windows(), want, "five a and five b in every second of event time, each window once");
}
