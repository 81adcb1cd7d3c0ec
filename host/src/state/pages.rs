//! Keyed state on disk. Each key group's keys are kept sorted and cut into pages of a few KiB, one sled
//! entry per page, keyed `[group][bound]`: a page holds the keys from its bound up to the next page's
//! bound. Writing back 100 k changed keys is then a few hundred sled inserts instead of 100 k (each
//! sled insert costs about 2 µs of CPU, which made the end-of-input write-back 15–18 % of a job); a key
//! missing from the cache costs one range lookup and a walk through one page.

use std::ops::Bound;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use weir_sdk::packed::Kind;

use super::value::ValueBytes;
use super::{StateError, StateValue};

/// A page is cut in pieces once its encoding passes this many bytes…
const MAX_PAGE: usize = 4096;
/// …each piece holding about this many.
const PIECE: usize = 2048;

/// One stored key and its state, as encoded in a page (postcard, lengths and times as varints).
#[derive(Serialize, Deserialize)]
struct Entry<'a> {
    #[serde(borrow, with = "serde_bytes")]
    key: &'a [u8],
    kind: u8,
    last_seen: u64,
    #[serde(borrow, with = "serde_bytes")]
    bytes: &'a [u8],
}

impl Entry<'_> {
    fn state(&self) -> StateValue {
        StateValue {
            kind: Kind::from_byte(self.kind),
            last_seen: self.last_seen,
            bytes: ValueBytes::from_slice(self.bytes),
        }
    }
}

/// A change to write: a key and its new state, or `None` to delete it.
pub(super) type Change<'a> = (&'a [u8], Option<&'a StateValue>);

/// The pages of one stream.
pub(super) struct Pages {
    tree: sled::Tree,
    stream: String,
    path: PathBuf,
    /// Groups known to have no page: a job that starts from empty state looks up every new key, and
    /// each lookup in sled (a range query) costs more than the rest of the key's update.
    empty: [bool; 256],
}

/// `bytes` prefixed by their key group: a page's sled key, and a key as checkpoints hold it.
pub(super) fn group_key(group: u8, bytes: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + bytes.len());
    k.push(group);
    k.extend_from_slice(bytes);
    k
}

impl Pages {
    pub(super) fn new(tree: sled::Tree, stream: &str, path: &Path) -> Pages {
        let empty = [tree.is_empty(); 256];
        Pages { tree, stream: stream.into(), path: path.to_path_buf(), empty }
    }

    fn corrupt(&self) -> StateError {
        StateError::Corrupt { stream: self.stream.clone() }
    }

    /// The entries of one encoded page, in key order, decoded as they are read.
    fn decode<'a>(&self, mut raw: &'a [u8]) -> impl Iterator<Item = Result<Entry<'a>, StateError>> + use<'a, '_> {
        std::iter::from_fn(move || {
            if raw.is_empty() {
                return None;
            }
            Some(match postcard::take_from_bytes::<Entry<'a>>(raw) {
                Ok((e, rest)) => {
                    raw = rest;
                    Ok(e)
                }
                Err(_) => {
                    raw = &[];
                    Err(self.corrupt())
                }
            })
        })
    }

    /// All the entries of one encoded page, in key order.
    fn entries<'a>(&self, raw: &'a [u8]) -> Result<Vec<Entry<'a>>, StateError> {
        self.decode(raw).collect()
    }

    /// The page that holds (or would hold) `key`: the one with the greatest bound not above it.
    fn page_of(&self, group: u8, key: &[u8]) -> sled::Result<Option<(sled::IVec, sled::IVec)>> {
        let full = group_key(group, key);
        self.tree.range([group].as_slice()..=full.as_slice()).next_back().transpose()
    }

    /// The state of `key` as stored.
    pub(super) fn get(&self, group: u8, key: &[u8]) -> Result<Option<StateValue>, StateError> {
        if self.empty[group as usize] {
            return Ok(None);
        }
        let Some((_, raw)) = self.page_of(group, key).map_err(|e| self.store_err(e))? else { return Ok(None) };
        // Entries are sorted: stop at the first key not below the one sought.
        for e in self.decode(&raw) {
            let e = e?;
            if e.key >= key {
                return Ok((e.key == key).then(|| e.state()));
            }
        }
        Ok(None)
    }

    /// Every stored key of `group`, in key order.
    pub(super) fn scan(&self, group: u8) -> Result<Vec<(Vec<u8>, StateValue)>, StateError> {
        let mut out = Vec::new();
        for page in self.tree.scan_prefix([group]) {
            let (_, raw) = page.map_err(|e| self.store_err(e))?;
            out.extend(self.entries(&raw)?.iter().map(|e| (e.key.to_vec(), e.state())));
        }
        Ok(out)
    }

    /// How many keys are stored, in all groups.
    #[cfg(test)]
    pub(super) fn len(&self) -> Result<usize, StateError> {
        (0..=u8::MAX).map(|g| self.scan(g).map(|s| s.len())).sum()
    }

    /// Applies `changes` (any order, each key once) to `group`'s pages: each page they touch is read
    /// once, merged and written back, in pieces if it grew too big, or removed if it emptied.
    pub(super) fn write(&mut self, group: u8, changes: &mut [Change<'_>]) -> Result<(), StateError> {
        self.empty[group as usize] &= changes.is_empty();
        changes.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut rest = &changes[..];
        while let Some(&(first, _)) = rest.first() {
            let err = |e| self.store_err(e);
            let (bound, old) = match self.page_of(group, first).map_err(err)? {
                Some((k, v)) => (k[1..].to_vec(), Some(v)),
                None => (Vec::new(), None),
            };
            let above = (Bound::Excluded(group_key(group, first)), Bound::Unbounded);
            let next = self.tree.range::<Vec<u8>, _>(above).next().transpose().map_err(err)?;
            let next = next.filter(|(k, _)| k[0] == group).map(|(k, _)| k);
            let here = rest.partition_point(|(k, _)| next.as_ref().is_none_or(|n| *k < &n[1..]));
            let (mine, later) = rest.split_at(here);
            let old = match &old {
                Some(raw) => self.entries(raw)?,
                None => Vec::new(),
            };
            self.rewrite(group, &bound, merge(old, mine))?;
            rest = later;
        }
        Ok(())
    }

    /// Stores the page with `bound` as `entries`, cut in pieces if big, or removes it if empty.
    fn rewrite(&self, group: u8, bound: &[u8], entries: Vec<Entry<'_>>) -> Result<(), StateError> {
        let err = |e| self.store_err(e);
        if entries.is_empty() {
            return self.tree.remove(group_key(group, bound)).map(|_| ()).map_err(err);
        }
        let size = |e: &Entry<'_>| e.key.len() + e.bytes.len() + 12;
        let total: usize = entries.iter().map(size).sum();
        let cut = if total > MAX_PAGE { PIECE } else { usize::MAX };
        let mut page = Vec::with_capacity(total.min(MAX_PAGE));
        let mut page_bound = bound.to_vec();
        let mut filled = 0;
        for e in &entries {
            if filled > 0 && filled + size(e) > cut {
                self.tree.insert(group_key(group, &page_bound), std::mem::take(&mut page)).map_err(err)?;
                page_bound = e.key.to_vec();
                filled = 0;
            }
            page = postcard::to_extend(e, page).map_err(|_| self.corrupt())?;
            filled += size(e);
        }
        self.tree.insert(group_key(group, &page_bound), page).map(|_| ()).map_err(err)
    }

    /// Removes every page.
    pub(super) fn clear(&mut self) -> Result<(), StateError> {
        self.empty = [true; 256];
        self.tree.clear().map_err(|e| self.store_err(e))
    }

    fn store_err(&self, source: sled::Error) -> StateError {
        StateError::Store { path: self.path.clone(), source }
    }
}

/// A page's entries with sorted `changes` applied.
fn merge<'a>(old: Vec<Entry<'a>>, changes: &'a [Change<'a>]) -> Vec<Entry<'a>> {
    let mut out = Vec::with_capacity(old.len() + changes.len());
    let mut old = old.into_iter().peekable();
    for &(key, value) in changes {
        while let Some(e) = old.next_if(|e| e.key < key) {
            out.push(e);
        }
        old.next_if(|e| e.key == key);
        if let Some(v) = value {
            out.push(Entry { key, kind: v.kind as u8, last_seen: v.last_seen, bytes: &v.bytes });
        }
    }
    out.extend(old);
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rand::{Rng, SeedableRng, rngs::StdRng};

    use super::{Change, MAX_PAGE, Pages};
    use crate::state::StateValue;

    /// A change as the test keeps it.
    type Owned = (Vec<u8>, Option<StateValue>);

    fn pages() -> (Pages, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        (Pages::new(db.open_tree("p").unwrap(), "s", dir.path()), dir)
    }

    #[test]
    fn pages_split_merge_and_empty_and_always_agree_with_a_sorted_map() {
        let (mut pages, _dir) = pages();
        let mut model: BTreeMap<(u8, Vec<u8>), i64> = BTreeMap::new();
        let mut rng = StdRng::seed_from_u64(7);
        for round in 0..40 {
            // Inserts, updates and deletes, some rounds mostly deletes so pages empty out.
            let deletes = if round % 10 >= 7 { 0.9 } else { 0.2 };
            let mut by_group: BTreeMap<u8, Vec<Owned>> = BTreeMap::new();
            let mut seen = std::collections::HashSet::new();
            for _ in 0..rng.random_range(1..600) {
                let g = rng.random_range(0..3u8);
                let key = format!("k{:05}", rng.random_range(0..3000)).into_bytes();
                if !seen.insert((g, key.clone())) {
                    continue;
                }
                let value = if rng.random_bool(deletes) {
                    model.remove(&(g, key.clone()));
                    None
                } else {
                    let n = rng.random_range(-5..1_000_000i64);
                    model.insert((g, key.clone()), n);
                    Some(StateValue::int(n, round))
                };
                by_group.entry(g).or_default().push((key, value));
            }
            for (g, changes) in &by_group {
                let mut changes: Vec<Change<'_>> = changes.iter().map(|(k, v)| (k.as_slice(), v.as_ref())).collect();
                pages.write(*g, &mut changes).unwrap();
            }
            for g in 0..3u8 {
                let stored: Vec<(Vec<u8>, i64)> =
                    pages.scan(g).unwrap().into_iter().map(|(k, v)| (k, v.as_i64().unwrap())).collect();
                let want: Vec<(Vec<u8>, i64)> =
                    model.range((g, vec![])..(g + 1, vec![])).map(|((_, k), v)| (k.clone(), *v)).collect();
                assert_eq!(stored, want, "group {g} after round {round}");
            }
            for _ in 0..50 {
                let (g, key) = (rng.random_range(0..3u8), format!("k{:05}", rng.random_range(0..3000)).into_bytes());
                let got = pages.get(g, &key).unwrap().and_then(|v| v.as_i64());
                assert_eq!(got, model.get(&(g, key.clone())).copied(), "get {g} {key:?}");
            }
        }
        let sizes: Vec<usize> = pages.tree.iter().map(|p| p.unwrap().1.len()).collect();
        assert!(sizes.len() > 10, "{} pages: big groups are cut in pieces", sizes.len());
        assert!(sizes.iter().all(|&s| s <= MAX_PAGE), "a page above {MAX_PAGE} bytes: {sizes:?}");
        assert_eq!(pages.len().unwrap(), model.len());
    }

    #[test]
    fn a_group_written_at_once_takes_a_few_pages_not_one_entry_per_key() {
        let (mut pages, _dir) = pages();
        let keys: Vec<Vec<u8>> = (0..10_000).map(|i| format!("word{i}").into_bytes()).collect();
        let value = StateValue::int(1, 1000);
        let mut changes: Vec<Change<'_>> = keys.iter().rev().map(|k| (k.as_slice(), Some(&value))).collect();
        pages.write(9, &mut changes).unwrap();
        assert_eq!(pages.len().unwrap(), 10_000);
        assert!(pages.tree.len() < 200, "{} sled entries for 10,000 keys", pages.tree.len());
        assert_eq!(pages.get(9, b"word777").unwrap().and_then(|v| v.as_i64()), Some(1));
        assert_eq!(pages.get(9, b"word").unwrap(), None);
        assert_eq!(pages.get(8, b"word777").unwrap(), None);
    }

    #[test]
    fn a_damaged_page_is_reported_not_read_as_empty() {
        let (pages, dir) = pages();
        pages.tree.insert([4u8], vec![0xff; 9]).unwrap();
        // Found on disk when the state opens.
        let pages = Pages::new(pages.tree.clone(), "s", dir.path());
        assert!(pages.get(4, b"x").is_err());
        assert!(pages.scan(4).is_err());
    }

    #[test]
    fn groups_of_a_new_tree_are_read_as_empty_until_written_and_pages_found_on_open_are_read() {
        let (mut pages, dir) = pages();
        let value = StateValue::int(5, 1000);
        assert_eq!(pages.get(3, b"k").unwrap(), None);
        pages.write(3, &mut [(b"k".as_slice(), Some(&value))]).unwrap();
        assert_eq!(pages.get(3, b"k").unwrap().and_then(|v| v.as_i64()), Some(5));
        assert_eq!(pages.get(4, b"k").unwrap(), None);
        let reopened = Pages::new(pages.tree.clone(), "s", dir.path());
        assert_eq!(reopened.get(3, b"k").unwrap().and_then(|v| v.as_i64()), Some(5));
        pages.clear().unwrap();
        assert_eq!(pages.get(3, b"k").unwrap(), None);
    }
}
