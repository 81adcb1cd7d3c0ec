//! How records look in sink output: Spark's `(key,value)` text for print and text files, and JSON for the
//! JSON-lines sink and dead letters. Batches are written in a canonical order (by key, then value) so a
//! job's output does not depend on how many workers ran it.

use serde_json::Value as Json;
use weir_sdk::packed::{Batch, RecordRef, ValueRef};

fn value_text(v: &ValueRef<'_>) -> String {
    match v {
        ValueRef::Text(s) | ValueRef::Json(s) => s.to_string(),
        ValueRef::I64(i) => i.to_string(),
        ValueRef::F64(f) => format!("{f:?}"),
        ValueRef::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// A record as Spark prints it: `(key,value)`, or the bare value when there is no key.
pub fn text(r: &RecordRef<'_>) -> String {
    match r.key {
        Some(k) => format!("({},{})", String::from_utf8_lossy(k), value_text(&r.value)),
        None => value_text(&r.value),
    }
}

/// A value as JSON: numbers stay numbers, JSON values are embedded, text and bytes become strings.
pub fn value_json(v: &ValueRef<'_>) -> Json {
    match v {
        ValueRef::Text(s) => Json::String(s.to_string()),
        ValueRef::Json(s) => serde_json::from_str(s).unwrap_or_else(|_| Json::String(s.to_string())),
        ValueRef::I64(i) => Json::from(*i),
        ValueRef::F64(f) => Json::from(*f),
        ValueRef::Bytes(b) => Json::String(String::from_utf8_lossy(b).into_owned()),
    }
}

/// A record as JSON: `[key, value]` when keyed, else the value.
pub fn json(r: &RecordRef<'_>) -> Json {
    match r.key {
        Some(k) => Json::Array(vec![Json::String(String::from_utf8_lossy(k).into_owned()), value_json(&r.value)]),
        None => value_json(&r.value),
    }
}

/// Record indices of `batch` in canonical order: by key, then by value (numbers numerically).
pub fn canonical_order(batch: &Batch) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..batch.len()).collect();
    idx.sort_by(|&a, &b| {
        let (ra, rb) = (batch.get(a), batch.get(b));
        ra.key.cmp(&rb.key).then_with(|| match (ra.value, rb.value) {
            (ValueRef::I64(x), ValueRef::I64(y)) => x.cmp(&y),
            (ValueRef::F64(x), ValueRef::F64(y)) => x.total_cmp(&y),
            _ => (batch.kind(a), batch.value_bytes(a)).cmp(&(batch.kind(b), batch.value_bytes(b))),
        })
    });
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_style_text_and_numeric_order() {
        let mut b = Batch::new();
        b.push(Some(b"b"), ValueRef::I64(10), 0);
        b.push(Some(b"a"), ValueRef::I64(2), 0);
        b.push(Some(b"a"), ValueRef::I64(-1), 0);
        b.push(None, ValueRef::F64(1.0), 0);
        let order: Vec<String> = canonical_order(&b).into_iter().map(|i| text(&b.get(i))).collect();
        assert_eq!(order, vec!["1.0", "(a,-1)", "(a,2)", "(b,10)"]);
        assert_eq!(json(&b.get(0)), serde_json::json!(["b", 10]));
    }
}
