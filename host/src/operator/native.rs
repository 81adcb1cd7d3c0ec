//! Built-in native stateless operators: the tokenizer (the Wasm tokenizer's yardstick in benchmarks) and
//! map-to-pair.

use std::borrow::Cow;

use weir_sdk::packed::{Batch, Kind, RecordRef, ValueRef};

use super::BatchOperator;

/// Splits text lines into words on Unicode whitespace, exactly as `operators/tokenize` does.
pub struct Tokenize;

impl BatchOperator for Tokenize {
    fn process(&mut self, _time: u64, input: Batch) -> Batch {
        let mut out = Batch::with_capacity(input.len() * 8, input.values.len());
        for i in 0..input.len() {
            if let ValueRef::Text(line) = input.get(i).value {
                let t = input.event_times[i];
                for w in weir_sdk::text::words(line) {
                    out.push_raw(None, Kind::Text, w.as_bytes(), t);
                }
            }
        }
        out
    }
}

/// Turns each record into `(value, n)`: the value's text becomes the key (as `map(x => (x, 1))`).
pub struct MapToPair {
    /// The value of every pair.
    pub value: i64,
}

impl BatchOperator for MapToPair {
    fn process(&mut self, _time: u64, input: Batch) -> Batch {
        let mut out = Batch::with_capacity(input.len(), input.len() * 8);
        let v = self.value.to_le_bytes();
        for i in 0..input.len() {
            out.push_raw(Some(&value_as_key(&input, i)), Kind::I64, &v, input.event_times[i]);
        }
        out
    }
}

/// The key `map_to_pair` and `count_by_value` make of record `i`'s value: text, JSON and bytes as they
/// are, numbers as their text.
///
/// ```
/// use weir_sdk::packed::{Batch, ValueRef};
/// let mut b = Batch::new();
/// b.push(None, ValueRef::Text("w"), 0);
/// b.push(None, ValueRef::I64(5), 0);
/// assert_eq!(&*weir::operator::native::value_as_key(&b, 0), b"w");
/// assert_eq!(&*weir::operator::native::value_as_key(&b, 1), b"5");
/// ```
#[inline]
pub fn value_as_key(b: &Batch, i: usize) -> Cow<'_, [u8]> {
    match b.kind(i) {
        Kind::Text | Kind::Json | Kind::Bytes => Cow::Borrowed(b.value_bytes(i)),
        _ => Cow::Owned(crate::render::text(&RecordRef { key: None, ..b.get(i) }).into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenize_then_pair() {
        let mut b = Batch::new();
        b.push(None, ValueRef::Text(" a  b\tc "), 7);
        let words = Tokenize.process(0, b);
        assert_eq!(
            words.iter().map(|r| r.value).collect::<Vec<_>>(),
            vec![ValueRef::Text("a"), ValueRef::Text("b"), ValueRef::Text("c")]
        );
        let pairs = MapToPair { value: 1 }.process(0, words);
        assert_eq!(pairs.get(2).key, Some(&b"c"[..]));
        assert_eq!(pairs.get(2).value, ValueRef::I64(1));
        assert_eq!(pairs.get(2).time, 7);
    }
}
