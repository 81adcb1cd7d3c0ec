//! Keyed state in a checkpoint: each worker exports its key groups (`KeyedState::export`) as a
//! [`KeyedPart`]; a resumed job clears the stream's trees and loads every part back, whatever the number
//! of workers now (key groups, not workers, partition the state).

use serde::{Deserialize, Serialize};

use super::pages::{Change, Pages};
use super::store::VERSION;
use super::{StateDb, StateError, StateValue};

/// The state of some key groups of one stream: sled's raw keys and values, and its timeout keys.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyedPart {
    /// `([group][key], encoded value)`.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// `[group][expiry][key]`.
    pub timeouts: Vec<Vec<u8>>,
}

impl StateDb {
    /// Replaces the whole state of `stream` with `parts`.
    ///
    /// ```
    /// use weir::state::{KeyedPart, StateDb, StateValue};
    /// let db = StateDb::open(None, 10).unwrap();
    /// let mut s = db.keyed("counts").unwrap();
    /// s.put(1, b"old", StateValue::int(1, 1000));
    /// let part = s.export(&[1]).unwrap();
    /// s.put(1, b"new", StateValue::int(2, 2000));
    /// s.sync().unwrap();
    /// drop(s);
    /// db.restore("counts", vec![part]).unwrap();
    /// let mut s = db.keyed("counts").unwrap();
    /// assert!(s.get(1, b"new").unwrap().is_none());
    /// assert_eq!(s.get(1, b"old").unwrap().unwrap().as_i64(), Some(1));
    /// ```
    pub fn restore(&self, stream: &str, parts: Vec<KeyedPart>) -> Result<(), StateError> {
        let err = |source| StateError::Store { path: self.path.clone(), source };
        let tree = self.db.open_tree(format!("state/{stream}{VERSION}")).map_err(err)?;
        let timeouts = self.db.open_tree(format!("timeouts/{stream}{VERSION}")).map_err(err)?;
        let mut pages = Pages::new(tree, stream, &self.path);
        pages.clear()?;
        timeouts.clear().map_err(err)?;
        let corrupt = || StateError::Corrupt { stream: stream.to_string() };
        for part in parts {
            let mut groups: Vec<Vec<(&[u8], StateValue)>> = (0..=u8::MAX).map(|_| Vec::new()).collect();
            for (k, v) in &part.entries {
                let (&g, key) = k.split_first().ok_or_else(corrupt)?;
                groups[g as usize].push((key, StateValue::decode(v).ok_or_else(corrupt)?));
            }
            for (g, entries) in groups.iter().enumerate().filter(|(_, e)| !e.is_empty()) {
                let mut changes: Vec<Change<'_>> = entries.iter().map(|(k, v)| (*k, Some(v))).collect();
                pages.write(g as u8, &mut changes)?;
            }
            let mut expiries = sled::Batch::default();
            for k in part.timeouts {
                expiries.insert(k, &[]);
            }
            timeouts.apply_batch(expiries).map_err(err)?;
        }
        Ok(())
    }
}
