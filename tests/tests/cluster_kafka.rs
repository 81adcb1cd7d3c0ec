//! A Kafka topic read by a job across processes: each process reads its own partitions (partition `p`
//! on process `p mod processes`), its checkpoint offsets are merged into process 0's manifest, and with
//! `kill -9` of a random process while messages keep arriving, restarted by `weir cluster run
//! --restarts`, every message reaches the output topic exactly once. Tansu keeps topics in memory: the
//! broker is never restarted.

use weir_tests::broker::{Copies, checkpointed, copy_job, drain_when};
use weir_tests::crash::{Rng, cluster_of_two, env_or, kill_one_of_fresh, setup};
use weir_tests::tansu::{Publisher, Tansu};

/// A job copying the 4 partitions of topic `in` to topic `out`, 2 workers per process.
fn job(brokers: &str) -> String {
    let source = format!("kind = \"kafka\"\nbrokers = \"{brokers}\"\ntopic = \"in\"");
    let sink = format!("kind = \"kafka\"\nbrokers = \"{brokers}\"\ntopic = \"out\"");
    copy_job("100ms", 2, &source, &sink)
}

#[test]
fn each_process_reads_its_own_partitions_and_the_checkpoint_holds_them_all() {
    let tansu = Tansu::start();
    tansu.create_topic("in", 4);
    tansu.create_topic("out", 2);
    let values: Vec<String> = (0..2000).map(|i| format!("m{i:05}")).collect();
    tansu.publish("in", &values, Some(4));
    let dir = setup(&job(&tansu.brokers()));
    let child = cluster_of_two(dir.path(), &[]);
    drain_when(child, dir.path(), || tansu.read_all("out").len() >= values.len());

    Copies::of(&tansu.values("out"), &values, 0).assert_exactly_once();
    let log = std::fs::read_to_string(dir.path().join("runs.log")).unwrap();
    for (process, partitions) in [(0, "{0: 0, 2: 0}"), (1, "{1: 0, 3: 0}")] {
        let said = log.lines().any(|l| l.contains(&format!("reading from {partitions} (4 in all)")));
        assert!(said, "process {process} does not say it reads partitions {partitions}:\n{log}");
    }
    // Process 0 read partitions 0 and 2 only: the others' offsets came from process 1's lists.
    let offsets = checkpointed(dir.path(), "events");
    assert_eq!(offsets.keys().copied().collect::<Vec<_>>(), [0, 1, 2, 3], "{offsets:?}");
    assert_eq!(offsets.values().sum::<i64>(), 2000, "{offsets:?}");
    assert_eq!(tansu.committed("weir.copy.events", "in", 4), offsets, "the group holds what the checkpoint holds");
}

#[test]
fn a_cluster_killed_while_messages_arrive_writes_each_message_once() {
    let tansu = Tansu::start();
    tansu.create_topic("in", 4);
    tansu.create_topic("out", 4);
    let (kills, seed) = (env_or("WEIR_CLUSTER_KAFKA_KILLS", 10), env_or("WEIR_CRASH_SEED", 27));
    let values: Vec<String> = (0..env_or("WEIR_KAFKA_MESSAGES", 6000)).map(|i| format!("m{i:06}")).collect();
    let dir = setup(&job(&tansu.brokers()));
    let publisher = Publisher::new(&tansu.brokers());
    let mut launcher = cluster_of_two(dir.path(), &["--restarts", &(kills + 3).to_string()]);
    let see_log = || format!("see {}", dir.path().join("runs.log").display());
    let (mut rng, mut seen) = (Rng(seed | 1), Vec::new());
    let mut slices = values.chunks(values.len().div_ceil(kills as usize + 1));
    for _ in 0..kills {
        if let Some(slice) = slices.next() {
            publisher.send("in", slice, Some(4));
        }
        kill_one_of_fresh(&mut launcher, 2, &mut seen, &mut rng, 300..1500, &dir.path().join("runs.log"));
    }
    slices.for_each(|slice| publisher.send("in", slice, Some(4)));
    drain_when(launcher, dir.path(), || tansu.read_all("out").len() >= values.len());

    Copies::of(&tansu.values("out"), &values, kills).assert_exactly_once();
    let log = std::fs::read_to_string(dir.path().join("runs.log")).unwrap();
    assert_eq!(log.matches("weir cluster: restarting every process").count() as u64, kills, "{}", see_log());
    assert_eq!(checkpointed(dir.path(), "events").values().sum::<i64>(), values.len() as i64);
}
