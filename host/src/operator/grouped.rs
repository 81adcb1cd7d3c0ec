//! A batch's keyed records as the groups plugins take ([`Groups`]): keys in store order (key group, then
//! key bytes), values in canonical order — or, for a window, in the order of the batches they came from —
//! so a plugin sees the same call whatever the number of workers.

use std::cmp::Ordering;

use weir_sdk::packed::Batch;
use weir_sdk::reducer::Groups;

use crate::operator::reduce::key_group;
use crate::render::cmp_values;

/// One record of one of several batches, with its key group.
struct At<'a> {
    group: u8,
    key: &'a [u8],
    part: usize,
    batch: &'a Batch,
    i: usize,
}

fn records<'a>(parts: &[&'a Batch]) -> Vec<At<'a>> {
    let mut all = Vec::with_capacity(parts.iter().map(|b| b.len()).sum());
    for (part, batch) in parts.iter().enumerate() {
        for i in 0..batch.len() {
            let key = batch.key_bytes(i);
            all.push(At { group: key_group(key) as u8, key, part, batch, i });
        }
    }
    all
}

fn key_order(a: &At<'_>, b: &At<'_>) -> Ordering {
    (a.group, a.key).cmp(&(b.group, b.key))
}

fn build(all: &[At<'_>]) -> Groups {
    let bytes = all.iter().map(|a| a.batch.value_bytes(a.i).len() + a.key.len()).sum();
    let mut g = Groups { values: Batch::with_capacity(all.len(), bytes), bounds: vec![0] };
    for (n, a) in all.iter().enumerate() {
        if n > 0 && all[n - 1].key != a.key {
            g.bounds.push(n as u32);
        }
        g.values.push_from(a.batch, a.i);
    }
    if !all.is_empty() {
        g.bounds.push(all.len() as u32);
    }
    g
}

/// The records of `parts` grouped by key, each group's values in canonical order.
///
/// ```
/// use weir_sdk::packed::{Batch, ValueRef};
/// let mut b = Batch::new();
/// b.push(Some(b"k"), ValueRef::I64(3), 0);
/// b.push(Some(b"k"), ValueRef::I64(1), 0);
/// let g = weir::operator::grouped::by_key(&[&b]);
/// assert_eq!((g.len(), g.values.get(0).value), (1, ValueRef::I64(1)));
/// ```
pub fn by_key(parts: &[&Batch]) -> Groups {
    let mut all = records(parts);
    all.sort_unstable_by(|a, b| {
        key_order(a, b).then_with(|| {
            let (x, y) = (a.batch, b.batch);
            cmp_values((x.kind(a.i), x.value_bytes(a.i)), (y.kind(b.i), y.value_bytes(b.i)))
        })
    });
    build(&all)
}

/// The records of `parts` grouped by key, each group's values in the order of `parts` (oldest batch first).
///
/// ```
/// use weir_sdk::packed::{Batch, ValueRef};
/// let (mut old, mut new) = (Batch::new(), Batch::new());
/// old.push(Some(b"k"), ValueRef::I64(3), 0);
/// new.push(Some(b"k"), ValueRef::I64(1), 0);
/// let g = weir::operator::grouped::in_order(&[&old, &new]);
/// assert_eq!(g.values.get(0).value, ValueRef::I64(3));
/// ```
pub fn in_order(parts: &[&Batch]) -> Groups {
    let mut all = records(parts);
    all.sort_by(|a, b| key_order(a, b).then_with(|| (a.part, a.i).cmp(&(b.part, b.i))));
    build(&all)
}

/// The key of group `g`.
pub fn key_of(groups: &Groups, g: usize) -> &[u8] {
    groups.values.key_bytes(groups.bounds[g] as usize)
}
