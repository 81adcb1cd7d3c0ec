//! `map_with_state` with event-time timeouts (`timeout_on = "event_time"`, Spark's `EventTimeTimeout`): a
//! key's deadline is the largest event time of its records so far plus `timeout`, and the key times out
//! — removed, with a final `(key, {"timed_out": state})` record — in the first batch without data for
//! it after which the watermark has reached that deadline. Its records come as they are, on the worker owning their key (a
//! per-batch reduce first would lose their event times), and each key's values of a batch fold into one
//! output record, as with batch-time timeouts. The keyed state lives in the state database as for every
//! `map_with_state`; the watermark's fold is saved beside it (the checkpoint part `<stream>@watermark`),
//! so a resumed job fires exactly the timeouts it would have fired.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::json;
use weir_sdk::packed::{Batch, ValueRef};

use super::agg::{Agg, numeric};
use super::dead_letter::DeadLetters;
use super::keyed_state::{StateConfig, fold, owned_groups, snapshot};
use super::reduce::key_group;
use super::watermark::{Part, PartStream, Watermark};
use super::watermarked::{Checkpointed, Outputs, Timing, frame};
use crate::checkpoint::PartHook;
use crate::graph::spec::{ReducerKind, WatermarkSpec};
use crate::state::{KeyedState, StateError, StateValue};
use crate::stream::BatchStream;

/// What an event-time `map_with_state` needs besides its state's config.
pub struct EventTimeouts {
    /// The job's watermark.
    pub watermark: WatermarkSpec,
    /// How many sources feed the watermark.
    pub sources: usize,
    /// The stream's reducer (`count` counts records; the others fold their numeric values).
    pub reducer: ReducerKind,
    /// Where records that are not numbers go.
    pub dead: Arc<DeadLetters>,
}

/// Extension trait for `map_with_state` with event-time timeouts.
pub trait EventTimeoutsExt<'s> {
    /// Folds this stream of keyed records (already on the worker owning their keys) into `cfg`'s state,
    /// timing keys out as the watermark (from `parts`) passes their deadlines. `timing.hook` saves the
    /// watermark. Returns the mapped stream and the state-snapshots stream (empty unless
    /// `cfg.snapshots`).
    ///
    /// ```
    /// // Exercised end to end by tests/golden/event-timeouts: last event at 2500, timeout 2000, so the
    /// // key times out in the first batch whose watermark reaches 4500.
    /// let (last_event, timeout) = (2500i64, 2000i64);
    /// assert_eq!(last_event + timeout, 4500);
    /// ```
    fn map_with_event_timeouts(
        self,
        parts: PartStream<'s>,
        timing: Timing,
        cfg: StateConfig,
        timeouts: EventTimeouts,
    ) -> Outputs<'s>;
}

impl<'s> EventTimeoutsExt<'s> for BatchStream<'s> {
    fn map_with_event_timeouts(
        self,
        parts: PartStream<'s>,
        timing: Timing,
        cfg: StateConfig,
        timeouts: EventTimeouts,
    ) -> Outputs<'s> {
        let (index, peers) = (self.scope().index(), self.scope().peers());
        let mut watermark = Watermark::new(timeouts.sources);
        let watermark_hook = timing.hook.open(&mut watermark, &timing.shared);
        let state = cfg.open(index, peers);
        let keyed_hook = cfg.hook.take();
        let owned = owned_groups(index, peers).collect();
        let held = Held { state, keyed_hook, watermark, watermark_hook, owned, synced: false, cfg, timeouts };
        frame(self, parts, timing, held, |held, t, records, parts| {
            let out = held.batch(t, records, parts);
            held.cfg.check(out).unwrap_or_else(|| {
                held.state = None;
                (Batch::new(), Batch::new())
            })
        })
    }
}

/// One worker's keyed state and the watermark, with their checkpoint hooks.
struct Held {
    state: Option<KeyedState>,
    keyed_hook: Option<PartHook>,
    watermark: Watermark,
    watermark_hook: Option<PartHook>,
    owned: Vec<u8>,
    synced: bool,
    cfg: StateConfig,
    timeouts: EventTimeouts,
}

impl Checkpointed for Held {
    fn watermark(&self) -> i64 {
        self.watermark.at
    }

    fn after_batch(&mut self, t: u64) {
        if let Some(h) = self.watermark_hook.as_mut() {
            h.after(t, &self.watermark);
        }
        if let (Some(s), Some(h)) = (&self.state, self.keyed_hook.as_mut().filter(|h| h.due(t))) {
            self.cfg.check(s.export(&self.owned)).inspect(|part| h.save(t, part));
        }
    }

    fn at_input_end(&mut self) {
        if let Some(h) = self.watermark_hook.as_mut() {
            h.at_end(&self.watermark);
        }
        if self.synced {
            return;
        }
        self.synced = true;
        if let Some(s) = self.state.as_mut() {
            if let Some((h, t)) = self.keyed_hook.as_mut().and_then(|h| h.end_time().map(|t| (h, t))) {
                self.cfg.check(s.export(&self.owned)).inspect(|part| h.save(t, part));
            }
            self.cfg.check(s.sync());
        }
    }
}

/// A key's values of one batch folded, and its latest event time.
type Folded<'a> = (u8, &'a [u8], Agg, u64);

impl Held {
    /// Batch `t`: each key's values fold into its state and push its deadline on; the watermark moves on
    /// by the batch's parts; the keys whose deadline it has reached time out. Returns the mapped records
    /// and the snapshot.
    fn batch(&mut self, t: u64, records: &[Batch], parts: &[Part]) -> Result<(Batch, Batch), StateError> {
        let Some(s) = self.state.as_mut() else { return Ok((Batch::new(), Batch::new())) };
        let (merge, timeout) = (self.cfg.merge, self.cfg.timeout.unwrap_or(0));
        let mut out = Batch::new();
        let folded = folded(&self.timeouts, &self.cfg.name, t, records);
        for &(g, key, partial, latest) in &folded {
            let (before, now) = s.update(g, key, |old| {
                let now = fold(old, partial, merge);
                let seen = old.map_or(latest, |o| o.last_seen.max(latest));
                (Some(StateValue::from_agg(now, seen)), (old.map(|o| o.last_seen), now))
            })?;
            now.push(&mut out, Some(key), t as i64);
            let after = before.map_or(latest, |b| b.max(latest));
            s.set_timeout(g, key, before.map(|b| b + timeout), Some(after + timeout))?;
        }
        let watermark = self.watermark.advance(t, parts, self.timeouts.watermark);
        if watermark >= 0 {
            // A key with data in this batch is kept through it, as with batch-time timeouts: it times out
            // in the next batch at the earliest.
            let fresh: HashSet<&[u8]> = folded.iter().map(|f| f.1).collect();
            for &g in &self.owned {
                for key in s.take_expired(g, watermark as u64)? {
                    if fresh.contains(key.as_slice()) {
                        let deadline = s.get(g, &key)?.map(|v| v.last_seen + timeout);
                        s.set_timeout(g, &key, None, deadline)?;
                    } else if let Some(v) = s.get(g, &key)? {
                        let final_call = json!({ "timed_out": v.json() }).to_string();
                        out.push(Some(&key), ValueRef::Json(&final_call), t as i64);
                        s.remove(g, &key);
                    }
                }
            }
        }
        s.flush()?;
        let snap = if self.cfg.snapshots { snapshot(s, t, &self.owned)? } else { Batch::new() };
        Ok((out, snap))
    }
}

/// Batch `t`'s records folded per key, in the order keys first came: `count` counts records, the other
/// reducers fold numbers (anything else goes to the dead letters). A record's event time is its batch's
/// when it has none of its own.
fn folded<'a>(timeouts: &EventTimeouts, name: &str, t: u64, records: &'a [Batch]) -> Vec<Folded<'a>> {
    let merge = super::reduce::Aggregation::ByKey(timeouts.reducer).merge();
    let mut keys: Vec<Folded<'a>> = Vec::new();
    let mut at: HashMap<&[u8], usize> = HashMap::new();
    for b in records {
        for i in 0..b.len() {
            let value = if timeouts.reducer == ReducerKind::Count { Some(Agg::I64(1)) } else { numeric(b, i) };
            let Some(value) = value else {
                let reason =
                    format!("`{name}` folds numbers with `{}`; this value is not one", timeouts.reducer.name());
                timeouts.dead.record(name, t, &b.get(i), &reason);
                continue;
            };
            let e = match b.event_times[i] {
                0 => t,
                e => e.max(0) as u64,
            };
            let key = b.key_bytes(i);
            match at.entry(key) {
                Entry::Occupied(slot) => {
                    let k = &mut keys[*slot.get()];
                    (k.2, k.3) = (k.2.combine(value, merge), k.3.max(e));
                }
                Entry::Vacant(slot) => {
                    slot.insert(keys.len());
                    keys.push((key_group(key) as u8, key, value, e));
                }
            }
        }
    }
    keys
}
