//! Swapping a plugin in a running job (`JobHandle::swap`): the new version runs from one batch on —
//! every batch before it ran the old one, none is lost or run twice — the keyed state goes on, the
//! checkpoints from there record the new version, and a component that does not fit is refused with
//! the reason while the job runs on.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use weir::event::JobEvent;
use weir::job::{Env, Job, RunOptions};
use weir_tests::{plugin, read_jsonl};

const BATCHES: u64 = 40;

fn counts(records: &serde_json::Value) -> BTreeMap<String, u64> {
    let records = records.as_array().unwrap().iter();
    records.map(|r| (r["key"].as_str().unwrap().to_string(), r["value"].as_u64().unwrap())).collect()
}

#[test]
fn a_swapped_plugin_runs_from_one_batch_on_and_the_state_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let input: String = (0..BATCHES).map(|_| "[\"The THE the\"]\n").collect();
    std::fs::write(dir.path().join("input.jsonl"), input).unwrap();
    let spec = format!(
        "[job]\nname = \"swap\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n\
         [sources.lines]\nkind = \"scripted\"\npath = \"input.jsonl\"\npace = \"50ms\"\n\n\
         [streams.words]\nop = \"wasm\"\nfrom = \"lines\"\nplugin = \"{}\"\n\n\
         [streams.pairs]\nop = \"map_to_pair\"\nfrom = \"words\"\n\n\
         [streams.counts]\nop = \"reduce_by_key\"\nfrom = \"pairs\"\nreducer = \"sum\"\n\n\
         [streams.totals]\nop = \"update_state_by_key\"\nfrom = \"pairs\"\nupdater = \"sum\"\n\n\
         [sinks.out]\nkind = \"jsonl\"\nfrom = \"counts\"\npath = \"counts.jsonl\"\n\n\
         [sinks.running]\nkind = \"jsonl\"\nfrom = \"totals\"\npath = \"totals.jsonl\"\n\n\
         [checkpoint]\ndir = \"checkpoints\"\nevery = 1\n",
        plugin("tokenize").display()
    );
    let path = dir.path().join("job.toml");
    std::fs::write(&path, &spec).unwrap();
    let plan = weir::graph::parse(&path, &spec).unwrap();
    let job = Job::start(plan, RunOptions::default(), &Env::process().unwrap()).unwrap();
    let mut events = job.subscribe();
    let deadline = Instant::now() + Duration::from_secs(20);
    while job.status().batches < 10 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }

    // What does not fit is refused, naming why; the job runs on.
    let wait = Duration::from_secs(10);
    let refused = job.swap("words", &plugin("word_sum"), wait).unwrap_err().to_string();
    assert!(refused.contains("stream `words`") && refused.contains("this op needs a `transform`"), "{refused}");
    let refused = job.swap("pairs", &plugin("tokenize_v2"), wait).unwrap_err().to_string();
    assert!(refused.contains("runs no plugin"), "{refused}");
    let refused = job.swap("nope", &plugin("tokenize_v2"), wait).unwrap_err().to_string();
    assert!(refused.contains("no such stream"), "{refused}");

    let from = job.swap("words", &plugin("tokenize_v2"), wait).unwrap();
    let swapped = loop {
        match events.try_recv() {
            Ok(JobEvent::PluginSwapped { stream, from_batch, version, .. }) => break (stream, from_batch, version),
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(swapped, ("words".to_string(), from, "0.2.0".to_string()));
    let report = job.wait().unwrap();
    assert_eq!(report.batches, BATCHES);

    // Each batch ran one version: the old one before `from`, the new one from it on.
    let batches = read_jsonl(&dir.path().join("counts.jsonl"));
    let times: Vec<u64> = batches.iter().map(|b| b["time"].as_u64().unwrap()).collect();
    assert_eq!(times, (1..=BATCHES).map(|i| i * 1000).collect::<Vec<_>>(), "every batch once");
    let old: BTreeMap<String, u64> = [("THE", 1), ("The", 1), ("the", 1)].map(|(w, n)| (w.to_string(), n)).into();
    let new: BTreeMap<String, u64> = [("the".to_string(), 3)].into();
    for (t, b) in times.iter().zip(&batches) {
        let want = if *t < from { &old } else { &new };
        assert_eq!(&counts(&b["records"]), want, "batch {t} (swapped from {from})");
    }
    assert!((11_000..=BATCHES * 1000).contains(&from), "swapped at {from}");

    // The running totals went on through the swap.
    let before = from / 1000 - 1;
    let last = read_jsonl(&dir.path().join("totals.jsonl")).pop().unwrap();
    let want: BTreeMap<String, u64> = [("THE", before), ("The", before), ("the", before + 3 * (BATCHES - before))]
        .map(|(w, n)| (w.to_string(), n))
        .into();
    assert_eq!(counts(&last["records"]), want);

    // The last checkpoint records the new version.
    let newest = std::fs::read_dir(dir.path().join("checkpoints")).unwrap().map(|e| e.unwrap().path());
    let newest = newest.filter(|p| p.join("manifest.json").is_file()).max().unwrap().join("manifest.json");
    let text = std::fs::read_to_string(&newest).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(weir::checkpoint::file::open_json(&newest, &text).unwrap()).unwrap();
    assert_eq!(manifest["plugins"]["words"]["version"], "0.2.0");
}
