//! An open-addressing table of short keys packed into `u128`s, the hot path of every keyed aggregation.
//!
//! A key of up to 15 bytes is packed with its length (and a marker bit, so no key packs to 0, which
//! marks a free slot). Hashing and comparing a packed key costs a few integer instructions instead of a
//! byte-wise hash and a `memcmp`, and linear probing keeps a probe within one or two cache lines.

use super::agg::Agg;
use crate::graph::spec::ReducerKind;

/// The longest key that packs into a `u128`.
pub const MAX_PACKED: usize = 15;

const MARK: u128 = 0x80 << 120;

/// Packs `key` (at most [`MAX_PACKED`] bytes).
///
/// ```
/// use weir::operator::keytable::{pack, unpack};
/// let k = pack(b"word").unwrap();
/// assert_ne!(pack(b"").unwrap(), 0);
/// assert_eq!(&unpack(k).0[..unpack(k).1], b"word");
/// assert_eq!(pack(&[b'x'; 16]), None);
/// ```
#[inline]
pub fn pack(key: &[u8]) -> Option<u128> {
    if key.len() > MAX_PACKED {
        return None;
    }
    let mut b = [0u8; 16];
    b[..key.len()].copy_from_slice(key);
    Some(u128::from_le_bytes(b) | (key.len() as u128) << 120 | MARK)
}

/// Packs `buf[start..start + len]`, reading 16 bytes at once where the buffer allows: this runs for
/// every word of a batch, and a variable-length copy costs more than the hashing.
///
/// ```
/// use weir::operator::keytable::{pack, pack_at};
/// let buf = b"the quick brown fox jumps over the lazy dog";
/// assert_eq!(pack_at(buf, 4, 5), pack(b"quick"));
/// assert_eq!(pack_at(buf, 40, 3), pack(b"dog"));
/// ```
#[inline]
pub fn pack_at(buf: &[u8], start: usize, len: usize) -> Option<u128> {
    if len > MAX_PACKED {
        return None;
    }
    match buf.get(start..start + 16) {
        Some(wide) => {
            let raw = u128::from_le_bytes(wide.try_into().expect("16 bytes"));
            let mask = if len == 0 { 0 } else { u128::MAX >> (128 - 8 * len) };
            Some((raw & mask) | (len as u128) << 120 | MARK)
        }
        None => pack(&buf[start..start + len]),
    }
}

/// The key bytes of a packed key: a buffer and the length to take from it.
#[inline]
pub fn unpack(k: u128) -> ([u8; 16], usize) {
    let b = k.to_le_bytes();
    (b, (b[15] & 0x7f) as usize)
}

/// A 64-bit hash of a packed key (a folded 128-bit multiply: every input bit reaches the high bits).
#[inline]
pub fn hash(k: u128) -> u64 {
    let p = ((k as u64) ^ 0x243f_6a88_85a3_08d3) as u128 * (((k >> 64) as u64) ^ 0x1319_8a2e_0370_7344) as u128;
    (p as u64) ^ ((p >> 64) as u64)
}

/// A key and its partial side by side, so a probe that finds its key touches one cache line.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Slot {
    key: u128,
    val: Agg,
}

const FREE: Slot = Slot { key: 0, val: Agg::I64(0) };

/// Packed key → partial aggregate, with linear probing. Grows at 7/8 full.
#[derive(Debug, Clone)]
pub struct KeyTable {
    slots: Vec<Slot>,
    len: usize,
}

impl Default for KeyTable {
    fn default() -> Self {
        KeyTable { slots: vec![FREE; 16], len: 0 }
    }
}

impl KeyTable {
    /// Folds `v` into the partial of packed key `k` (with hash `h`) by reducer `r`.
    ///
    /// ```
    /// use weir::operator::keytable::{KeyTable, pack, hash};
    /// use weir::operator::reduce::Agg;
    /// use weir::graph::spec::ReducerKind;
    /// let mut t = KeyTable::default();
    /// let k = pack(b"a").unwrap();
    /// t.add(k, hash(k), Agg::I64(2), ReducerKind::Sum);
    /// t.add(k, hash(k), Agg::I64(3), ReducerKind::Sum);
    /// assert_eq!(t.get(k, hash(k)), Some(Agg::I64(5)));
    /// assert_eq!(t.len(), 1);
    /// ```
    #[inline]
    pub fn add(&mut self, k: u128, h: u64, v: Agg, r: ReducerKind) {
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let slot = &mut self.slots[i];
            if slot.key == k {
                slot.val = slot.val.combine(v, r);
                return;
            }
            if slot.key == 0 {
                *slot = Slot { key: k, val: v };
                self.len += 1;
                if self.len * 8 > self.slots.len() * 7 {
                    self.grow();
                }
                return;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let room = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![FREE; room]);
        let mask = room - 1;
        for s in old.into_iter().filter(|s| s.key != 0) {
            let mut i = hash(s.key) as usize & mask;
            while self.slots[i].key != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
        }
    }

    /// The partial of packed key `k` (with hash `h`).
    pub fn get(&self, k: u128, h: u64) -> Option<Agg> {
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            match self.slots[i] {
                Slot { key: 0, .. } => return None,
                s if s.key == k => return Some(s.val),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Reads the table front to back, one load per cache line, when `keys` probes are about to come: the
    /// hardware streams a sequential read in, where the probes would each wait for a line of their own.
    /// Too few probes to touch most lines are not worth the sweep.
    ///
    /// ```
    /// use weir::operator::keytable::KeyTable;
    /// KeyTable::default().warm(1_000);
    /// ```
    #[inline]
    pub fn warm(&self, keys: usize) {
        if keys >= self.slots.len() / 2 {
            // Two 32-byte slots per 64-byte line.
            std::hint::black_box(self.slots.iter().step_by(2).fold(0u64, |a, s| a ^ s.key as u64));
        }
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
            self.slots.iter_mut().for_each(|s| s.key = 0);
            self.len = 0;
        }
    }

    /// Every packed key and its partial, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u128, Agg)> + '_ {
        self.slots.iter().filter(|s| s.key != 0).map(|s| (s.key, s.val))
    }
}
