//! `update_state_by_key` (Spark's `updateStateByKey`): every batch, each key's new values fold into its
//! state, every existing key is visited (a key without new values keeps its state), and the whole state
//! is the output. Each worker walks its own key groups in the store, merging the batch's sorted partials
//! in as it goes, so a state larger than memory costs one sequential scan per batch.

use std::iter::Peekable;
use std::sync::Arc;

use weir_sdk::packed::Batch;

use super::keyed_state::{StateConfig, drive_state, fold, owned_groups, sorted_partials};
use crate::operator::agg::Agg;
use crate::state::{KeyedState, StateError, StateValue};
use crate::stream::BatchStream;

/// Extension trait for updateStateByKey.
pub trait UpdateStateExt<'s> {
    /// Folds this stream of per-batch keyed partials (a `reduce_by_key` output) into durable state, and
    /// outputs the whole state after every batch.
    ///
    /// ```
    /// // Exercised end to end by tests/golden/update-state-by-key; the fold it applies:
    /// use weir::operator::{keyed_state::fold, reduce::Agg};
    /// assert_eq!(fold(None, Agg::I64(1), weir::graph::spec::ReducerKind::Sum), Agg::I64(1));
    /// ```
    fn update_state(self, cfg: StateConfig) -> BatchStream<'s>;
}

/// Merges `news` (sorted partials of group `g`) into the stored keys of `g`, writing changes and pushing
/// every key's state to `out`.
fn update_group<'a, I>(
    state: &mut KeyedState,
    g: u8,
    news: &mut Peekable<I>,
    cfg: &StateConfig,
    t: u64,
    out: &mut Batch,
) -> Result<(), StateError>
where
    I: Iterator<Item = &'a (u8, &'a [u8], Agg)>,
{
    let stored: Vec<(Vec<u8>, StateValue)> = state.scan(g).collect::<Result<_, _>>()?;
    let mut stored = stored.into_iter().peekable();
    loop {
        let new = news.peek().filter(|n| n.0 == g);
        let (key, old, partial) = match (stored.peek(), new) {
            (None, None) => return Ok(()),
            (Some((sk, _)), Some(n)) if sk.as_slice() == n.1 => {
                let (k, v) = stored.next().expect("peeked");
                let n = news.next().expect("peeked");
                (k, Some(v), Some(n.2))
            }
            (Some((sk, _)), Some(n)) if n.1 < sk.as_slice() => {
                let n = news.next().expect("peeked");
                (n.1.to_vec(), None, Some(n.2))
            }
            (None, Some(_)) => {
                let n = news.next().expect("peeked");
                (n.1.to_vec(), None, Some(n.2))
            }
            _ => {
                let (k, v) = stored.next().expect("peeked");
                (k, Some(v), None)
            }
        };
        match partial {
            Some(p) => {
                let now = fold(old.as_ref(), p, cfg.merge);
                now.push(out, Some(&key), t as i64);
                state.put(g, &key, StateValue::from_agg(now, t));
            }
            None => {
                if let Some(v) = old {
                    out.push_raw(Some(&key), v.kind, &v.bytes, t as i64);
                }
            }
        }
    }
}

impl<'s> UpdateStateExt<'s> for BatchStream<'s> {
    fn update_state(self, cfg: StateConfig) -> BatchStream<'s> {
        let (index, peers) = (self.scope().index(), self.scope().peers());
        let cfg = Arc::new(cfg);
        let step_cfg = cfg.clone();
        drive_state(self, cfg, move |s, batches, t| {
            let partials = sorted_partials(batches);
            let mut news = partials.iter().peekable();
            let mut out = Batch::new();
            for g in owned_groups(index, peers) {
                update_group(s, g, &mut news, &step_cfg, t, &mut out)?;
            }
            s.flush()?;
            Ok(if out.is_empty() { Vec::new() } else { vec![out] })
        })
    }
}
