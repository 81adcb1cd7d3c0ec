//! `map_with_state` (Spark's `mapWithState`): only keys with data in a batch are updated and output; a key
//! idle for the timeout is removed at exactly the batch where its timeout expires, with a final
//! `(key, {"timed_out": state})` record; `state_snapshots` reads the whole state after each batch.

use std::sync::Arc;

use serde_json::json;
use weir_sdk::packed::{Batch, ValueRef};

use super::keyed_state::{StateConfig, drive_state, fold, owned_groups, partials, snapshot, split_mapped, tagged};
use crate::state::{KeyedState, StateError, StateValue};
use crate::stream::BatchStream;

/// Extension trait for mapWithState.
pub trait MapWithStateExt<'s> {
    /// Folds this stream of per-batch keyed partials into durable state. Returns the mapped stream and the
    /// state-snapshots stream (empty unless `cfg.snapshots`).
    ///
    /// ```
    /// // Exercised end to end by tests/golden/map-with-state; timeouts fire at last data + timeout:
    /// let (last_seen, timeout) = (2000u64, 3000u64);
    /// assert_eq!(last_seen + timeout, 5000);
    /// ```
    fn map_with_state(self, cfg: StateConfig) -> (BatchStream<'s>, BatchStream<'s>);
}

/// Keys whose state entries are looked up ahead of their updates: enough to keep many memory loads in
/// flight, few enough that the entries are still in the CPU cache when their updates come.
const TOUCH_AHEAD: usize = 1024;

/// Applies batch `t` to the state: updates keys with data, then fires the timeouts due at `t`.
fn apply(
    s: &mut KeyedState,
    cfg: &StateConfig,
    batches: &[Batch],
    t: u64,
    peers: usize,
    index: usize,
) -> Result<Batch, StateError> {
    let mut out = Batch::new();
    for chunk in partials(batches).chunks(TOUCH_AHEAD) {
        chunk.iter().for_each(|&(g, key, _)| s.touch(g, key));
        for &(g, key, partial) in chunk {
            let (last_seen, now) = s.update(g, key, |old| {
                let now = fold(old, partial, cfg.merge);
                (Some(StateValue::from_agg(now, t)), (old.map(|o| o.last_seen), now))
            })?;
            now.push(&mut out, Some(key), t as i64);
            if let Some(timeout) = cfg.timeout {
                s.set_timeout(g, key, last_seen.map(|seen| seen + timeout), Some(t + timeout))?;
            }
        }
    }
    if cfg.timeout.is_some() {
        for g in owned_groups(index, peers) {
            for key in s.take_expired(g, t)? {
                if let Some(v) = s.get(g, &key)? {
                    let final_call = json!({ "timed_out": v.json() }).to_string();
                    out.push(Some(&key), ValueRef::Json(&final_call), t as i64);
                    s.remove(g, &key);
                }
            }
        }
    }
    s.flush()?;
    Ok(out)
}

impl<'s> MapWithStateExt<'s> for BatchStream<'s> {
    fn map_with_state(self, cfg: StateConfig) -> (BatchStream<'s>, BatchStream<'s>) {
        let (index, peers) = (self.scope().index(), self.scope().peers());
        let cfg = Arc::new(cfg);
        let step_cfg = cfg.clone();
        let owned: Vec<u8> = owned_groups(index, peers).collect();
        let both = drive_state(self, cfg, move |s, batches, t| {
            let mapped = apply(s, &step_cfg, batches, t, peers, index)?;
            let snap = if step_cfg.snapshots { snapshot(s, t, &owned)? } else { Batch::new() };
            Ok(tagged(mapped, snap))
        });
        split_mapped(both)
    }
}
