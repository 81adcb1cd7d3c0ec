//! A partial aggregate of numbers (`Agg`): how two partials combine under a reducer, a record's numeric
//! value read straight from its bytes, and what is being aggregated (`Aggregation`). Below the keyed
//! operators (reduce, partials, the key tables, state, event time), which all fold with it.

use weir_sdk::packed::{Batch, Kind, ValueRef};

use crate::graph::spec::ReducerKind;

/// A partial aggregate.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Agg {
    /// Integer.
    I64(i64),
    /// Float.
    F64(f64),
}

impl Agg {
    fn f(self) -> f64 {
        match self {
            Agg::I64(i) => i as f64,
            Agg::F64(f) => f,
        }
    }

    /// Combines two partials with `r` (`count` partials add up).
    ///
    /// ```
    /// use weir::operator::agg::Agg;
    /// use weir::graph::spec::ReducerKind;
    /// assert_eq!(Agg::I64(2).combine(Agg::I64(3), ReducerKind::Sum), Agg::I64(5));
    /// assert_eq!(Agg::I64(2).combine(Agg::F64(0.5), ReducerKind::Max), Agg::I64(2));
    /// assert_eq!(Agg::I64(2).combine(Agg::F64(0.5), ReducerKind::Sum), Agg::F64(2.5));
    /// ```
    #[inline]
    pub fn combine(self, other: Agg, r: ReducerKind) -> Agg {
        match r {
            ReducerKind::Sum | ReducerKind::Count => match (self, other) {
                (Agg::I64(a), Agg::I64(b)) => Agg::I64(a.wrapping_add(b)),
                (a, b) => Agg::F64(a.f() + b.f()),
            },
            ReducerKind::Min => self.pick(other, std::cmp::Ordering::Less),
            ReducerKind::Max => self.pick(other, std::cmp::Ordering::Greater),
        }
    }

    /// Compares exactly (integers as integers) and breaks ties the same way whatever the arrival order
    /// (an integer wins over an equal float), so min and max do not depend on the number of workers.
    fn pick(self, other: Agg, want: std::cmp::Ordering) -> Agg {
        let order = match (self, other) {
            (Agg::I64(a), Agg::I64(b)) => b.cmp(&a),
            (a, b) => b.f().total_cmp(&a.f()).then_with(|| match (a, b) {
                (Agg::F64(_), Agg::I64(_)) => want,
                (Agg::I64(_), Agg::F64(_)) => want.reverse(),
                _ => std::cmp::Ordering::Equal,
            }),
        };
        if order == want { other } else { self }
    }

    /// Appends this partial as a record.
    pub fn push(self, out: &mut Batch, key: Option<&[u8]>, time: i64) {
        match self {
            Agg::I64(i) => out.push(key, ValueRef::I64(i), time),
            Agg::F64(f) => out.push(key, ValueRef::F64(f), time),
        }
    }
}

/// What is being aggregated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Aggregation {
    /// reduceByKey: the values of each key, with a reducer.
    ByKey(ReducerKind),
    /// countByValue: occurrences of each distinct value.
    CountByValue,
    /// count: records per batch, one record out per batch even when zero.
    Count,
    /// reduce: every value of a batch with a reducer, one record out per batch that has values.
    Reduce(ReducerKind),
}

impl Aggregation {
    /// How partials combine once formed.
    pub fn merge(self) -> ReducerKind {
        match self {
            Aggregation::ByKey(ReducerKind::Count)
            | Aggregation::Reduce(ReducerKind::Count)
            | Aggregation::CountByValue
            | Aggregation::Count => ReducerKind::Sum,
            Aggregation::ByKey(r) | Aggregation::Reduce(r) => r,
        }
    }

    /// True when the whole batch aggregates into one unkeyed record (on worker 0).
    pub(crate) fn global(self) -> bool {
        matches!(self, Aggregation::Count | Aggregation::Reduce(_))
    }
}

/// The numeric value of record `i`, read straight from its bytes.
#[inline]
pub fn numeric(b: &Batch, i: usize) -> Option<Agg> {
    let bytes: [u8; 8] = b.value_bytes(i).try_into().ok()?;
    match b.kind(i) {
        Kind::I64 => Some(Agg::I64(i64::from_le_bytes(bytes))),
        Kind::F64 => Some(Agg::F64(f64::from_le_bytes(bytes))),
        _ => None,
    }
}
