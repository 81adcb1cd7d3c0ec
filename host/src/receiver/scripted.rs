//! Scripted source: a JSON-lines file where line k is the whole input of batch k, for deterministic tests
//! (as Spark's own suites feed a manual clock). Each line is a JSON array — or a `jsonl` sink's batch
//! line, `{"time": .., "records": [..]}`, so one job's output can be another's script; each element is a
//! record: a string (text), a number (integer or float), `{"key": .., "value": .., "time": ..}` (a keyed
//! record, as the `jsonl` sink writes one), or any other JSON (kept as a JSON value).

use std::time::Duration;

use serde_json::Value as Json;
use weir_sdk::packed::{Batch, ValueRef};

use super::{Outbox, SourceEvent};
use crate::checkpoint::OffsetMark;

pub(crate) fn push_value(batch: &mut Batch, key: Option<&[u8]>, v: &Json, time: i64) {
    match v {
        Json::String(s) => batch.push(key, ValueRef::Text(s), time),
        Json::Number(n) => match n.as_i64() {
            Some(i) => batch.push(key, ValueRef::I64(i), time),
            None => batch.push(key, ValueRef::F64(n.as_f64().unwrap_or(f64::NAN)), time),
        },
        other => batch.push(key, ValueRef::Json(&other.to_string()), time),
    }
}

/// Parses one script line into a batch.
///
/// ```
/// use weir::receiver::scripted::parse_line;
/// let keyed = parse_line(r#"{"time": 1000, "records": [{"key": "a", "value": 2}, "b"]}"#).unwrap();
/// assert_eq!(keyed.get(0).key, Some(&b"a"[..]));
/// assert_eq!(keyed.get(1).key, None);
/// assert!(parse_line(r#"{"a": 1}"#).unwrap_err().contains("not a batch line"));
/// ```
pub fn parse_line(line: &str) -> Result<Batch, String> {
    let mut batch = Batch::new();
    if line.trim().is_empty() {
        return Ok(batch);
    }
    let items = match serde_json::from_str::<Json>(line) {
        Ok(Json::Array(items)) => items,
        Ok(Json::Object(mut batch)) => match batch.remove("records") {
            Some(Json::Array(items)) => items,
            _ => return Err("a JSON object that is not a batch line (no `records` array)".into()),
        },
        Ok(_) => return Err("not a JSON array of records".into()),
        Err(e) => return Err(format!("not a JSON array of records: {e}")),
    };
    for item in &items {
        match item {
            Json::Object(o) if o.contains_key("value") => {
                let key = match o.get("key") {
                    None | Some(Json::Null) => None,
                    Some(Json::String(s)) => Some(s.clone()),
                    Some(other) => Some(other.to_string()),
                };
                let time = o.get("time").and_then(Json::as_i64).unwrap_or(0);
                push_value(&mut batch, key.as_deref().map(str::as_bytes), &o["value"], time);
            }
            other => push_value(&mut batch, None, other, 0),
        }
    }
    Ok(batch)
}

/// Sends one unit per line, each with its line count, then finishes. A resumed job skips the first
/// `skip` lines; `pace` waits between lines (a script replayed at the speed of a live source), except
/// before line `unpaced` (lines a resumed job replays into batches it had already cut).
pub async fn run(name: String, path: std::path::PathBuf, skip: u64, unpaced: u64, pace: Duration, out: Outbox) {
    let text = match tokio::fs::read_to_string(&path).await {
        Ok(t) => t,
        Err(e) => {
            out.send(SourceEvent::Failed(format!("source `{name}` cannot read {}: {e}", path.display()))).await;
            return;
        }
    };
    for (i, line) in text.lines().enumerate().skip(skip as usize) {
        if out.draining() {
            break;
        }
        if !pace.is_zero() && i as u64 >= unpaced {
            tokio::select! {
                _ = tokio::time::sleep(pace) => {}
                _ = out.drained() => break,
            }
        }
        let mark = OffsetMark::Units(i as u64 + 1);
        let sent = match parse_line(line) {
            Ok(batch) => out.send(SourceEvent::Marked(batch, mark)).await,
            Err(reason) => {
                let reason = format!("line {}: {reason}", i + 1);
                out.send(SourceEvent::Bad { input: line.to_string(), reason }).await
                    && out.send(SourceEvent::Mark(mark)).await
            }
        };
        if !sent || !out.send(SourceEvent::UnitEnd).await {
            return;
        }
    }
    out.send(SourceEvent::Finished).await;
}
