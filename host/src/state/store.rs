//! One stateful stream's keyed state: a sled tree keyed `[key group][key]`, a second tree of idle
//! timeouts keyed `[key group][expiry, 8 bytes BE][key]` so expired keys are one range scan away, and a
//! bounded cache of recently used keys in front. Writes stay in the cache until `flush` at the end of
//! the batch, which writes them in one sled batch and then evicts the least recently used keys.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{StateError, StateValue};

/// Version of the stored layout, part of every tree name.
pub(super) const VERSION: &str = "/v1";

struct Slot {
    value: Option<StateValue>,
    dirty: bool,
    stamp: u64,
}

/// The state of one stream, as one worker sees it.
pub struct KeyedState {
    stream: String,
    path: PathBuf,
    tree: sled::Tree,
    timeouts: sled::Tree,
    cache: HashMap<Vec<u8>, Slot>,
    capacity: usize,
    stamp: u64,
}

fn full_key(group: u8, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(group);
    k.extend_from_slice(key);
    k
}

fn timeout_key(group: u8, expiry: u64, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + key.len());
    k.push(group);
    k.extend_from_slice(&expiry.to_be_bytes());
    k.extend_from_slice(key);
    k
}

impl KeyedState {
    pub(super) fn open(db: &sled::Db, path: &Path, stream: &str, capacity: usize) -> Result<KeyedState, StateError> {
        let err = |source| StateError::Store { path: path.to_path_buf(), source };
        let tree = db.open_tree(format!("state/{stream}{VERSION}")).map_err(err)?;
        let timeouts = db.open_tree(format!("timeouts/{stream}{VERSION}")).map_err(err)?;
        Ok(KeyedState {
            stream: stream.into(),
            path: path.to_path_buf(),
            tree,
            timeouts,
            cache: HashMap::new(),
            capacity: capacity.max(1),
            stamp: 0,
        })
    }

    fn store_err(&self, source: sled::Error) -> StateError {
        StateError::Store { path: self.path.clone(), source }
    }

    fn decode(&self, raw: &[u8]) -> Result<StateValue, StateError> {
        StateValue::decode(raw).ok_or_else(|| StateError::Corrupt { stream: self.stream.clone() })
    }

    /// The state of `key` (in key group `group`), from the cache or the store.
    pub fn get(&mut self, group: u8, key: &[u8]) -> Result<Option<StateValue>, StateError> {
        let k = full_key(group, key);
        if let Some(slot) = self.cache.get_mut(&k) {
            slot.stamp = self.stamp;
            return Ok(slot.value.clone());
        }
        let value = match self.tree.get(&k).map_err(|e| self.store_err(e))? {
            Some(raw) => Some(self.decode(&raw)?),
            None => None,
        };
        self.cache.insert(k, Slot { value: value.clone(), dirty: false, stamp: self.stamp });
        Ok(value)
    }

    /// Sets the state of `key`; written at the next `flush`.
    pub fn put(&mut self, group: u8, key: &[u8], value: StateValue) {
        self.cache.insert(full_key(group, key), Slot { value: Some(value), dirty: true, stamp: self.stamp });
    }

    /// Deletes the state of `key`; written at the next `flush`.
    pub fn remove(&mut self, group: u8, key: &[u8]) {
        self.cache.insert(full_key(group, key), Slot { value: None, dirty: true, stamp: self.stamp });
    }

    /// Writes every change since the last flush in one sled batch, then shrinks the cache to its bound,
    /// dropping the keys used longest ago.
    pub fn flush(&mut self) -> Result<(), StateError> {
        // One insert per key: sled's atomic batches hold several copies of themselves in memory (a 5 M-key
        // state peaked at 5.6 GB with them). The checkpoint protocol, not sled, makes a batch atomic.
        for (k, slot) in self.cache.iter_mut().filter(|(_, s)| s.dirty) {
            let done = match &slot.value {
                Some(v) => self.tree.insert(k.as_slice(), v.encode()).map(|_| ()),
                None => self.tree.remove(k.as_slice()).map(|_| ()),
            };
            done.map_err(|source| StateError::Store { path: self.path.clone(), source })?;
            slot.dirty = false;
        }
        if self.cache.len() > self.capacity {
            let mut stamps: Vec<u64> = self.cache.values().map(|s| s.stamp).collect();
            let excess = self.cache.len() - self.capacity;
            let (_, &mut cut, _) = stamps.select_nth_unstable(excess - 1);
            let mut to_drop = excess;
            self.cache.retain(|_, s| {
                let drop = to_drop > 0 && s.stamp <= cut;
                to_drop -= drop as usize;
                !drop
            });
        }
        self.stamp += 1;
        Ok(())
    }

    /// Keys held in the cache (for tests and metrics).
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Every key of `group` in key order with its state, as stored at the last `flush`.
    pub fn scan(&self, group: u8) -> impl Iterator<Item = Result<(Vec<u8>, StateValue), StateError>> + '_ {
        self.tree.scan_prefix([group]).map(move |r| {
            let (k, v) = r.map_err(|e| self.store_err(e))?;
            Ok((k[1..].to_vec(), self.decode(&v)?))
        })
    }

    /// Moves `key`'s idle timeout from `old` to `new` expiry time (either may be absent).
    pub fn set_timeout(&self, group: u8, key: &[u8], old: Option<u64>, new: Option<u64>) -> Result<(), StateError> {
        if let Some(t) = old {
            self.timeouts.remove(timeout_key(group, t, key)).map_err(|e| self.store_err(e))?;
        }
        if let Some(t) = new {
            self.timeouts.insert(timeout_key(group, t, key), &[]).map_err(|e| self.store_err(e))?;
        }
        Ok(())
    }

    /// Keys of `group` whose timeout expires at or before `upto`, in expiry then key order; their timeout
    /// entries are removed.
    pub fn take_expired(&self, group: u8, upto: u64) -> Result<Vec<Vec<u8>>, StateError> {
        let start = timeout_key(group, 0, b"");
        let end = timeout_key(group, upto.saturating_add(1), b"");
        let mut keys = Vec::new();
        for r in self.timeouts.range(start..end) {
            let (k, _) = r.map_err(|e| self.store_err(e))?;
            self.timeouts.remove(&k).map_err(|e| self.store_err(e))?;
            keys.push(k[9..].to_vec());
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use crate::state::{StateDb, StateValue};

    #[test]
    fn the_cache_stays_bounded_and_evicted_keys_come_back_from_sled() {
        let db = StateDb::open(None, 10).unwrap();
        let mut s = db.keyed("s").unwrap();
        for i in 0..100i64 {
            s.put((i % 7) as u8, format!("k{i}").as_bytes(), StateValue::int(i, 1000));
            if i % 20 == 19 {
                s.flush().unwrap();
                assert!(s.cached() <= 10, "{} keys cached", s.cached());
            }
        }
        for i in 0..100i64 {
            assert_eq!(s.get((i % 7) as u8, format!("k{i}").as_bytes()).unwrap().unwrap().as_i64(), Some(i));
        }
        let in_group_3: Vec<_> = s.scan(3).map(|r| r.unwrap().0).collect();
        assert_eq!(in_group_3.len(), (0..100).filter(|i| i % 7 == 3).count());
        s.remove(3, b"k3");
        s.flush().unwrap();
        assert_eq!(s.get(3, b"k3").unwrap(), None);
    }

    #[test]
    fn timeouts_expire_in_order_and_move_when_refreshed() {
        let db = StateDb::open(None, 10).unwrap();
        let s = db.keyed("s").unwrap();
        s.set_timeout(1, b"a", None, Some(3000)).unwrap();
        s.set_timeout(1, b"b", None, Some(3000)).unwrap();
        s.set_timeout(1, b"b", Some(3000), Some(5000)).unwrap();
        s.set_timeout(2, b"c", None, Some(1000)).unwrap();
        assert_eq!(s.take_expired(1, 2000).unwrap(), Vec::<Vec<u8>>::new());
        assert_eq!(s.take_expired(1, 3000).unwrap(), vec![b"a".to_vec()]);
        assert_eq!(s.take_expired(1, 3000).unwrap(), Vec::<Vec<u8>>::new());
        assert_eq!(s.take_expired(1, 9000).unwrap(), vec![b"b".to_vec()]);
    }
}
