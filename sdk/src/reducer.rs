//! Reducers (`#[weir::reduce]`): fold each key's values into one, with an optional inverse for
//! incremental windows. The host passes every key of a batch or window in one call, as [`Groups`].

use std::ops::Range;

use crate::datum::{Datum, Fallible};
use crate::operator::{Output, Plugin};
use crate::packed::Batch;
use crate::record::Record;

/// Values grouped by key: group `g` is records `bounds[g]..bounds[g + 1]` of `values`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Groups {
    /// The values, group after group; every record carries its group's key.
    pub values: Batch,
    /// Start of each group, plus the end of the last one.
    pub bounds: Vec<u32>,
}

impl Groups {
    /// Groups from `(key, values)` pairs, as the host would send them.
    ///
    /// ```
    /// use weir_sdk::{Record, reducer::Groups};
    /// let g = Groups::from_pairs(&[("a", vec![Record::i64(1), Record::i64(2)]), ("b", vec![])]);
    /// assert_eq!(g.len(), 2);
    /// assert_eq!(g.group(0), 0..2);
    /// assert_eq!(g.values.key_bytes(1), b"a");
    /// ```
    pub fn from_pairs(pairs: &[(&str, Vec<Record<'_>>)]) -> Groups {
        let mut g = Groups { values: Batch::new(), bounds: vec![0] };
        for (key, values) in pairs {
            for v in values {
                v.clone().with_key(*key).push_to(&mut g.values);
            }
            g.bounds.push(g.values.len() as u32);
        }
        g
    }

    /// Number of groups.
    ///
    /// ```
    /// assert_eq!(weir_sdk::reducer::Groups::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.bounds.len().saturating_sub(1)
    }

    /// True when there are no groups.
    ///
    /// ```
    /// assert!(weir_sdk::reducer::Groups::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The record indexes of group `g`.
    ///
    /// ```
    /// use weir_sdk::{Record, reducer::Groups};
    /// let g = Groups::from_pairs(&[("a", vec![Record::i64(1)]), ("b", vec![Record::i64(2)])]);
    /// assert_eq!(g.group(1), 1..2);
    /// ```
    pub fn group(&self, g: usize) -> Range<usize> {
        self.bounds[g] as usize..self.bounds[g + 1] as usize
    }

    /// Checks the bounds against the values, so a malformed call fails cleanly.
    ///
    /// ```
    /// let g = weir_sdk::reducer::Groups { values: Default::default(), bounds: vec![0, 3] };
    /// assert!(g.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), String> {
        self.values.validate().map_err(|e| e.to_string())?;
        let ok = self.bounds.first() == Some(&0)
            && self.bounds.windows(2).all(|w| w[0] <= w[1])
            && self.bounds.last().is_some_and(|&l| l as usize == self.values.len());
        if ok { Ok(()) } else { Err("group bounds do not match the values".to_string()) }
    }
}

/// A reducer. `#[weir::reduce]` implements it.
pub trait Reducer: Plugin {
    /// Folds each group into one record, the only required method.
    fn combine(input: &Groups, out: &mut Output);

    /// Takes the later values of each group out of its first (running) value.
    fn inverse(_input: &Groups, out: &mut Output) {
        out.fail(format!("reducer `{}` has no inverse", Self::NAME));
    }
}

/// Folds each group with `f`, pushing one keyed record per group. A value of the wrong type is refused
/// alone; an error from `f` refuses the whole group (its running value is gone), which then gives no record.
///
/// ```
/// use weir_sdk::{Output, Record, reducer::{Groups, fold}};
/// let g = Groups::from_pairs(&[("a", vec![Record::i64(1), Record::text("x"), Record::i64(2)])]);
/// let mut out = Output::default();
/// fold(&g, &mut out, |a: i64, b: i64| a + b);
/// assert_eq!(out.records.get(0).value, weir_sdk::packed::ValueRef::I64(3));
/// assert_eq!(out.rejected, vec![(1, "expected a s64 value, found text".to_string())]);
/// ```
pub fn fold<T: Datum, R: Fallible<T>>(input: &Groups, out: &mut Output, mut f: impl FnMut(T, T) -> R) {
    for g in 0..input.len() {
        let range = input.group(g);
        let mut acc: Option<T> = None;
        let mut failed = None;
        for i in range.clone() {
            let value = match T::from_value(Record::from_ref(input.values.get(i)).value) {
                Ok(v) => v,
                Err(e) => {
                    out.reject(i, e);
                    continue;
                }
            };
            acc = match acc.take() {
                None => Some(value),
                Some(a) => match f(a, value).into_result() {
                    Ok(v) => Some(v),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                },
            };
        }
        match (failed, acc) {
            (Some(e), _) => {
                out.rejected.retain(|(i, _)| !range.contains(&(*i as usize)));
                range.for_each(|i| out.reject(i, &e));
            }
            (None, Some(v)) => v.push(Some(input.values.key_bytes(range.start)), 0, &mut out.records),
            (None, None) => {}
        }
    }
}
