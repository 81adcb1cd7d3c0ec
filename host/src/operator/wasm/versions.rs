//! The versions of a stream's plugin over batch time: a swap adds a version from a batch on, and every
//! worker uses, for batch `t`, the newest version that starts at or before `t`. So all workers change
//! plugin at the same batch, whichever of them gets there first, and a batch is never run by two
//! versions.

use std::sync::{Arc, Mutex};

/// Versions of one thing by the batch they start at; the first starts at 0.
#[derive(Debug)]
pub struct Versions<T> {
    list: Mutex<Vec<(u64, Arc<T>)>>,
}

/// Versions kept: a worker still on an older batch needs its version; older ones are dropped.
const KEPT: usize = 4;

impl<T> Versions<T> {
    /// One version, from the start.
    pub fn new(first: Arc<T>) -> Versions<T> {
        Versions { list: Mutex::new(vec![(0, first)]) }
    }

    /// The version batch `time` runs with.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use weir::operator::wasm::Versions;
    /// let v = Versions::new(Arc::new("v1"));
    /// v.add(3000, Arc::new("v2"));
    /// assert_eq!((*v.for_batch(2000), *v.for_batch(3000), *v.for_batch(9000)), ("v1", "v2", "v2"));
    /// ```
    pub fn for_batch(&self, time: u64) -> Arc<T> {
        let list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        let found = list.iter().rev().find(|(from, _)| *from <= time).unwrap_or(&list[0]);
        found.1.clone()
    }

    /// Adds `version`, used from batch `from` on.
    pub fn add(&self, from: u64, version: Arc<T>) {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        list.push((from, version));
        if list.len() > KEPT {
            list.remove(0);
        }
    }

    /// The newest version.
    ///
    /// ```
    /// let v = weir::operator::wasm::Versions::new(std::sync::Arc::new(1));
    /// assert_eq!(*v.newest(), 1);
    /// ```
    pub fn newest(&self) -> Arc<T> {
        let list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        list.last().expect("a first version").1.clone()
    }
}
