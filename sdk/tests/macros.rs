//! The attribute macros as authors use them: each kind, fallible functions, declared parameters and
//! custom names, run through the native harness (the same packed-batch path a component takes).

extern crate weir_sdk as weir;

use weir::testing::Harness;
use weir::{Plugin, Record, TransformKind};

#[weir::filter]
fn long_words(r: &Record<'_>) -> bool {
    r.as_text().is_some_and(|t| t.len() > 3)
}

#[weir::filter_map(params = ["key"])]
fn numbers(r: Record<'_>) -> Result<Option<Record<'static>>, String> {
    let t = r.as_text().ok_or("value is not text")?;
    if t.is_empty() {
        return Ok(None);
    }
    let n: i64 = t.parse().map_err(|_| format!("`{t}` is not a number"))?;
    Ok(Some(Record::i64(n).with_key(weir::param("key").unwrap_or_else(|| "n".into()))))
}

#[weir::map(name = "upper")]
fn shout(r: Record<'_>) -> Record<'static> {
    Record::text(r.as_text().unwrap_or_default().to_uppercase())
}

#[weir::flat_map]
fn split_json(r: &Record<'_>) -> Result<Vec<Record<'static>>, String> {
    let items: Vec<serde_json::Value> = r.parse_json()?;
    items.iter().map(|v| Record::json(v).map_err(|e| e.to_string())).collect()
}

#[test]
fn filter_keeps_matching_records_unchanged() {
    let input = [Record::text("tiny").with_key("k").with_time(5), Record::text("no")];
    let out = Harness::<LongWords>::new().run(&input).unwrap();
    assert_eq!(out.records, vec![Record::text("tiny").with_key("k").with_time(5)]);
    assert_eq!(LongWords::KIND, TransformKind::Filter);
}

#[test]
fn filter_map_refuses_bad_records_with_reasons_and_reads_params() {
    let out = Harness::<Numbers>::new().param("key", "total").run_texts(&["1", "", "x", "-7"]).unwrap();
    let got: Vec<(Option<&str>, Option<i64>)> = out.records.iter().map(|r| (r.key_text(), r.as_i64())).collect();
    assert_eq!(got, vec![(Some("total"), Some(1)), (Some("total"), Some(-7))]);
    assert_eq!(out.rejected, vec![(2, "`x` is not a number".to_string())]);
}

#[test]
fn undeclared_params_are_refused_naming_them() {
    let err = Harness::<Numbers>::new().param("colour", "red").run_texts(&["1"]).unwrap_err();
    assert!(err.contains("no parameter `colour`") && err.contains("accepts: key"), "{err}");
    assert_eq!(Numbers::PARAMS, &["key"]);
}

#[test]
fn map_takes_a_custom_name_and_keeps_event_times() {
    assert_eq!(Shout::NAME, "upper");
    assert_eq!(Shout::VERSION, env!("CARGO_PKG_VERSION"));
    let out = Harness::<Shout>::new().run_texts(&["abc"]).unwrap();
    assert_eq!(out.records, vec![Record::text("ABC").with_time(1000)]);
}

#[test]
fn flat_map_with_json_values() {
    let out = Harness::<SplitJson>::new().run_texts(&[r#"[1, {"a": true}]"#, "not json"]).unwrap();
    assert_eq!(out.texts(), vec!["1", r#"{"a":true}"#]);
    assert_eq!(out.rejected.len(), 1);
    assert!(out.rejected[0].1.starts_with("invalid JSON"), "{:?}", out.rejected);
}
