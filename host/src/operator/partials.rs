//! Per-key partial aggregates. Keys of up to 15 bytes (nearly every word) are packed into a `u128`
//! with their length, so hashing and comparing them costs a few integer instructions instead of a
//! byte-wise hash and a `memcmp`; longer keys go to an ordinary byte-keyed map.

use rustc_hash::FxHashMap;

use super::reduce::Agg;
use crate::graph::spec::ReducerKind;

fn pack(key: &[u8]) -> Option<u128> {
    if key.len() > 15 {
        return None;
    }
    let mut b = [0u8; 16];
    b[..key.len()].copy_from_slice(key);
    b[15] = key.len() as u8;
    Some(u128::from_le_bytes(b))
}

fn unpack(k: u128) -> ([u8; 16], usize) {
    let b = k.to_le_bytes();
    let len = b[15] as usize;
    (b, len)
}

/// Partial aggregates by key.
#[derive(Default, Debug)]
pub struct Partials {
    small: FxHashMap<u128, Agg>,
    large: FxHashMap<Box<[u8]>, Agg>,
}

impl Partials {
    /// Folds `v` into the partial of `key` with reducer `r`.
    ///
    /// ```
    /// use weir::operator::partials::Partials;
    /// use weir::operator::reduce::Agg;
    /// use weir::graph::spec::ReducerKind;
    /// let mut p = Partials::default();
    /// p.add(b"w1", Agg::I64(2), ReducerKind::Sum);
    /// p.add(b"w1", Agg::I64(3), ReducerKind::Sum);
    /// p.add(b"a-key-longer-than-fifteen-bytes", Agg::I64(1), ReducerKind::Sum);
    /// assert_eq!(p.get(b"w1"), Some(Agg::I64(5)));
    /// assert_eq!(p.len(), 2);
    /// ```
    #[inline]
    pub fn add(&mut self, key: &[u8], v: Agg, r: ReducerKind) {
        match pack(key) {
            Some(k) => {
                self.small.entry(k).and_modify(|a| *a = a.combine(v, r)).or_insert(v);
            }
            None => match self.large.get_mut(key) {
                Some(a) => *a = a.combine(v, r),
                None => {
                    self.large.insert(key.into(), v);
                }
            },
        }
    }

    /// The partial of `key`, if any.
    pub fn get(&self, key: &[u8]) -> Option<Agg> {
        match pack(key) {
            Some(k) => self.small.get(&k).copied(),
            None => self.large.get(key).copied(),
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.small.len() + self.large.len()
    }

    /// True when no key has a partial.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` with every key and its partial.
    ///
    /// ```
    /// use weir::operator::partials::Partials;
    /// use weir::operator::reduce::Agg;
    /// use weir::graph::spec::ReducerKind;
    /// let mut p = Partials::default();
    /// p.add(b"", Agg::I64(1), ReducerKind::Sum);
    /// let mut seen = Vec::new();
    /// p.for_each(|k, v| seen.push((k.to_vec(), v)));
    /// assert_eq!(seen, vec![(vec![], Agg::I64(1))]);
    /// ```
    pub fn for_each(&self, mut f: impl FnMut(&[u8], Agg)) {
        for (&k, &v) in &self.small {
            let (bytes, len) = unpack(k);
            f(&bytes[..len], v);
        }
        for (k, &v) in &self.large {
            f(k, v);
        }
    }
}
