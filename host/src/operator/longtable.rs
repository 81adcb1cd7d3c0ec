//! The table of keys too long to pack into a `u128` ([`super::keytable`]): ids, URLs, long words.
//!
//! Their bytes go one after the other into one buffer, and each slot holds the key's hash, where its
//! bytes are and its partial. A probe compares hashes first and bytes only on a match, so a long key
//! costs one hash of its bytes and one comparison, and a new key one copy into the buffer: no
//! allocation per key, and clearing keeps the room for the next batch.

use super::agg::Agg;
use crate::graph::spec::ReducerKind;

/// A slot: a key of `len` bytes at `at` in the buffer, or free when `len` is 0 (a long key never is).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Slot {
    hash: u64,
    at: u32,
    len: u32,
    val: Agg,
}

const FREE: Slot = Slot { hash: 0, at: 0, len: 0, val: Agg::I64(0) };

/// Byte key → partial aggregate, with linear probing. Grows at 7/8 full.
#[derive(Debug, Clone)]
pub struct LongTable {
    slots: Vec<Slot>,
    bytes: Vec<u8>,
    len: usize,
}

impl Default for LongTable {
    fn default() -> Self {
        LongTable { slots: vec![FREE; 16], bytes: Vec::new(), len: 0 }
    }
}

/// The hash of a byte key (FxHash: eight bytes a step).
///
/// ```
/// use weir::operator::longtable::hash_bytes;
/// assert_eq!(hash_bytes(b"a-key-of-some-length"), hash_bytes(b"a-key-of-some-length"));
/// assert_ne!(hash_bytes(b"a-key-of-some-length"), hash_bytes(b"a-key-of-some-lengtH"));
/// ```
#[inline]
pub fn hash_bytes(key: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(key)
}

impl LongTable {
    /// Folds `v` into the partial of `key` (not empty) by reducer `r`.
    ///
    /// ```
    /// use weir::operator::longtable::LongTable;
    /// use weir::operator::reduce::Agg;
    /// use weir::graph::spec::ReducerKind;
    /// let mut t = LongTable::default();
    /// t.add(b"customer-account-session-w1", Agg::I64(2), ReducerKind::Sum);
    /// t.add(b"customer-account-session-w1", Agg::I64(3), ReducerKind::Sum);
    /// t.add(b"customer-account-session-w2", Agg::I64(1), ReducerKind::Sum);
    /// assert_eq!(t.get(b"customer-account-session-w1"), Some(Agg::I64(5)));
    /// assert_eq!(t.len(), 2);
    /// ```
    #[inline]
    pub fn add(&mut self, key: &[u8], v: Agg, r: ReducerKind) {
        debug_assert!(!key.is_empty());
        let h = hash_bytes(key);
        let i = self.find(key, h);
        let slot = &mut self.slots[i];
        if slot.len != 0 {
            slot.val = slot.val.combine(v, r);
            return;
        }
        let at = u32::try_from(self.bytes.len()).expect("a batch's long keys fit in 4 GiB");
        self.bytes.extend_from_slice(key);
        *slot = Slot { hash: h, at, len: key.len() as u32, val: v };
        self.len += 1;
        if self.len * 8 > self.slots.len() * 7 {
            self.grow();
        }
    }

    /// The slot holding `key` (with hash `h`), or the free slot where it would go.
    #[inline]
    fn find(&self, key: &[u8], h: u64) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let s = &self.slots[i];
            if s.len == 0 || (s.hash == h && self.key(s) == key) {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    fn key(&self, s: &Slot) -> &[u8] {
        &self.bytes[s.at as usize..(s.at + s.len) as usize]
    }

    fn grow(&mut self) {
        let room = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![FREE; room]);
        let mask = room - 1;
        for s in old.into_iter().filter(|s| s.len != 0) {
            let mut i = s.hash as usize & mask;
            while self.slots[i].len != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
        }
    }

    /// The partial of `key`, if any.
    pub fn get(&self, key: &[u8]) -> Option<Agg> {
        let s = &self.slots[self.find(key, hash_bytes(key))];
        (s.len != 0).then_some(s.val)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the table holds no key.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every key but keeps the room, so the next batch fills warm memory.
    pub fn clear(&mut self) {
        if self.len > 0 {
            self.slots.iter_mut().for_each(|s| s.len = 0);
            self.bytes.clear();
            self.len = 0;
        }
    }

    /// Every key and its partial, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Agg)> + '_ {
        self.slots.iter().filter(|s| s.len != 0).map(|s| (self.key(s), s.val))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::LongTable;
    use crate::graph::spec::ReducerKind;
    use crate::operator::agg::Agg;

    #[test]
    fn folds_as_a_map_does_through_growth_and_clearing() {
        let mut t = LongTable::default();
        for round in 0..3u64 {
            t.clear();
            let mut model: HashMap<Vec<u8>, i64> = HashMap::new();
            for i in 0..5_000u64 {
                // Keys that share long prefixes and differ in length, some many times.
                let key = format!("{}-{}-{}", "k".repeat(16 + (i % 7) as usize), i % 1_777, round);
                t.add(key.as_bytes(), Agg::I64(i as i64), ReducerKind::Sum);
                *model.entry(key.into_bytes()).or_default() += i as i64;
            }
            assert_eq!(t.len(), model.len());
            let got: HashMap<Vec<u8>, i64> = t
                .iter()
                .map(|(k, v)| match v {
                    Agg::I64(n) => (k.to_vec(), n),
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(got, model);
        }
    }
}
