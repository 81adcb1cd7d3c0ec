//! How records look in sink output: Spark's `(key,value)` text for print and text files, and JSON for the
//! JSON-lines sink and dead letters. Batches are written in a canonical order (by key, then value) so a
//! job's output does not depend on how many workers ran it.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde::{Serialize, Serializer};
use serde_json::Value as Json;
use weir_sdk::packed::{Batch, HAS_KEY, Kind, RecordRef, ValueRef};

/// Bytes as text, invalid UTF-8 replaced. Checks with `str::from_utf8` first, whose ASCII fast path
/// is several times quicker than `String::from_utf8_lossy` on the valid text sinks nearly always get.
pub(crate) fn lossy(b: &[u8]) -> Cow<'_, str> {
    std::str::from_utf8(b).map_or_else(|_| String::from_utf8_lossy(b), Cow::Borrowed)
}

/// A value as text: numbers in Rust's notation, JSON as written, bytes decoded lossily.
pub(crate) fn value_text(v: &ValueRef<'_>) -> String {
    match v {
        ValueRef::Text(s) | ValueRef::Json(s) => s.to_string(),
        ValueRef::I64(i) => i.to_string(),
        ValueRef::F64(f) => format!("{f:?}"),
        ValueRef::Bytes(b) => lossy(b).into_owned(),
    }
}

/// A record as Spark prints it: `(key,value)`, or the bare value when there is no key.
pub fn text(r: &RecordRef<'_>) -> String {
    match r.key {
        Some(k) => format!("({},{})", lossy(k), value_text(&r.value)),
        None => value_text(&r.value),
    }
}

/// A value as JSON, serialized straight to a writer: numbers stay numbers, JSON values are embedded
/// (or kept as a string when they do not parse), text and bytes become strings.
struct ValueJson<'a>(&'a ValueRef<'a>);

impl Serialize for ValueJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            ValueRef::Text(t) => s.serialize_str(t),
            ValueRef::Json(t) => match serde_json::from_str::<Json>(t) {
                Ok(v) => v.serialize(s),
                Err(_) => s.serialize_str(t),
            },
            ValueRef::I64(i) => s.serialize_i64(*i),
            ValueRef::F64(f) => s.serialize_f64(*f),
            ValueRef::Bytes(b) => s.serialize_str(&lossy(b)),
        }
    }
}

/// A record as JSON, `{"key": key, "value": value}` when keyed, else the value: the shape scripted
/// sources and `initial_state` read, so Weir's output can be its input, and a keyed record is never
/// mistaken for a value that is a two-element array. Sinks serialize it straight to their writer:
/// building a `serde_json::Value` per record cost more than the rest of the sink.
///
/// ```
/// use weir::render::RecordJson;
/// use weir_sdk::packed::{RecordRef, ValueRef};
/// let r = RecordRef { key: Some(b"w"), value: ValueRef::I64(3), time: 0 };
/// assert_eq!(serde_json::to_string(&RecordJson(r)).unwrap(), r#"{"key":"w","value":3}"#);
/// let r = RecordRef { key: None, value: ValueRef::Json(r#"{"a":1}"#), time: 0 };
/// assert_eq!(serde_json::to_string(&RecordJson(r)).unwrap(), r#"{"a":1}"#);
/// ```
#[derive(Clone, Copy)]
pub struct RecordJson<'a>(pub RecordRef<'a>);

impl Serialize for RecordJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.0.key {
            Some(k) => {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("key", &lossy(k))?;
                map.serialize_entry("value", &ValueJson(&self.0.value))?;
                map.end()
            }
            None => ValueJson(&self.0.value).serialize(s),
        }
    }
}

/// A value as a JSON value (see [`RecordJson`]).
pub fn value_json(v: &ValueRef<'_>) -> Json {
    serde_json::to_value(ValueJson(v)).unwrap_or(Json::Null)
}

/// A value as JSON text (see [`RecordJson`]), serialized without a `serde_json::Value` in between.
///
/// ```
/// use weir_sdk::packed::ValueRef;
/// assert_eq!(weir::render::value_json_text(&ValueRef::Text("a\"b")), r#""a\"b""#);
/// assert_eq!(weir::render::value_json_text(&ValueRef::F64(f64::NAN)), "null");
/// ```
pub fn value_json_text(v: &ValueRef<'_>) -> String {
    serde_json::to_string(&ValueJson(v)).unwrap_or_else(|_| "null".into())
}

/// A record as a JSON value (see [`RecordJson`]).
pub fn json(r: &RecordRef<'_>) -> Json {
    serde_json::to_value(RecordJson(*r)).unwrap_or(Json::Null)
}

/// Two values in canonical order: numbers of one kind numerically, anything else by kind and bytes.
///
/// ```
/// use std::cmp::Ordering;
/// use weir::render::cmp_values;
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
    // Sorting on (keyed, first eight key bytes) settles nearly every comparison in registers; only ties
    // look at the columns. Zero padding keeps the prefix order the byte order of the keys.
    let prefix = |i: usize| {
        let k = batch.key_bytes(i);
        let mut p = [0u8; 8];
        let n = k.len().min(8);
        p[..n].copy_from_slice(&k[..n]);
        (batch.kinds[i] & HAS_KEY, u64::from_be_bytes(p))
    };
    let mut idx: Vec<((u8, u64), u32)> = (0..batch.len()).map(|i| (prefix(i), i as u32)).collect();
    idx.sort_unstable_by(|&(pa, a), &(pb, b)| {
        let (a, b) = (a as usize, b as usize);
        pa.cmp(&pb)
            .then_with(|| batch.key_bytes(a).cmp(batch.key_bytes(b)))
            .then_with(|| cmp_values((batch.kind(a), batch.value_bytes(a)), (batch.kind(b), batch.value_bytes(b))))
    });
    idx.into_iter().map(|(_, i)| i as usize).collect()
}

/// The order a sink writes a batch in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// By key, then by value ([`canonical_order`]).
    #[default]
    Canonical,
    /// Largest value first, ties by key ([`ranked_order`]): a `top` stream's order.
    Ranked,
    /// By event time, then ranked within each ([`ranked_by_time_order`]): a `top` per event time.
    RankedByTime,
}

impl Order {
    /// The records of `batch` in this order.
    pub fn of(self, batch: &Batch) -> Vec<usize> {
        match self {
            Order::Canonical => canonical_order(batch),
            Order::Ranked => ranked_order(batch),
            Order::RankedByTime => ranked_by_time_order(batch),
        }
    }
}

/// The records of `batch` by event time, earliest first, each time's records as [`ranked_order`] ranks
/// them.
///
/// ```
/// use weir_sdk::packed::{Batch, ValueRef};
/// let mut b = Batch::new();
/// b.push(Some(b"a"), ValueRef::I64(1), 2000);
/// b.push(Some(b"b"), ValueRef::I64(5), 2000);
/// b.push(Some(b"c"), ValueRef::I64(3), 1000);
/// assert_eq!(weir::render::ranked_by_time_order(&b), vec![2, 1, 0]);
/// ```
pub fn ranked_by_time_order(batch: &Batch) -> Vec<usize> {
    let mut idx = ranked_order(batch);
    // A stable sort keeps the rank order within each event time.
    idx.sort_by_key(|&i| batch.event_times[i]);
    idx
}

/// The records of `batch` by value, largest first (values compared as [`canonical_order`] compares
/// them), ties by key (unkeyed first), then by place: an order that does not depend on the workers.
///
/// ```
/// use weir_sdk::packed::{Batch, ValueRef};
/// let mut b = Batch::new();
/// b.push(Some(b"b"), ValueRef::I64(3), 0);
/// b.push(Some(b"c"), ValueRef::I64(9), 0);
/// b.push(Some(b"a"), ValueRef::I64(3), 0);
/// assert_eq!(weir::render::ranked_order(&b), vec![1, 2, 0]);
/// ```
pub fn ranked_order(batch: &Batch) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..batch.len()).collect();
    idx.sort_by(|&a, &b| {
        cmp_values((batch.kind(b), batch.value_bytes(b)), (batch.kind(a), batch.value_bytes(a)))
            .then_with(|| (batch.kinds[a] & HAS_KEY).cmp(&(batch.kinds[b] & HAS_KEY)))
            .then_with(|| batch.key_bytes(a).cmp(batch.key_bytes(b)))
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
        assert_eq!(json(&b.get(0)), serde_json::json!({"key": "b", "value": 10}));
    }

    #[test]
    fn prefix_sort_agrees_with_byte_order_for_long_and_zero_padded_keys() {
        let keys: [&[u8]; 8] = [b"abcdefghij", b"abcdefghi", b"ab\0", b"ab", b"abcdefgh\0", b"abcdefgh", b"\xff", b""];
        let mut b = Batch::new();
        for k in keys {
            b.push(Some(k), ValueRef::I64(1), 0);
        }
        b.push(None, ValueRef::I64(1), 0);
        let got: Vec<Option<&[u8]>> = canonical_order(&b).into_iter().map(|i| b.get(i).key).collect();
        let mut want: Vec<Option<&[u8]>> = keys.iter().map(|k| Some(*k)).collect();
        want.push(None);
        want.sort();
        assert_eq!(got, want);
    }
}
