//! The `weir` binary end to end: bad specs are refused naming the problem, NetworkWordCount counts words
//! sent over TCP (and survives the sender reconnecting), and the directory source counts each new file
//! exactly once.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use weir_tests::spec::word_pairs;
use weir_tests::{read_jsonl, repo_root, weir_bin, with_operators};

fn run_spec_text(spec: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.toml");
    std::fs::write(&path, with_operators(spec)).unwrap();
    let out = Command::new(weir_bin()).arg("run").arg(&path).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

const GOOD: &str = r#"
[job]
name = "j"
batch_interval = "1s"
clock = "manual"

[sources.in]
kind = "generator"
rate = 10
limit = 10

[streams.words]
op = "wasm"
from = "in"
plugin = "{operators}/tokenize.wasm"

[streams.n]
op = "count"
from = "words"

[sinks.out]
kind = "print"
from = "n"
"#;

fn refused(spec: &str, needles: &[&str]) {
    let (code, stderr) = run_spec_text(spec);
    assert_eq!(code, 2, "expected exit code 2, stderr: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks {n:?}: {stderr}");
    }
}

#[test]
fn a_good_spec_runs_to_the_end_of_its_input() {
    let (code, stderr) = run_spec_text(GOOD);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_generator_prefix_with_a_space_is_refused_naming_the_field() {
    refused(&GOOD.replace("rate = 10", "rate = 10\nprefix = \"two words\""), &["sources.in.prefix", "no spaces"]);
}

#[test]
fn processes_out_of_range_are_refused_naming_the_field() {
    for bad in ["0", "65"] {
        let spec = GOOD.replace("clock = \"manual\"", &format!("clock = \"manual\"\nprocesses = {bad}"));
        refused(&spec, &["job.processes", &format!("must be between 1 and 64, not {bad}")]);
    }
}

#[test]
fn unknown_field_is_refused_naming_field_and_line() {
    refused(
        &GOOD.replace("rate = 10", "rate = 10\ncolour = \"red\""),
        &["unknown field `colour`", ":10: `sources.in.colour`"],
    );
}

#[test]
fn a_mistyped_field_is_refused_naming_its_path_and_its_own_line() {
    refused(&GOOD.replace("rate = 10", "rate = \"ten\""), &[":9: `sources.in.rate`", "invalid type: string \"ten\""]);
    refused(
        &GOOD.replace(
            "op = \"count\"\nfrom = \"words\"",
            "op = \"repartition\"\nfrom = \"words\"\npartitions = \"four\"",
        ),
        &[":20: `streams.n.partitions`", "expected usize"],
    );
    refused(&GOOD.replace("clock = \"manual\"", "clock = \"manual\"\nworkers = \"two\""), &[":6: `job.workers`"]);
}

#[test]
fn missing_source_is_refused_naming_the_stream() {
    refused(
        &GOOD.replace("from = \"in\"", "from = \"nowhere\""),
        &["`streams.words.from`", "no source or stream named `nowhere`", ":14:"],
    );
}

#[test]
fn a_max_rate_of_zero_is_refused_naming_the_line() {
    let spec = "[job]\nname = \"x\"\nbatch_interval = \"1s\"\n\n[sources.s]\nkind = \"socket\"\nport = 9\nmax_rate = 0\n\n\
                [sinks.o]\nkind = \"print\"\nfrom = \"s\"\n";
    refused(spec, &[":8: `sources.s.max_rate`", "expected a nonzero u64"]);
}

#[test]
fn window_not_a_multiple_of_the_interval_is_refused() {
    refused(
        &GOOD.replace("from = \"words\"", "from = \"words\"\nwindow = { length = \"1500ms\" }"),
        &["`streams.n.window`", "not a positive multiple of the batch interval"],
    );
}

#[test]
fn a_window_must_fit_its_input_slide() {
    let spec = GOOD.replace(
        "[streams.n]\nop = \"count\"\nfrom = \"words\"",
        "[streams.w]\nop = \"count_by_value\"\nfrom = \"words\"\nwindow = { length = \"4s\", slide = \"2s\" }\n\n[streams.n]\nop = \"count\"\nfrom = \"w\"\nwindow = { length = \"3s\" }",
    );
    refused(
        &spec,
        &["`streams.n.window`", "window length 3000 ms is not a positive multiple of its input's slide (2000 ms)"],
    );
}

#[test]
fn a_window_stream_without_a_window_or_with_a_bad_reducer_is_refused() {
    refused(&GOOD.replace("op = \"count\"", "op = \"window\""), &["missing field `window`"]);
    refused(
        &GOOD.replace("op = \"count\"", "op = \"reduce\"\nreducer = \"average\""),
        &["unknown variant `average`", "`sum`, `count`, `min`, `max`"],
    );
}

#[test]
fn multi_input_streams_need_the_right_inputs_with_the_same_slide() {
    let join_one = GOOD.replace("op = \"count\"\nfrom = \"words\"", "op = \"join\"\nfrom = [\"words\"]");
    refused(&join_one, &["`streams.n.from`", "this op reads 2 inputs, not 1"]);
    let union_missing =
        GOOD.replace("op = \"count\"\nfrom = \"words\"", "op = \"union\"\nfrom = [\"words\", \"nope\"]");
    refused(&union_missing, &["`streams.n.from`", "no source or stream named `nope`"]);
    let spec = GOOD.replace(
        "[streams.n]\nop = \"count\"\nfrom = \"words\"",
        "[streams.w]\nop = \"window\"\nfrom = \"words\"\nwindow = { length = \"2s\", slide = \"2s\" }\n\n[streams.n]\nop = \"union\"\nfrom = [\"w\", \"words\"]",
    );
    refused(&spec, &["`streams.n.from`", "`w` slides every 2000 ms, `words` every 1000 ms"]);
    let cycle = GOOD.replace("op = \"count\"\nfrom = \"words\"", "op = \"union\"\nfrom = [\"words\", \"n\"]");
    refused(&cycle, &["depends on itself"]);
    let zero =
        GOOD.replace("op = \"count\"\nfrom = \"words\"", "op = \"repartition\"\nfrom = \"words\"\npartitions = 0");
    refused(&zero, &["`streams.n.partitions`", "must be at least 1"]);
}

#[test]
fn an_inverse_needs_a_window_and_an_invertible_reducer() {
    let max = GOOD.replace(
        "op = \"count\"\nfrom = \"words\"",
        "op = \"reduce_by_key\"\nfrom = \"words\"\nreducer = \"max\"\nwindow = { length = \"2s\" }\ninverse = true",
    );
    refused(&max, &["`streams.n.inverse`", "reducer `max` has no inverse"]);
    let no_window = GOOD.replace(
        "op = \"count\"\nfrom = \"words\"",
        "op = \"reduce_by_key\"\nfrom = \"words\"\nreducer = \"sum\"\ninverse = true",
    );
    refused(&no_window, &["`streams.n.inverse`", "needs a `window`"]);
    let filter_alone = GOOD.replace(
        "op = \"count\"\nfrom = \"words\"",
        "op = \"reduce_by_key\"\nfrom = \"words\"\nreducer = \"sum\"\nwindow = { length = \"2s\" }\nfilter = \"non_zero\"",
    );
    refused(&filter_alone, &["`streams.n.filter`", "only with `inverse = true`"]);
    let timeout = GOOD.replace(
        "op = \"count\"\nfrom = \"words\"",
        "op = \"map_with_state\"\nfrom = \"words\"\nfunction = \"sum\"\ntimeout = \"1500ms\"",
    );
    refused(&timeout, &["`streams.n.timeout`", "not a positive multiple of the batch interval"]);
}

/// `GOOD` with stream `n` as `op` with `fields`, keeping any state in a temporary directory.
fn with_n(op: &str, fields: &str) -> String {
    let spec = GOOD.replace("op = \"count\"\nfrom = \"words\"", &format!("op = \"{op}\"\nfrom = \"words\"\n{fields}"));
    spec + "\n[state]\nephemeral = true\n"
}

#[test]
fn a_stateful_stream_with_nowhere_durable_to_keep_its_state_is_refused() {
    for (op, function) in [("update_state_by_key", "updater"), ("map_with_state", "function")] {
        let spec = GOOD.replace(
            "op = \"count\"\nfrom = \"words\"",
            &format!("op = \"{op}\"\nfrom = \"words\"\n{function} = \"sum\""),
        );
        // The line of the stream's `op`.
        let line = spec.lines().position(|l| l == format!("op = \"{op}\"")).unwrap() + 1;
        refused(&spec, &["`streams.n.op`", "nowhere durable", "ephemeral = true", &format!(":{line}")]);
        for durable in ["[state]\ndir = \"state\"", "[checkpoint]\ndir = \"ck\"", "[state]\nephemeral = true"] {
            let (code, stderr) = run_spec_text(&format!("{spec}\n{durable}\n"));
            assert_eq!(code, 0, "{durable}: {stderr}");
        }
    }
}

#[test]
fn built_in_expressions_are_checked_before_the_job_runs() {
    refused(&with_n("filter", "where = \"value >\""), &["`streams.n.where`", "`value >`: cannot parse"]);
    refused(
        &with_n("filter", "where = \"price > 3\""),
        &["`streams.n.where`", "unknown variable `price`", "value.FIELD"],
    );
    refused(&with_n("map", "key = \"str::trim(value)\"\nvalue = \"1 +\""), &["`streams.n.value`", "cannot parse"]);
    refused(&with_n("map", ""), &["`streams.n.value`", "a map needs a `key` or a `value`"]);
    refused(&with_n("filter", ""), &["missing field `where`"]);
}

#[test]
fn a_keyed_function_is_a_built_in_or_a_plugin_exactly_once() {
    refused(&with_n("reduce_by_key", ""), &["`streams.n.reducer`", "missing `reducer`", "or `plugin`"]);
    refused(&with_n("update_state_by_key", ""), &["`streams.n.updater`", "missing `updater`"]);
    refused(&with_n("map_with_state", ""), &["`streams.n.function`", "missing `function`"]);
    let both = with_n("reduce_by_key", "reducer = \"sum\"\nplugin = \"{operators}/word_sum.wasm\"");
    refused(&both, &["`streams.n.plugin`", "give `reducer` or `plugin`, not both"]);
    let missing = with_n("reduce_by_key", "plugin = \"nowhere.wasm\"");
    refused(&missing, &["`streams.n.plugin`", "no plugin file at"]);
    let filtered = with_n(
        "reduce_by_key",
        "plugin = \"{operators}/word_sum.wasm\"\nwindow = { length = \"2s\" }\ninverse = true\nfilter = \"non_zero\"",
    );
    refused(&filtered, &["`streams.n.filter`", "works with a built-in reducer"]);
}

#[test]
fn a_plugin_that_does_not_fit_its_op_stops_the_job_naming_world_and_kind() {
    let cases = [
        (
            "reduce_by_key",
            "plugin = \"{operators}/tokenize.wasm\"",
            "is a `transform` of kind `flat-map`; this op needs a `reducer`",
        ),
        (
            "update_state_by_key",
            "plugin = \"{operators}/session_total.wasm\"",
            "kind `map-with-state`; this op needs a `state-updater` of kind `update-state`",
        ),
        ("map_with_state", "plugin = \"{operators}/word_sum.wasm\"", "is a `reducer` of kind `reduce-invertible`"),
    ];
    for (op, fields, needle) in cases {
        refused(&with_n(op, fields), &["stream `n`", needle]);
    }
    let transform_as_reducer = GOOD.replace("{operators}/tokenize.wasm", "{operators}/word_sum.wasm");
    refused(&transform_as_reducer, &["this op needs a `transform`"]);
}

#[test]
fn a_file_that_is_not_a_component_is_refused_in_one_line_naming_stream_file_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    // The smallest core module: magic and version 1.
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let text = dir.path().join("notes.wasm");
    std::fs::write(&text, "not wasm at all\n").unwrap();
    for (file, says) in [(&core, "is a core Wasm module, not a component"), (&text, "is not a WebAssembly file")] {
        let spec = GOOD.replace("{operators}/tokenize.wasm", &file.display().to_string());
        let (code, stderr) = run_spec_text(&spec);
        assert_eq!(code, 2, "{stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        for needle in ["stream `words`", &file.display().to_string(), says, "weir op build", "wasm32-wasip2"] {
            assert!(errors[0].contains(needle), "lacks {needle:?}: {stderr}");
        }
        assert_eq!(stderr.lines().count(), 1, "more than one line: {stderr}");
    }
}

#[test]
fn every_example_spec_is_a_valid_job() {
    let mut checked = 0;
    for entry in std::fs::read_dir(repo_root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            weir::graph::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} example specs");
}

#[test]
fn a_sink_that_cannot_open_fails_the_job_cleanly() {
    let spec = GOOD.replace("[job]\nname = \"j\"", "[job]\nname = \"j\"\nworkers = 2").replace(
        "[sinks.out]\nkind = \"print\"\nfrom = \"n\"",
        "[sinks.out]\nkind = \"jsonl\"\nfrom = \"n\"\npath = \"no/such/dir/out.jsonl\"",
    );
    let (code, stderr) = run_spec_text(&spec);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("sink `out` cannot write") && stderr.contains("no/such/dir/out.jsonl"), "{stderr}");
}

#[test]
fn an_unreadable_scripted_file_fails_the_job() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("script")).unwrap();
    let spec = "[job]\nname = \"s\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n[sources.in]\nkind = \"scripted\"\npath = \"script\"\n\n[sinks.out]\nkind = \"print\"\nfrom = \"in\"\n";
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let out = Command::new(weir_bin()).args(["run", "job.toml"]).current_dir(dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("source `in` cannot read"), "{stderr}");
}

#[test]
fn missing_operator_file_is_refused() {
    refused(
        &GOOD.replace("tokenize.wasm", "no-such-op.wasm"),
        &["`streams.words.plugin`", "no plugin file", "no-such-op.wasm"],
    );
}

#[test]
fn a_job_without_sources_or_sinks_is_refused() {
    refused("[job]\nname = \"x\"\nbatch_interval = \"1s\"\n", &["no source"]);
    refused(&GOOD.replace("[sinks.out]\nkind = \"print\"\nfrom = \"n\"\n", ""), &["no sink"]);
}

#[test]
fn malformed_duration_and_unknown_source_kind_are_refused() {
    refused(&GOOD.replace("\"1s\"", "\"soon\""), &["invalid duration `soon`"]);
    refused(&GOOD.replace("kind = \"generator\"", "kind = \"pulsar\""), &["unknown variant `pulsar`"]);
}

/// Sums `(word,count)` lines of Spark-style print output.
fn sum_printed(stdout: &str) -> BTreeMap<String, i64> {
    let mut totals = BTreeMap::new();
    for line in stdout.lines() {
        if let Some(pair) = line.strip_prefix('(').and_then(|l| l.strip_suffix(')')) {
            let (w, n) = pair.rsplit_once(',').unwrap();
            *totals.entry(w.to_string()).or_insert(0) += n.parse::<i64>().unwrap();
        }
    }
    totals
}

fn accept_within(listener: &TcpListener, limit: Duration) -> std::net::TcpStream {
    listener.set_nonblocking(true).unwrap();
    let start = Instant::now();
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return s;
            }
            Err(_) if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("weir did not connect within {limit:?}: {e}"),
        }
    }
}

/// Runs a socket-fed line count against a listener of ours, sends `lines` lines in bursts (the very
/// last without its newline), signals `signal` right after, and returns the exit status, the lines
/// counted and how long the job took to stop.
fn count_then_signal(signal: &str, extra: &[&str], lines: usize) -> (std::process::ExitStatus, i64, Duration) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let spec = format!(
        "[job]\nname = \"drain\"\nbatch_interval = \"2s\"\nworkers = 2\n\n[sources.lines]\nkind = \"socket\"\nport = {port}\n\n\
         [streams.n]\nop = \"count\"\nfrom = \"lines\"\n\n[sinks.out]\nkind = \"jsonl\"\nfrom = \"n\"\npath = \"out.jsonl\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let child = Command::new(weir_bin())
        .args(["run", "job.toml"])
        .args(extra)
        .current_dir(dir.path())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut conn = accept_within(&listener, Duration::from_secs(10));
    let burst = "a line of text\n".repeat(lines / 4);
    for i in 0..4 {
        let text = if i < 3 { &burst[..] } else { burst.strip_suffix('\n').unwrap() };
        conn.write_all(text.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    let sent = Instant::now();
    assert!(Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
    let status = child.wait_with_output().unwrap().status;
    let took = sent.elapsed();
    let counted = read_jsonl(&dir.path().join("out.jsonl"))
        .iter()
        .flat_map(|b| b["records"].as_array().unwrap().clone())
        .map(|n| n.as_i64().unwrap())
        .sum();
    (status, counted, took)
}

#[test]
fn sigterm_drains_the_job_so_everything_sent_before_it_is_counted() {
    let (status, counted, took) = count_then_signal("-TERM", &[], 40_000);
    assert!(status.success(), "{status:?}");
    assert_eq!(counted, 40_000);
    assert!(took < Duration::from_secs(5), "took {took:?} to drain");
    let (status, counted, _) = count_then_signal("-INT", &[], 40_000);
    assert!(status.success(), "{status:?}");
    assert_eq!(counted, 40_000, "Ctrl-C drains too");
}

#[test]
fn no_drain_stops_at_the_batch_boundary_without_waiting_for_the_sources() {
    let (status, counted, took) = count_then_signal("-TERM", &["--no-drain"], 40_000);
    assert!(status.success(), "{status:?}");
    // The last line, still waiting for its newline in the receiver, is dropped.
    assert!(counted < 40_000, "{counted}");
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
}

#[test]
fn network_wordcount_counts_words_sent_over_tcp_across_a_reconnect() {
    let listener = TcpListener::bind("127.0.0.1:9999").expect("port 9999 (as in the example) must be free");
    let mut child = Command::new(weir_bin())
        .args(["run", "examples/network_wordcount.toml", "--duration", "6s"])
        .current_dir(repo_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = accept_within(&listener, Duration::from_secs(5));
    for _ in 0..3 {
        first.write_all(b"hello world hello\n").unwrap();
    }
    drop(first);
    let mut second = accept_within(&listener, Duration::from_secs(3));
    second.write_all(b"world again\r\n").unwrap();
    second.flush().unwrap();
    let status = child.wait().unwrap();
    let mut stdout = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        stdout.push_str(&line.unwrap());
        stdout.push('\n');
    }
    assert!(status.success(), "weir exited with {status}");
    assert!(stdout.contains("Time: ") && stdout.contains(" ms\n"), "{stdout}");
    let totals = sum_printed(&stdout);
    let want: BTreeMap<String, i64> =
        [("again", 1), ("hello", 6), ("world", 4)].into_iter().map(|(w, n)| (w.to_string(), n)).collect();
    assert_eq!(totals, want, "{stdout}");
}

fn drop_file(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.partial"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

#[test]
fn directory_source_counts_each_new_file_once() {
    let work = tempfile::tempdir().unwrap();
    let incoming = work.path().join("incoming");
    std::fs::create_dir(&incoming).unwrap();
    drop_file(&incoming, "old.txt", "old old\n");
    let spec = format!(
        r#"
[job]
name = "dir"
batch_interval = "200ms"
workers = 2

[sources.files]
kind = "directory"
path = "incoming"
{pairs}
[streams.counts]
op = "reduce_by_key"
from = "pairs"
reducer = "sum"

[sinks.out]
kind = "jsonl"
from = "counts"
path = "out.jsonl"
"#,
        pairs = word_pairs("files", None)
    );
    std::fs::write(work.path().join("job.toml"), spec).unwrap();
    let mut child = Command::new(weir_bin())
        .args(["run", "job.toml", "--duration", "3s"])
        .current_dir(work.path())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    drop_file(&incoming, "a.txt", "apple banana\napple\n");
    std::thread::sleep(Duration::from_millis(450));
    drop_file(&incoming, "b.txt", "banana cherry");
    drop_file(&incoming, "c.txt", "apple\n");
    std::fs::write(incoming.join(".hidden"), "ghost\n").unwrap();
    assert!(child.wait().unwrap().success());
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    for batch in read_jsonl(&work.path().join("out.jsonl")) {
        for r in batch["records"].as_array().unwrap() {
            *totals.entry(r["key"].as_str().unwrap().to_string()).or_insert(0) += r["value"].as_i64().unwrap();
        }
    }
    let want: BTreeMap<String, i64> =
        [("apple", 3), ("banana", 2), ("cherry", 1)].into_iter().map(|(w, n)| (w.to_string(), n)).collect();
    assert_eq!(totals, want);
}

#[test]
fn every_documented_spec_check_is_reached() {
    refused(&GOOD.replace("name = \"j\"", "name = \" \""), &[":3: `job.name`", "must not be empty"]);
    refused(
        &GOOD.replace("name = \"j\"", "name = \"j\"\nworkers = 65"),
        &["`job.workers`", "between 1 and 64, not 65"],
    );
    refused(
        &GOOD.replace("kind = \"generator\"\nrate = 10\nlimit = 10", "kind = \"socket\"\nport = 9"),
        &["`sources.in.kind`", "a socket or broker source needs the realtime clock"],
    );
    refused(
        &GOOD.replace("[streams.n]", "[streams.in]").replace("from = \"n\"", "from = \"in\""),
        &["`streams.in.`", "is already the name of a source"],
    );
    refused(
        &GOOD.replace("[sinks.out]\nkind = \"print\"\nfrom = \"n\"", "[sinks.out]\nkind = \"print\"\nfrom = \"nope\""),
        &["`sinks.out.from`", "no source or stream named `nope`"],
    );
}

#[test]
fn connector_specs_are_refused_naming_the_field() {
    let spec = |source: &str, sink: &str| {
        format!(
            "[job]\nname = \"c\"\nbatch_interval = \"1s\"\n\n[sources.in]\n{source}\n\n[sinks.out]\nfrom = \"in\"\n{sink}\n"
        )
    };
    let print = "kind = \"print\"";
    let kafka = "kind = \"kafka\"\nbrokers = \"127.0.0.1:9\"\ntopic = \"t\"";
    refused(
        &spec("kind = \"kafka\"\nbrokers = \" \"\ntopic = \"t\"", print),
        &["`sources.in.brokers`", "at least one broker"],
    );
    refused(
        &spec("kind = \"kafka\"\nbrokers = \"b:9\"\ntopic = \"\"", print),
        &["`sources.in.topic`", "name the topic"],
    );
    refused(
        &spec("kind = \"nats\"\nstream = \"a.b\"\nsubject = \"s\"", print),
        &["`sources.in.stream`", "no spaces, `.`, `*`, `>` or slashes"],
    );
    refused(&spec("kind = \"nats\"\nstream = \"S\"\nsubject = \"a b\"", print), &["`sources.in.subject`"]);
    refused(&spec("kind = \"redis\"\nstream = \"\"", print), &["`sources.in.stream`", "name the stream's key"]);
    refused(&spec("kind = \"rabbitmq\"\nqueue = \"q\"\nprefetch = 0", print), &["`sources.in.prefetch`", "at least 1"]);
    refused(&spec("kind = \"rabbitmq\"\nqueue = \"\"", print), &["`sources.in.queue`", "name the queue"]);
    refused(&spec(kafka, "kind = \"webhook\"\nurl = \"ftp://x\""), &["`sinks.out.url`", "http:// or https://"]);
    refused(&spec(kafka, "kind = \"kafka\"\nbrokers = \"b:9\"\ntopic = \"\""), &["`sinks.out.topic`"]);
    refused(&spec(kafka, "kind = \"kafka\"\nbrokers = \"b:9\""), &["missing field `topic`"]);
    refused(&spec("kind = \"mqtt\"\ntopic = \"a/b#\"", print), &["`sources.in.topic`", "`#` for the last ones"]);
    refused(&spec("kind = \"mqtt\"\ntopic = \"a/+x\"", print), &["`sources.in.topic`", "a whole level"]);
    refused(&spec(kafka, "kind = \"mqtt\"\ntopic = \"a/+\""), &["`sinks.out.topic`", "only filter"]);
}

#[test]
fn print_shows_the_first_num_records_and_says_there_are_more() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.jsonl"), "[1, 2, 3, 4, 5]\n").unwrap();
    let spec = "[job]\nname = \"p\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n[sources.in]\nkind = \"scripted\"\npath = \"in.jsonl\"\n\n[sinks.out]\nkind = \"print\"\nfrom = \"in\"\nnum = 2\n";
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let out = Command::new(weir_bin()).args(["run", "job.toml"]).current_dir(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| !l.starts_with('-') && !l.starts_with("Time") && !l.is_empty()).collect::<Vec<_>>(),
        ["1", "2", "..."],
        "{stdout}"
    );
}

#[test]
fn the_directory_source_skips_files_still_being_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    for (name, word) in [("a.txt", "done"), ("b.txt.tmp", "tmp"), ("c.txt._COPYING_", "copying"), (".d.txt", "hidden")]
    {
        std::fs::write(dir.path().join("in").join(name), format!("{word}\n")).unwrap();
    }
    let spec = "[job]\nname = \"d\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n[sources.in]\nkind = \"directory\"\npath = \"in\"\ninclude_existing = true\n\n[sinks.out]\nkind = \"jsonl\"\nfrom = \"in\"\npath = \"out.jsonl\"\n";
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let out = Command::new(weir_bin()).args(["run", "job.toml"]).current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let records: Vec<serde_json::Value> = read_jsonl(&dir.path().join("out.jsonl"))
        .iter()
        .flat_map(|b| b["records"].as_array().unwrap().clone())
        .collect();
    assert_eq!(records, [serde_json::json!("done")]);
}
