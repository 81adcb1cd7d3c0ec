//! One stateful stream's keyed state: sorted pages of keys in a sled tree (`pages.rs`), a second tree
//! of idle timeouts keyed `[key group][expiry, 8 bytes BE][key]` so expired keys are one range scan
//! away, and a bounded write-back cache in front, one map per key group. Changes stay in the cache; a
//! key reaches sled when it is evicted (`flush`, at the end of a batch, drops the keys used longest ago
//! once the cache is over its bound) or when everything is written (`sync`, at the end of the job and,
//! with checkpoints, at each one). Hot keys therefore cost a hash-map update per batch, not a sled write.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rustc_hash::FxBuildHasher;
use smallvec::SmallVec;

use super::pages::{Change, Pages, group_key};
use super::{KeyedPart, StateError, StateValue};

/// Version of the stored layout, part of every tree name (v2: keys in pages).
pub(super) const VERSION: &str = "/v2";

/// Key groups, as `operator::reduce::KEY_GROUPS`.
const GROUPS: usize = 256;

/// A cached key: keys of up to 16 bytes (nearly every word) are held in the map's own entry, so finding
/// one compares bytes already in cache instead of following a pointer.
type CacheKey = SmallVec<[u8; 16]>;

struct Slot {
    value: Option<StateValue>,
    dirty: bool,
    stamp: u64,
}

/// The state of one stream, as one worker sees it.
pub struct KeyedState {
    stream: String,
    path: PathBuf,
    pages: Pages,
    timeouts: sled::Tree,
    cache: Vec<HashMap<CacheKey, Slot, FxBuildHasher>>,
    cached: usize,
    capacity: usize,
    stamp: u64,
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
            pages: Pages::new(tree, stream, path),
            timeouts,
            cache: (0..GROUPS).map(|_| HashMap::default()).collect(),
            cached: 0,
            capacity: capacity.max(1),
            stamp: 0,
        })
    }

    fn store_err(&self, source: sled::Error) -> StateError {
        StateError::Store { path: self.path.clone(), source }
    }

    /// The state of `key` as sled holds it (for a key not in the cache).
    fn stored(&self, group: u8, key: &[u8]) -> Result<Option<StateValue>, StateError> {
        self.pages.get(group, key)
    }

    /// The state of `key` (in key group `group`), from the cache or the store.
    pub fn get(&mut self, group: u8, key: &[u8]) -> Result<Option<StateValue>, StateError> {
        if let Some(slot) = self.cache[group as usize].get_mut(key) {
            slot.stamp = self.stamp;
            return Ok(slot.value.clone());
        }
        let value = self.stored(group, key)?;
        self.set(group, key, value.clone(), false);
        Ok(value)
    }

    /// Replaces the state of `key` with what `f` makes of the current one, and returns `f`'s second
    /// result. One hash lookup when the key is cached, and the old state is lent, not cloned.
    ///
    /// ```
    /// use weir::state::{StateDb, StateValue};
    /// let db = StateDb::open(None, 10).unwrap();
    /// let mut s = db.keyed("counts").unwrap();
    /// for _ in 0..2 {
    ///     s.update(0, b"k", |old| {
    ///         let n = old.and_then(StateValue::as_i64).unwrap_or(0) + 1;
    ///         (Some(StateValue::int(n, 1000)), ())
    ///     })
    ///     .unwrap();
    /// }
    /// assert_eq!(s.get(0, b"k").unwrap().unwrap().as_i64(), Some(2));
    /// ```
    pub fn update<R>(
        &mut self,
        group: u8,
        key: &[u8],
        f: impl FnOnce(Option<&StateValue>) -> (Option<StateValue>, R),
    ) -> Result<R, StateError> {
        let stamp = self.stamp;
        if let Some(slot) = self.cache[group as usize].get_mut(key) {
            let (value, r) = f(slot.value.as_ref());
            *slot = Slot { value, dirty: true, stamp };
            return Ok(r);
        }
        let old = self.stored(group, key)?;
        let (value, r) = f(old.as_ref());
        self.set(group, key, value, true);
        Ok(r)
    }

    /// Looks `key` up without using the result, so its cache entry is in the CPU cache when [`update`]
    /// comes to it. A tight loop of these for the next keys lets the CPU wait for many entries at once;
    /// inside the update loop each one cost a full memory round trip (three quarters of `update`'s time).
    ///
    /// [`update`]: KeyedState::update
    ///
    /// ```
    /// let db = weir::state::StateDb::open(None, 10).unwrap();
    /// let s = db.keyed("counts").unwrap();
    /// s.touch(0, b"k");
    /// ```
    #[inline]
    pub fn touch(&self, group: u8, key: &[u8]) {
        std::hint::black_box(self.cache[group as usize].contains_key(key));
    }

    fn set(&mut self, group: u8, key: &[u8], value: Option<StateValue>, dirty: bool) {
        let stamp = self.stamp;
        match self.cache[group as usize].get_mut(key) {
            Some(slot) => *slot = Slot { value, dirty: dirty || slot.dirty, stamp },
            None => {
                self.cache[group as usize].insert(CacheKey::from_slice(key), Slot { value, dirty, stamp });
                self.cached += 1;
            }
        }
    }

    /// Sets the state of `key`.
    pub fn put(&mut self, group: u8, key: &[u8], value: StateValue) {
        self.set(group, key, Some(value), true);
    }

    /// Deletes the state of `key`.
    pub fn remove(&mut self, group: u8, key: &[u8]) {
        self.set(group, key, None, true);
    }

    /// Ends a batch: if the cache is over its bound, writes the changed keys among those used longest ago
    /// to sled and drops them.
    pub fn flush(&mut self) -> Result<(), StateError> {
        if self.cached > self.capacity {
            let mut stamps: Vec<u64> = self.cache.iter().flat_map(|m| m.values().map(|s| s.stamp)).collect();
            let excess = self.cached - self.capacity;
            let (_, &mut cut, _) = stamps.select_nth_unstable(excess - 1);
            let mut to_drop = excess;
            for (g, map) in self.cache.iter_mut().enumerate() {
                let mut evicted = Vec::new();
                map.retain(|k, s| {
                    let drop = to_drop > 0 && s.stamp <= cut;
                    if drop && s.dirty {
                        evicted.push((k.clone(), s.value.take()));
                    }
                    to_drop -= drop as usize;
                    !drop
                });
                let mut changes: Vec<Change<'_>> = evicted.iter().map(|(k, v)| (k.as_slice(), v.as_ref())).collect();
                self.pages.write(g as u8, &mut changes)?;
            }
            self.cached = self.capacity;
        }
        self.stamp += 1;
        Ok(())
    }

    /// Writes every changed key to sled (they stay cached).
    pub fn sync(&mut self) -> Result<(), StateError> {
        for (g, map) in self.cache.iter_mut().enumerate() {
            let dirty = map.iter().filter(|(_, s)| s.dirty);
            let mut changes: Vec<Change<'_>> = dirty.map(|(k, s)| (k.as_slice(), s.value.as_ref())).collect();
            if !changes.is_empty() {
                self.pages.write(g as u8, &mut changes)?;
                map.values_mut().for_each(|s| s.dirty = false);
            }
        }
        Ok(())
    }

    /// Keys held in the cache (for tests and metrics).
    pub fn cached(&self) -> usize {
        self.cached
    }

    /// Every key of `group` in key order with its state: sled's keys, overridden by the cache's.
    pub fn scan(&self, group: u8) -> impl Iterator<Item = Result<(Vec<u8>, StateValue), StateError>> + '_ {
        let mut cached: Vec<(&CacheKey, &Slot)> = self.cache[group as usize].iter().collect();
        cached.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut cached = cached.into_iter().peekable();
        let mut out = Vec::new();
        let live = |k: &CacheKey, s: &Slot| s.value.clone().map(|v| Ok((k.to_vec(), v)));
        let stored = match self.pages.scan(group) {
            Ok(stored) => stored,
            Err(e) => return vec![Err(e)].into_iter(),
        };
        for (key, v) in stored {
            while let Some((ck, s)) = cached.next_if(|(ck, _)| ck.as_slice() < key.as_slice()) {
                out.extend(live(ck, s));
            }
            match cached.next_if(|(ck, _)| ck.as_slice() == key.as_slice()) {
                Some((ck, s)) => out.extend(live(ck, s)),
                None => out.push(Ok((key, v))),
            }
        }
        out.extend(cached.filter_map(|(ck, s)| live(ck, s)));
        out.into_iter()
    }
    /// Everything of key groups `owned` — stored and cached values, and timeouts — for a checkpoint.
    pub fn export(&self, owned: &[u8]) -> Result<KeyedPart, StateError> {
        let mut part = KeyedPart::default();
        for &g in owned {
            for r in self.scan(g) {
                let (k, v) = r?;
                part.entries.push((group_key(g, &k), v.encode()));
            }
            for r in self.timeouts.scan_prefix([g]) {
                let (k, _) = r.map_err(|e| self.store_err(e))?;
                part.timeouts.push(k.to_vec());
            }
        }
        Ok(part)
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

impl Drop for KeyedState {
    /// A job that ends writes what its cache still holds; `sync` at the end of the input is the normal
    /// path, this is the safety net for an operator dropped without it.
    fn drop(&mut self) {
        if let Err(e) = self.sync() {
            tracing::error!(stream = %self.stream, "cannot write state at shutdown: {e}");
        }
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
    fn changes_reach_sled_only_when_evicted_or_synced_and_scans_see_them_first() {
        let db = StateDb::open(None, 3).unwrap();
        let mut s = db.keyed("s").unwrap();
        let stored = |s: &crate::state::KeyedState| s.pages.len().unwrap();
        for k in [b"a", b"b", b"c"] {
            s.put(1, k, StateValue::int(1, 1000));
        }
        s.flush().unwrap();
        assert_eq!(stored(&s), 0, "a cache within its bound writes nothing");
        s.put(1, b"d", StateValue::int(4, 2000));
        s.flush().unwrap();
        assert_eq!((stored(&s), s.cached()), (1, 3), "one key evicted, and written");
        s.put(1, b"a", StateValue::int(9, 3000));
        s.remove(1, b"b");
        let scanned: Vec<(Vec<u8>, Option<i64>)> =
            s.scan(1).map(|r| r.unwrap()).map(|(k, v)| (k, v.as_i64())).collect();
        let want: Vec<(Vec<u8>, Option<i64>)> =
            vec![(b"a".to_vec(), Some(9)), (b"c".to_vec(), Some(1)), (b"d".to_vec(), Some(4))];
        assert_eq!(scanned, want, "the cache overrides and deletes what sled holds");
        s.sync().unwrap();
        drop(s);
        let mut again = db.keyed("s").unwrap();
        assert_eq!(again.get(1, b"a").unwrap().and_then(|v| v.as_i64()), Some(9));
        assert_eq!(again.get(1, b"b").unwrap(), None);
        assert_eq!(again.get(1, b"d").unwrap().and_then(|v| v.as_i64()), Some(4));
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
