//! How records look in sink output: Spark's `(key,value)` text for print and text files, and JSON for the
//! JSON-lines sink and dead letters. Batches are written in a canonical order (by key, then value) so a
//! job's output does not depend on how many workers ran it.

use std::cmp::Ordering;

use serde_json::Value as Json;
use weir_sdk::packed::{Batch, HAS_KEY, Kind, RecordRef, ValueRef};

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

/// Two values in canonical order: numbers of one kind numerically, anything else by kind and bytes.
///
/// ```
/// use std::cmp::Ordering;
/// use weir::sink::render::cmp_values;
/// use weir_sdk::packed::Kind;
/// let (two, ten) = (2i64.to_le_bytes(), 10i64.to_le_bytes());
/// assert_eq!(cmp_values((Kind::I64, &two), (Kind::I64, &ten)), Ordering::Less);
/// assert_eq!(cmp_values((Kind::Text, b"b"), (Kind::Text, b"a")), Ordering::Greater);
/// ```
#[inline]
pub fn cmp_values(a: (Kind, &[u8]), b: (Kind, &[u8])) -> Ordering {
    let num = |v: &[u8]| -> Option<[u8; 8]> { v.try_into().ok() };
    match (a.0, b.0, num(a.1), num(b.1)) {
        (Kind::I64, Kind::I64, Some(x), Some(y)) => i64::from_le_bytes(x).cmp(&i64::from_le_bytes(y)),
        (Kind::F64, Kind::F64, Some(x), Some(y)) => f64::from_le_bytes(x).total_cmp(&f64::from_le_bytes(y)),
        _ => a.cmp(&b),
    }
}

/// Record indices of `batch` in canonical order: records without a key first, then by key bytes, then
/// by value ([`cmp_values`]). Reads the columns directly: sinks sort every batch, so this sits on the hot path.
pub fn canonical_order(batch: &Batch) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..batch.len()).collect();
    idx.sort_unstable_by(|&a, &b| {
        let (ka, kb) = (batch.kinds[a] & HAS_KEY, batch.kinds[b] & HAS_KEY);
        ka.cmp(&kb)
            .then_with(|| batch.key_bytes(a).cmp(batch.key_bytes(b)))
            .then_with(|| cmp_values((batch.kind(a), batch.value_bytes(a)), (batch.kind(b), batch.value_bytes(b))))
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
