//! Models trained offline and applied online: `weir model train` makes a naive-Bayes classifier and
//! k-means clusters, the `naive_bayes` and `kmeans` components apply them, and scikit-learn, run on the
//! same data, must agree record for record (`tests/python/model_parity.py`).

use std::path::Path;
use std::process::Command;

use weir_tests::{plugin, read_jsonl, repo_root, weir_bin};

fn weir(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(weir_bin()).args(args).current_dir(dir).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(out.status.success(), "weir {args:?}: {}{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

/// Runs the parity script; panics with what it printed when scikit-learn disagrees.
fn parity(dir: &Path, args: &[&str]) -> String {
    let script = repo_root().join("tests/python/model_parity.py");
    let out = Command::new("python3").arg(script).args(args).current_dir(dir).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "scikit-learn disagrees: {said}");
    println!("{said}");
    said
}

/// The sentiment corpus split: every fifth line held out.
fn split_corpus(dir: &Path) -> (usize, usize) {
    let corpus = std::fs::read_to_string(repo_root().join("tests/fixtures/models/sentiment.tsv")).unwrap();
    let (mut train, mut held) = (String::new(), String::new());
    for (i, line) in corpus.lines().enumerate() {
        let to = if i % 5 == 4 { &mut held } else { &mut train };
        to.push_str(line);
        to.push('\n');
    }
    std::fs::write(dir.join("train.tsv"), &train).unwrap();
    std::fs::write(dir.join("heldout.tsv"), &held).unwrap();
    let texts: Vec<&str> = held.lines().map(|l| l.split_once('\t').unwrap().1).collect();
    std::fs::write(dir.join("heldout.txt"), texts.join("\n") + "\n").unwrap();
    (train.lines().count(), texts.len())
}

#[test]
fn naive_bayes_labels_held_out_texts_as_scikit_learn_does_in_a_job_too() {
    let dir = tempfile::tempdir().unwrap();
    let (trained, held) = split_corpus(dir.path());
    let said = weir(dir.path(), &["model", "train", "naive-bayes", "--input", "train.tsv", "--output", "nb.json"]);
    assert!(said.contains(&format!("naive-bayes: {trained} texts, labels neg, pos")), "{said}");
    let component = plugin("naive_bayes").display().to_string();
    let out = weir(dir.path(), &["op", "test", &component, "--model", "nb.json", "--file", "heldout.txt"]);
    std::fs::write(dir.path().join("weir.jsonl"), &out).unwrap();
    let said = parity(dir.path(), &["naive-bayes", "train.tsv", "heldout.tsv", "weir.jsonl"]);
    assert!(said.contains(&format!("{held} held-out texts")) && said.contains("; 0 differ"), "{said}");

    // In a job: the model named by the stream, labels counted per label over a two-batch window.
    let lines: Vec<String> =
        std::fs::read_to_string(dir.path().join("heldout.txt")).unwrap().lines().map(String::from).collect();
    let script: Vec<String> = lines.chunks(8).map(|c| serde_json::to_string(c).unwrap()).collect();
    std::fs::write(dir.path().join("in.jsonl"), script.join("\n") + "\n").unwrap();
    let spec = format!(
        "[job]\nname = \"sentiment\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n\
         [sources.texts]\nkind = \"scripted\"\npath = \"in.jsonl\"\n\n\
         [streams.labelled]\nop = \"wasm\"\nfrom = \"texts\"\nplugin = \"{component}\"\nmodel = \"nb.json\"\n\n\
         [streams.per_label]\nop = \"reduce_by_key\"\nfrom = \"labelled\"\nreducer = \"count\"\n\
         window = {{ length = \"2s\", slide = \"1s\" }}\n\n\
         [sinks.out]\nkind = \"jsonl\"\nfrom = \"per_label\"\npath = \"out.jsonl\"\n"
    );
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    weir(dir.path(), &["run", "job.toml"]);
    let windows = read_jsonl(&dir.path().join("out.jsonl"));
    assert_eq!(windows.len(), script.len());
    // The last window holds the last two batches: its counts are the op test's labels for those texts.
    let from = 8 * (script.len() - 2);
    let predicted: Vec<serde_json::Value> =
        out.lines().filter(|l| !l.starts_with('#')).map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut want = std::collections::BTreeMap::<String, u64>::new();
    predicted[from..].iter().for_each(|r| *want.entry(r["key"].as_str().unwrap().into()).or_default() += 1);
    let got: std::collections::BTreeMap<String, u64> = windows.last().unwrap()["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_string(), r["value"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn kmeans_clusters_iris_and_wine_as_scikit_learn_does_from_the_same_start() {
    let dir = tempfile::tempdir().unwrap();
    let component = plugin("kmeans").display().to_string();
    for data in ["iris", "wine"] {
        let (csv, model, out) = (format!("{data}.csv"), format!("{data}.json"), format!("{data}.jsonl"));
        parity(dir.path(), &["dataset", data, &csv]);
        let said = weir(
            dir.path(),
            &["model", "train", "kmeans", "--input", &csv, "-k", "3", "--seed", "7", "--output", &model],
        );
        assert!(said.contains("k = 3"), "{said}");
        let assigned = weir(dir.path(), &["op", "test", &component, "--model", &model, "--file", &csv]);
        std::fs::write(dir.path().join(&out), assigned).unwrap();
        let said = parity(dir.path(), &["kmeans", &csv, &model, &out]);
        assert!(said.contains("; 0 differ; centroids equal: True"), "{said}");
    }
}

#[test]
fn a_bad_model_or_training_input_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.tsv"), "pos\tfine\nno tab here\n").unwrap();
    let out = Command::new(weir_bin())
        .args(["model", "train", "naive-bayes", "--input", "bad.tsv", "--output", "m.json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("bad.tsv:2: expected `label<TAB>text`"), "{err}");
    std::fs::write(dir.path().join("m.json"), "{\"centroids\": 3}").unwrap();
    let component = plugin("kmeans").display().to_string();
    let out = Command::new(weir_bin())
        .args(["op", "test", &component, "--model", "m.json", "--text", "1,2"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("the kmeans model is not readable"), "{err}");
}
