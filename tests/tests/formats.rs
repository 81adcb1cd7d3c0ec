//! Sources read JSON and CSV lines without a plugin: expressions see their fields as `value.FIELD`; a
//! line that does not parse is dead-lettered at the source, and one that lacks a field an expression
//! needs at that expression, each with the line itself.

use std::process::Command;

use weir_tests::{read_jsonl, weir_bin};

fn run(format: &str, input: &str) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    std::fs::write(dir.path().join("in/orders.txt"), input).unwrap();
    let spec = format!(
        r#"
[job]
name = "formats"
batch_interval = "1s"
clock = "manual"

[sources.orders]
kind = "directory"
path = "in"
include_existing = true
{format}

[streams.big]
op = "filter"
from = "orders"
where = "value.price > 3"

[streams.users]
op = "map"
from = "big"
value = "value.user"

[sinks.out]
kind = "jsonl"
from = "users"
path = "out.jsonl"

[dead_letter]
path = "dead.jsonl"
"#
    );
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let out = Command::new(weir_bin()).args(["run", "job.toml"]).current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (read_jsonl(&dir.path().join("out.jsonl")), read_jsonl(&dir.path().join("dead.jsonl")))
}

fn reasons(dead: &[serde_json::Value]) -> Vec<(String, String)> {
    dead.iter()
        .map(|d| (d["operator"].as_str().unwrap().to_string(), d["reason"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn json_lines_are_read_by_expressions_and_bad_ones_dead_lettered_where_they_fail() {
    let input = "{\"user\": \"ann\", \"price\": 5}\n{oops\n{\"user\": \"bob\"}\n{\"user\": \"cy\", \"price\": 2}\n";
    let (out, dead) = run("format = \"json\"", input);
    assert_eq!(out[0]["records"], serde_json::json!(["ann"]));
    let r = reasons(&dead);
    assert_eq!(r.len(), 2, "{dead:?}");
    assert_eq!(r[0].0, "orders");
    assert!(r[0].1.starts_with("not a JSON value"), "{r:?}");
    assert_eq!(dead[0]["input"], "{oops");
    assert_eq!(r[1], ("big".to_string(), "`where = \"value.price > 3\"`: the record has no field `price`".to_string()));
    assert_eq!(dead[1]["record"], serde_json::json!({"user": "bob"}), "the line itself");
}

#[test]
fn csv_lines_become_records_with_named_fields() {
    let input = "ann,5\nbob\ncy,2.5\ndee,7\n";
    let (out, dead) = run("format = \"csv\"\ncolumns = [\"user\", \"price\"]", input);
    assert_eq!(out[0]["records"], serde_json::json!(["ann", "dee"]));
    assert_eq!(
        reasons(&dead),
        [("orders".to_string(), "a CSV line of 1 fields; the source's columns are user, price".to_string())]
    );
    assert_eq!(dead[0]["input"], "bob");
}

#[test]
fn a_csv_source_without_columns_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let spec = "[job]\nname = \"f\"\nbatch_interval = \"1s\"\n\n[sources.orders]\nkind = \"directory\"\npath = \"in\"\nformat = \"csv\"\n\n[sinks.out]\nkind = \"print\"\nfrom = \"orders\"\n";
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let out = Command::new(weir_bin()).args(["run", "job.toml"]).current_dir(dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`sources.orders.columns`: a csv source needs `columns`"), "{stderr}");
}

#[test]
fn a_field_of_json_or_csv_lines_becomes_the_event_time_and_a_line_without_it_a_dead_letter() {
    for (format, input) in [
        (
            "format = \"json\"\nevent_time = \"meta.at\"",
            "{\"user\": \"ann\", \"meta\": {\"at\": 1700000000123}}\n{\"user\": \"bob\"}\n\
             {\"user\": \"cy\", \"meta\": {\"at\": \"2023-11-14T22:13:20.5Z\"}}\n",
        ),
        (
            "format = \"csv\"\ncolumns = [\"user\", \"at\"]\nevent_time = \"at\"",
            "ann,1700000000123\nbob,yesterday\ncy,2023-11-14T22:13:20.5Z\n",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("in")).unwrap();
        std::fs::write(dir.path().join("in/events.txt"), input).unwrap();
        let spec = format!(
            "[job]\nname = \"timed\"\nbatch_interval = \"1s\"\nclock = \"manual\"\n\n\
             [sources.events]\nkind = \"directory\"\npath = \"in\"\ninclude_existing = true\n{format}\n\n\
             [streams.times]\nop = \"map\"\nfrom = \"events\"\nkey = \"value.user\"\nvalue = \"time\"\n\n\
             [sinks.out]\nkind = \"jsonl\"\nfrom = \"times\"\npath = \"out.jsonl\"\n\n[dead_letter]\npath = \"dead.jsonl\"\n"
        );
        std::fs::write(dir.path().join("job.toml"), spec).unwrap();
        let out = Command::new(weir_bin()).args(["run", "job.toml"]).current_dir(dir.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let records = &read_jsonl(&dir.path().join("out.jsonl"))[0]["records"];
        assert_eq!(
            records,
            &serde_json::json!([{"key": "ann", "value": 1_700_000_000_123i64}, {"key": "cy", "value": 1_700_000_000_500i64}]),
            "{format}"
        );
        let dead = read_jsonl(&dir.path().join("dead.jsonl"));
        assert_eq!(dead.len(), 1, "{format}: {dead:?}");
        let reason = dead[0]["reason"].as_str().unwrap();
        assert!(reason.contains("event time") && dead[0]["input"].as_str().unwrap().contains("bob"), "{reason}");
    }
}

#[test]
fn an_event_time_field_on_text_lines_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let spec = "[job]\nname = \"t\"\nbatch_interval = \"1s\"\n\n[sources.events]\nkind = \"directory\"\npath = \"in\"\n\
                event_time = \"at\"\n\n[sinks.out]\nkind = \"print\"\nfrom = \"events\"\n";
    std::fs::write(dir.path().join("job.toml"), spec).unwrap();
    let out = Command::new(weir_bin()).args(["run", "job.toml"]).current_dir(dir.path()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("job.toml:8:") && err.contains("sources.events.event_time"), "{err}");
}
