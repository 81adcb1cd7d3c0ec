//! One key's stored state: a typed value (the packed batch kinds) and the batch time it last received
//! data, which mapWithState's idle timeout counts from. Stored as `[kind][last-seen, 8 bytes LE][bytes]`.

use smallvec::SmallVec;
use weir_sdk::packed::{Batch, Kind, ValueRef};

use crate::operator::agg::Agg;
use crate::render::value_json;

/// Value bytes: numbers and short texts (nearly every state) are held inline, so updating a count
/// neither allocates nor frees.
pub type ValueBytes = SmallVec<[u8; 16]>;

/// A stored state value.
#[derive(Clone, Debug, PartialEq)]
pub struct StateValue {
    /// Kind of `bytes`.
    pub kind: Kind,
    /// Batch time of the key's last data.
    pub last_seen: u64,
    /// The value, encoded as in a packed batch.
    pub bytes: ValueBytes,
}

impl StateValue {
    /// An integer state.
    ///
    /// ```
    /// let v = weir::state::StateValue::int(5, 2000);
    /// assert_eq!(weir::state::StateValue::decode(&v.encode()), Some(v));
    /// ```
    pub fn int(i: i64, last_seen: u64) -> StateValue {
        StateValue::from_value(&ValueRef::I64(i), last_seen)
    }

    /// A numeric partial as state.
    pub fn from_agg(a: Agg, last_seen: u64) -> StateValue {
        match a {
            Agg::I64(i) => StateValue::int(i, last_seen),
            Agg::F64(f) => StateValue::from_value(&ValueRef::F64(f), last_seen),
        }
    }

    /// Any value as state.
    pub fn from_value(v: &ValueRef<'_>, last_seen: u64) -> StateValue {
        let bytes = match v {
            ValueRef::Text(s) | ValueRef::Json(s) => ValueBytes::from_slice(s.as_bytes()),
            ValueRef::I64(i) => ValueBytes::from_slice(&i.to_le_bytes()),
            ValueRef::F64(f) => ValueBytes::from_slice(&f.to_le_bytes()),
            ValueRef::Bytes(b) => ValueBytes::from_slice(b),
        };
        StateValue { kind: v.kind(), last_seen, bytes }
    }

    /// The value as a numeric partial, if it is a number.
    pub fn as_agg(&self) -> Option<Agg> {
        let b: [u8; 8] = self.bytes.as_slice().try_into().ok()?;
        match self.kind {
            Kind::I64 => Some(Agg::I64(i64::from_le_bytes(b))),
            Kind::F64 => Some(Agg::F64(f64::from_le_bytes(b))),
            _ => None,
        }
    }

    /// The value as an integer, if it is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self.as_agg()? {
            Agg::I64(i) => Some(i),
            Agg::F64(_) => None,
        }
    }

    /// The value as JSON, as sinks write it.
    ///
    /// ```
    /// assert_eq!(weir::state::StateValue::int(4, 0).json(), serde_json::json!(4));
    /// ```
    pub fn json(&self) -> serde_json::Value {
        let mut one = Batch::with_capacity(1, self.bytes.len());
        one.push_raw(None, self.kind, &self.bytes, 0);
        value_json(&one.get(0).value)
    }

    /// The stored bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + self.bytes.len());
        out.push(self.kind as u8);
        out.extend_from_slice(&self.last_seen.to_le_bytes());
        out.extend_from_slice(&self.bytes);
        out
    }

    /// Reads stored bytes; `None` if they are too short.
    pub fn decode(raw: &[u8]) -> Option<StateValue> {
        let (&kind, rest) = raw.split_first()?;
        let (seen, bytes) = rest.split_at_checked(8)?;
        let last_seen = u64::from_le_bytes(seen.try_into().ok()?);
        Some(StateValue { kind: Kind::from_byte(kind), last_seen, bytes: ValueBytes::from_slice(bytes) })
    }
}
