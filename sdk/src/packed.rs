//! The packed columnar batch layout shared by the host and plugins (see `wit/operator.wit`, `batch`).
//!
//! One growable buffer per column keeps a batch to six allocations however many records it holds,
//! and lets it cross the Wasm boundary as six flat lists.

use serde::{Deserialize, Serialize};

/// Moves the six columns of one batch struct into another with the same field names — the packed
/// [`Batch`] and the types wit-bindgen and wasmtime generate for the WIT `batch` record — without copying.
///
/// ```
/// struct Other { keys: Vec<u8>, key_offsets: Vec<u32>, values: Vec<u8>, value_offsets: Vec<u32>, kinds: Vec<u8>, event_times: Vec<i64> }
/// let b = weir_sdk::packed::Batch::new();
/// let o = weir_sdk::move_columns!(b => Other);
/// assert_eq!(o.key_offsets, vec![0]);
/// ```
#[macro_export]
macro_rules! move_columns {
    ($from:expr => $to:path) => {{
        let b = $from;
        $to {
            keys: b.keys,
            key_offsets: b.key_offsets,
            values: b.values,
            value_offsets: b.value_offsets,
            kinds: b.kinds,
            event_times: b.event_times,
        }
    }};
}

/// Set in a record's kind byte when the record has a key.
pub const HAS_KEY: u8 = 0x80;

/// The kind of a record's value, stored in the low bits of its kind byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Kind {
    /// UTF-8 text.
    Text = 0,
    /// A signed 64-bit integer, 8 bytes little-endian.
    I64 = 1,
    /// A 64-bit float, 8 bytes little-endian.
    F64 = 2,
    /// Opaque bytes.
    Bytes = 3,
    /// A UTF-8 JSON document.
    Json = 4,
}

impl Kind {
    /// Decodes the low bits of a kind byte; unknown kinds read as bytes.
    ///
    /// ```
    /// use weir_sdk::packed::{Kind, HAS_KEY};
    /// assert_eq!(Kind::from_byte(1 | HAS_KEY), Kind::I64);
    /// assert_eq!(Kind::from_byte(9), Kind::Bytes);
    /// ```
    pub fn from_byte(b: u8) -> Kind {
        match b & !HAS_KEY {
            0 => Kind::Text,
            1 => Kind::I64,
            2 => Kind::F64,
            4 => Kind::Json,
            _ => Kind::Bytes,
        }
    }
}

/// A value borrowed from a packed batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    /// UTF-8 text.
    Text(&'a str),
    /// A signed 64-bit integer.
    I64(i64),
    /// A 64-bit float.
    F64(f64),
    /// Opaque bytes (also what text that is not valid UTF-8 reads as).
    Bytes(&'a [u8]),
    /// A JSON document.
    Json(&'a str),
}

impl<'a> ValueRef<'a> {
    /// The kind of this value.
    ///
    /// ```
    /// use weir_sdk::packed::{Kind, ValueRef};
    /// assert_eq!(ValueRef::I64(3).kind(), Kind::I64);
    /// ```
    pub fn kind(&self) -> Kind {
        match self {
            ValueRef::Text(_) => Kind::Text,
            ValueRef::I64(_) => Kind::I64,
            ValueRef::F64(_) => Kind::F64,
            ValueRef::Bytes(_) => Kind::Bytes,
            ValueRef::Json(_) => Kind::Json,
        }
    }

    #[inline(always)]
    fn decode(kind: Kind, bytes: &'a [u8]) -> ValueRef<'a> {
        let text = |wrap: fn(&'a str) -> ValueRef<'a>| match utf8(bytes) {
            Some(s) => wrap(s),
            None => ValueRef::Bytes(bytes),
        };
        match kind {
            Kind::Text => text(ValueRef::Text),
            Kind::Json => text(ValueRef::Json),
            Kind::I64 => match <[u8; 8]>::try_from(bytes) {
                Ok(b) => ValueRef::I64(i64::from_le_bytes(b)),
                Err(_) => ValueRef::Bytes(bytes),
            },
            Kind::F64 => match <[u8; 8]>::try_from(bytes) {
                Ok(b) => ValueRef::F64(f64::from_le_bytes(b)),
                Err(_) => ValueRef::Bytes(bytes),
            },
            Kind::Bytes => ValueRef::Bytes(bytes),
        }
    }
}

/// `bytes` as text, if they are UTF-8. All-ASCII text (nearly every line) is recognised eight bytes at a
/// time in one small inlined loop; `str::from_utf8`, a call into a large function that works four bytes at
/// a time on 32-bit Wasm, runs only for the rest.
#[inline]
fn utf8(bytes: &[u8]) -> Option<&str> {
    if crate::text::is_ascii(bytes) {
        // SAFETY: every byte is below 0x80, and ASCII is valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).ok()
    }
}

/// One record borrowed from a packed batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecordRef<'a> {
    /// The key, if the record has one.
    pub key: Option<&'a [u8]>,
    /// The value.
    pub value: ValueRef<'a>,
    /// Event time in milliseconds since the Unix epoch.
    pub time: i64,
}

/// Why a packed batch is malformed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutError(pub String);

impl std::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed batch: {}", self.0)
    }
}

impl std::error::Error for LayoutError {}

/// A batch of records packed column by column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// All key bytes, concatenated.
    pub keys: Vec<u8>,
    /// Start of each key in `keys`, plus the end of the last one (starts at 0).
    pub key_offsets: Vec<u32>,
    /// All value bytes, concatenated.
    pub values: Vec<u8>,
    /// Start of each value in `values`, plus the end of the last one (starts at 0).
    pub value_offsets: Vec<u32>,
    /// One kind byte per record: a [`Kind`], with [`HAS_KEY`] set for keyed records.
    pub kinds: Vec<u8>,
    /// One event time per record.
    pub event_times: Vec<i64>,
}

/// Appends `src` to `dst`. A slice of up to 16 bytes (most keys and words) is copied as two fixed-size
/// pieces that may overlap: a copy of variable length compiles to Wasm's `memory.copy`, which wasmtime
/// runs as a call out to the host, and a loop of pieces costs a call and a branch per piece.
#[inline(always)]
fn append(dst: &mut Vec<u8>, src: &[u8]) {
    let n = src.len();
    if n > 16 || dst.capacity() - dst.len() < 16 {
        dst.extend_from_slice(src);
        return;
    }
    // SAFETY: `dst` has 16 bytes of room past its end (checked above) and `n <= 16`; every read is
    // within `src` and every write within that room, and the first `n` bytes of it are then written.
    unsafe {
        let (d, s) = (dst.as_mut_ptr().add(dst.len()), src.as_ptr());
        if n >= 8 {
            d.cast::<u64>().write_unaligned(s.cast::<u64>().read_unaligned());
            d.add(n - 8).cast::<u64>().write_unaligned(s.add(n - 8).cast::<u64>().read_unaligned());
        } else if n >= 4 {
            d.cast::<u32>().write_unaligned(s.cast::<u32>().read_unaligned());
            d.add(n - 4).cast::<u32>().write_unaligned(s.add(n - 4).cast::<u32>().read_unaligned());
        } else if n > 0 {
            *d = *s;
            *d.add(n / 2) = *s.add(n / 2);
            *d.add(n - 1) = *s.add(n - 1);
        }
        dst.set_len(dst.len() + n);
    }
}

impl Default for Batch {
    fn default() -> Self {
        Batch::new()
    }
}

impl Batch {
    /// An empty batch.
    ///
    /// ```
    /// assert!(weir_sdk::packed::Batch::new().is_empty());
    /// ```
    pub fn new() -> Batch {
        Batch::with_capacity(0, 0)
    }

    /// An empty batch with room for `records` records of `bytes` value bytes in all.
    ///
    /// ```
    /// let b = weir_sdk::packed::Batch::with_capacity(10, 100);
    /// assert_eq!(b.len(), 0);
    /// ```
    pub fn with_capacity(records: usize, bytes: usize) -> Batch {
        let mut key_offsets = Vec::with_capacity(records + 1);
        key_offsets.push(0);
        let mut value_offsets = Vec::with_capacity(records + 1);
        value_offsets.push(0);
        Batch {
            keys: Vec::new(),
            key_offsets,
            values: Vec::with_capacity(bytes),
            value_offsets,
            kinds: Vec::with_capacity(records),
            event_times: Vec::with_capacity(records),
        }
    }

    /// Number of records.
    ///
    /// ```
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// let mut b = Batch::new();
    /// b.push(None, ValueRef::Text("a"), 0);
    /// assert_eq!(b.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    /// True when the batch holds no record.
    ///
    /// ```
    /// assert!(weir_sdk::packed::Batch::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// Appends a record.
    ///
    /// ```
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// let mut b = Batch::new();
    /// b.push(Some(b"k"), ValueRef::I64(7), 1000);
    /// assert_eq!(b.get(0).key, Some(&b"k"[..]));
    /// assert_eq!(b.get(0).value, ValueRef::I64(7));
    /// ```
    #[inline]
    pub fn push(&mut self, key: Option<&[u8]>, value: ValueRef<'_>, time: i64) {
        match value {
            ValueRef::Text(s) | ValueRef::Json(s) => self.push_raw(key, value.kind(), s.as_bytes(), time),
            ValueRef::Bytes(b) => self.push_raw(key, Kind::Bytes, b, time),
            ValueRef::I64(v) => self.push_raw(key, Kind::I64, &v.to_le_bytes(), time),
            ValueRef::F64(v) => self.push_raw(key, Kind::F64, &v.to_le_bytes(), time),
        }
    }

    /// Appends a record from its raw parts: value bytes already encoded for `kind`.
    ///
    /// ```
    /// use weir_sdk::packed::{Batch, Kind, ValueRef};
    /// let mut b = Batch::new();
    /// b.push_raw(None, Kind::Text, b"hi", 5);
    /// assert_eq!(b.get(0).value, ValueRef::Text("hi"));
    /// ```
    #[inline(always)]
    pub fn push_raw(&mut self, key: Option<&[u8]>, kind: Kind, value: &[u8], time: i64) {
        let mut kind = kind as u8;
        if let Some(k) = key {
            append(&mut self.keys, k);
            kind |= HAS_KEY;
        }
        self.key_offsets.push(self.keys.len() as u32);
        append(&mut self.values, value);
        self.value_offsets.push(self.values.len() as u32);
        self.kinds.push(kind);
        self.event_times.push(time);
    }

    /// Copies record `i` of `other` onto the end of this batch, bytes as they are.
    ///
    /// ```
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// let mut a = Batch::new();
    /// a.push(Some(b"x"), ValueRef::F64(1.5), 3);
    /// let mut b = Batch::new();
    /// b.push_from(&a, 0);
    /// assert_eq!(a, b);
    /// ```
    pub fn push_from(&mut self, other: &Batch, i: usize) {
        let kind = other.kinds[i];
        let key = (kind & HAS_KEY != 0).then(|| other.key_bytes(i));
        self.push_raw(key, Kind::from_byte(kind), other.value_bytes(i), other.event_times[i]);
    }

    /// Appends every record of `other`.
    ///
    /// ```
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// let mut a = Batch::new();
    /// a.push(None, ValueRef::Text("a"), 0);
    /// let mut b = a.clone();
    /// b.append(&a);
    /// assert_eq!(b.len(), 2);
    /// assert_eq!(b.get(1).value, ValueRef::Text("a"));
    /// ```
    pub fn append(&mut self, other: &Batch) {
        self.append_range(other, 0, other.len());
    }

    /// Appends records `start..end` of `other`.
    ///
    /// ```
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// let mut a = Batch::new();
    /// for w in ["a", "bb", "ccc"] { a.push(Some(w.as_bytes()), ValueRef::Text(w), 1); }
    /// let mut b = a.slice(0, 1);
    /// b.append_range(&a, 2, 3);
    /// assert_eq!((b.len(), b.key_bytes(1), b.get(1).value), (2, &b"ccc"[..], ValueRef::Text("ccc")));
    /// assert!(b.validate().is_ok());
    /// ```
    pub fn append_range(&mut self, other: &Batch, start: usize, end: usize) {
        let (k0, k1) = (other.key_offsets[start], other.key_offsets[end]);
        let (v0, v1) = (other.value_offsets[start], other.value_offsets[end]);
        let (kb, vb) = (self.keys.len() as u32, self.values.len() as u32);
        self.keys.extend_from_slice(&other.keys[k0 as usize..k1 as usize]);
        self.values.extend_from_slice(&other.values[v0 as usize..v1 as usize]);
        self.key_offsets.extend(other.key_offsets[start + 1..=end].iter().map(|o| o - k0 + kb));
        self.value_offsets.extend(other.value_offsets[start + 1..=end].iter().map(|o| o - v0 + vb));
        self.kinds.extend_from_slice(&other.kinds[start..end]);
        self.event_times.extend_from_slice(&other.event_times[start..end]);
    }

    /// Records `start..end` of each `(batch, start, end)` part, in order, in one batch allocated at its
    /// exact size (one copy, no regrowth).
    ///
    /// ```
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// let mut a = Batch::new();
    /// for w in ["a", "bb", "ccc"] { a.push(None, ValueRef::Text(w), 1); }
    /// let c = Batch::concat(&[(&a, 1, 3), (&a, 0, 1)]);
    /// let words: Vec<_> = c.iter().map(|r| r.value).collect();
    /// assert_eq!(words, vec![ValueRef::Text("bb"), ValueRef::Text("ccc"), ValueRef::Text("a")]);
    /// assert_eq!(c.values.capacity(), 6);
    /// ```
    pub fn concat(parts: &[(&Batch, usize, usize)]) -> Batch {
        let span = |o: &[u32], s: usize, e: usize| (o[e] - o[s]) as usize;
        let records = parts.iter().map(|(_, s, e)| e - s).sum::<usize>();
        let keys = parts.iter().map(|(b, s, e)| span(&b.key_offsets, *s, *e)).sum();
        let values = parts.iter().map(|(b, s, e)| span(&b.value_offsets, *s, *e)).sum();
        let mut out = Batch::with_capacity(records, values);
        out.keys.reserve_exact(keys);
        for (b, s, e) in parts {
            out.append_range(b, *s, *e);
        }
        out
    }

    /// Records `start..end` as a batch of their own, copied column by column.
    ///
    /// ```
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// let mut b = Batch::new();
    /// for w in ["a", "bb", "ccc"] { b.push(Some(w.as_bytes()), ValueRef::Text(w), 1); }
    /// let s = b.slice(1, 3);
    /// assert_eq!(s.len(), 2);
    /// assert_eq!(s.get(0).value, ValueRef::Text("bb"));
    /// assert_eq!(s.key_bytes(1), b"ccc");
    /// assert!(s.validate().is_ok());
    /// ```
    pub fn slice(&self, start: usize, end: usize) -> Batch {
        let rebase = |offsets: &[u32]| -> Vec<u32> {
            let base = offsets[start];
            offsets[start..=end].iter().map(|o| o - base).collect()
        };
        let (k0, k1) = (self.key_offsets[start] as usize, self.key_offsets[end] as usize);
        let (v0, v1) = (self.value_offsets[start] as usize, self.value_offsets[end] as usize);
        Batch {
            keys: self.keys[k0..k1].to_vec(),
            key_offsets: rebase(&self.key_offsets),
            values: self.values[v0..v1].to_vec(),
            value_offsets: rebase(&self.value_offsets),
            kinds: self.kinds[start..end].to_vec(),
            event_times: self.event_times[start..end].to_vec(),
        }
    }

    /// The key bytes of record `i` (empty for a record without a key).
    ///
    /// ```
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// let mut b = Batch::new();
    /// b.push(Some(b"key"), ValueRef::I64(1), 0);
    /// assert_eq!(b.key_bytes(0), b"key");
    /// ```
    pub fn key_bytes(&self, i: usize) -> &[u8] {
        &self.keys[self.key_offsets[i] as usize..self.key_offsets[i + 1] as usize]
    }

    /// The encoded value bytes of record `i`.
    ///
    /// ```
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// let mut b = Batch::new();
    /// b.push(None, ValueRef::Text("v"), 0);
    /// assert_eq!(b.value_bytes(0), b"v");
    /// ```
    #[inline(always)]
    pub fn value_bytes(&self, i: usize) -> &[u8] {
        &self.values[self.value_offsets[i] as usize..self.value_offsets[i + 1] as usize]
    }

    /// The value kind of record `i`.
    ///
    /// ```
    /// use weir_sdk::packed::{Batch, Kind, ValueRef};
    /// let mut b = Batch::new();
    /// b.push(Some(b"k"), ValueRef::F64(0.5), 0);
    /// assert_eq!(b.kind(0), Kind::F64);
    /// ```
    pub fn kind(&self, i: usize) -> Kind {
        Kind::from_byte(self.kinds[i])
    }

    /// Record `i`, borrowed.
    ///
    /// ```
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// let mut b = Batch::new();
    /// b.push(None, ValueRef::Json("{}"), 9);
    /// let r = b.get(0);
    /// assert_eq!((r.key, r.value, r.time), (None, ValueRef::Json("{}"), 9));
    /// ```
    #[inline(always)]
    pub fn get(&self, i: usize) -> RecordRef<'_> {
        let kind = self.kinds[i];
        RecordRef {
            key: (kind & HAS_KEY != 0).then(|| self.key_bytes(i)),
            value: ValueRef::decode(Kind::from_byte(kind), self.value_bytes(i)),
            time: self.event_times[i],
        }
    }

    /// All records, in order.
    ///
    /// ```
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// let mut b = Batch::new();
    /// b.push(None, ValueRef::I64(1), 0);
    /// b.push(None, ValueRef::I64(2), 0);
    /// let sum: i64 = b.iter().map(|r| match r.value { ValueRef::I64(v) => v, _ => 0 }).sum();
    /// assert_eq!(sum, 3);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = RecordRef<'_>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Checks that the columns agree with each other, as the host must before trusting a plugin's output.
    ///
    /// ```
    /// use weir_sdk::packed::Batch;
    /// let mut b = Batch::new();
    /// assert!(b.validate().is_ok());
    /// b.kinds.push(0);
    /// assert!(b.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), LayoutError> {
        let n = self.kinds.len();
        if self.event_times.len() != n || self.key_offsets.len() != n + 1 || self.value_offsets.len() != n + 1 {
            return Err(LayoutError(format!(
                "{n} kinds but {} event times, {} key offsets and {} value offsets",
                self.event_times.len(),
                self.key_offsets.len(),
                self.value_offsets.len()
            )));
        }
        check_offsets("key", &self.key_offsets, self.keys.len())?;
        check_offsets("value", &self.value_offsets, self.values.len())
    }
}

fn check_offsets(what: &str, offsets: &[u32], len: usize) -> Result<(), LayoutError> {
    // Folded without an early exit, so the comparison vectorizes: this runs over every record a
    // plugin returns.
    let descending = offsets.windows(2).fold(false, |bad, w| bad | (w[0] > w[1]));
    if offsets[0] != 0 || descending || *offsets.last().unwrap_or(&0) as usize != len {
        return Err(LayoutError(format!("{what} offsets do not cover the {len} {what} bytes in order")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Batch, ValueRef};

    #[test]
    fn values_of_every_short_length_are_copied_exactly() {
        // Lengths 0 to 20 cross each of the copy's cases (0, 1-3, 4-7, 8-16 in overlapping pieces, longer),
        // into buffers with and without spare room.
        let text: String = ('a'..='z').cycle().take(64).collect();
        let mut b = Batch::new();
        for n in 0..=20 {
            for start in 0..3 {
                b.push(Some(&text.as_bytes()[start..start + n]), ValueRef::Text(&text[start + 1..start + 1 + n]), 1);
            }
        }
        assert!(b.validate().is_ok());
        let mut i = 0;
        for n in 0..=20 {
            for start in 0..3 {
                assert_eq!(b.key_bytes(i), &text.as_bytes()[start..start + n], "key {i}");
                assert_eq!(b.get(i).value, ValueRef::Text(&text[start + 1..start + 1 + n]), "value {i}");
                i += 1;
            }
        }
    }

    #[test]
    fn text_is_checked_for_utf8_past_an_ascii_prefix() {
        let mut b = Batch::new();
        b.push_raw(None, super::Kind::Text, b"plain ascii text, longer than eight", 0);
        b.push_raw(None, super::Kind::Text, "caf\u{e9} au lait".as_bytes(), 0);
        b.push_raw(None, super::Kind::Text, b"abcdefgh\xff", 0);
        b.push_raw(None, super::Kind::Text, b"\xc3", 0);
        assert_eq!(b.get(0).value, ValueRef::Text("plain ascii text, longer than eight"));
        assert_eq!(b.get(1).value, ValueRef::Text("caf\u{e9} au lait"));
        assert_eq!(b.get(2).value, ValueRef::Bytes(b"abcdefgh\xff"));
        assert_eq!(b.get(3).value, ValueRef::Bytes(b"\xc3"));
    }
}
