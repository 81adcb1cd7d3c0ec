//! A model swapped in a running job (`weir job upgrade --model`) against a real `weir serve`: the new
//! model labels from the batch the swap names on and none before, a model the plugin cannot read is
//! refused with the plugin's reason, and a server killed with SIGKILL restarts the job with the
//! swapped model.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use weir_tests::served::{Served, text};
use weir_tests::{plugin, read_jsonl, repo_root, weir_bin};

/// Trains a naive-Bayes model on the sentiment corpus, its labels flipped when `flip`.
fn train(dir: &Path, out: &str, flip: bool) {
    let corpus = std::fs::read_to_string(repo_root().join("tests/fixtures/models/sentiment.tsv")).unwrap();
    let lines: String = corpus
        .lines()
        .map(|l| {
            let (label, text) = l.split_once('\t').unwrap();
            let label = match (label, flip) {
                ("pos", true) => "neg",
                ("neg", true) => "pos",
                (label, _) => label,
            };
            format!("{label}\t{text}\n")
        })
        .collect();
    let tsv = dir.join(format!("{out}.tsv"));
    std::fs::write(&tsv, lines).unwrap();
    let args = ["model", "train", "naive-bayes", "--input", tsv.to_str().unwrap(), "--output", out];
    let done = Command::new(weir_bin()).args(args).current_dir(dir).output().unwrap();
    assert!(done.status.success(), "{}", text(&done.stderr));
}

/// Each batch's label of "a delightful, brilliant film", by batch time.
fn labels(file: &Path) -> Vec<(u64, String)> {
    read_jsonl(file)
        .iter()
        .map(|b| (b["time"].as_u64().unwrap(), b["records"][0]["key"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn a_swapped_model_labels_from_its_batch_on_and_a_restarted_server_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    train(dir.path(), "model.json", false);
    train(dir.path(), "flipped.json", true);
    std::fs::write(dir.path().join("bad.json"), "{\"classes\": 3}").unwrap();
    const BATCHES: u64 = 60;
    let input: String = (0..BATCHES).map(|_| "[\"a delightful, brilliant film\"]\n").collect();
    std::fs::write(dir.path().join("in.jsonl"), input).unwrap();
    let d = dir.path().display();
    let spec = format!(
        "[job]\nname = \"reviews\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n\
         [sources.texts]\nkind = \"scripted\"\npath = \"{d}/in.jsonl\"\npace = \"50ms\"\n\n\
         [streams.labelled]\nop = \"wasm\"\nfrom = \"texts\"\nplugin = \"nb@1\"\nmodel = \"{d}/model.json\"\n\n\
         [sinks.out]\nkind = \"jsonl\"\nfrom = \"labelled\"\npath = \"{d}/labels.jsonl\"\n"
    );
    std::fs::write(dir.path().join("reviews.toml"), spec).unwrap();
    let mut server = Served::start(&data, &[]);
    let nb = plugin("naive_bayes");
    server.ok(&["op", "push", nb.to_str().unwrap(), "--as", "nb@1"]);
    server.ok(&["job", "submit", dir.path().join("reviews.toml").to_str().unwrap()]);
    server.wait_for("reviews", Duration::from_secs(30), |s| s["batches"].as_u64().unwrap() >= 5);

    let bad = dir.path().join("bad.json");
    let refused = server.weir(&["job", "upgrade", "reviews", "labelled", "nb@1", "--model", bad.to_str().unwrap()]);
    let said = text(&refused.stderr);
    assert!(!refused.status.success() && said.contains("labelled") && said.contains("model"), "{said}");

    let flipped = dir.path().join("flipped.json");
    let upgraded = server.ok(&["job", "upgrade", "reviews", "labelled", "nb@1", "--model", flipped.to_str().unwrap()]);
    let from: u64 = upgraded.trim().rsplit(' ').next().unwrap().parse().unwrap();
    server.wait_for("reviews", Duration::from_secs(30), |s| s["batches"].as_u64().unwrap() >= from / 1000 + 5);
    server.kill9();

    let server = Served::start(&data, &[]);
    let end =
        server.wait_for("reviews", Duration::from_secs(60), |s| s["state"] != "running" && s["state"] != "starting");
    assert_eq!((end["state"].as_str(), end["restarts"].as_u64()), (Some("finished"), Some(1)), "{end}");
    let labels = labels(&dir.path().join("labels.jsonl"));
    assert_eq!(labels.iter().map(|(t, _)| *t).collect::<Vec<_>>(), (1..=BATCHES).map(|i| i * 1000).collect::<Vec<_>>());
    for (t, label) in &labels {
        let want = if *t < from { "pos" } else { "neg" };
        assert_eq!(label, want, "batch {t}: the model swapped at {from} labels from there on, after the restart too");
    }
}
