//! `update_state_by_key` and `map_with_state` with a `state-updater` plugin. The records move to the
//! worker owning their key group; when a batch is complete the worker sends the plugin its keys — every
//! stored key for updateStateByKey, keys with data and then keys timing out for mapWithState — with their
//! new values and states, in calls of at most [`CHUNK`] keys, and applies what comes back.

use std::sync::Arc;

use weir_sdk::packed::{Batch, ValueRef};
use weir_sdk::reducer::Groups;
use weir_sdk::state::{HAS_STATE, StateInput, TIMING_OUT};

use super::exchange::ExchangeByKeyExt;
use super::grouped::{by_key, key_of};
use super::keyed_state::{StateConfig, drive_state, owned_groups, snapshot, split_mapped, tagged};
use super::reduce::key_group;
use super::wasm::PluginSlot;
use crate::state::{KeyedState, StateError, StateValue};
use crate::stream::BatchStream;

/// Most keys sent to the plugin in one call, which bounds the memory a call takes on both sides.
pub const CHUNK: usize = 65_536;

/// One call's worth of keys.
#[derive(Default)]
struct Chunk {
    input: StateInput,
    /// Each key's stored state before the call.
    old: Vec<Option<StateValue>>,
}

impl Chunk {
    fn new() -> Chunk {
        let mut c = Chunk::default();
        c.input.values.bounds.push(0);
        c
    }

    /// Adds `key` with values `values.group(g)` (if any) and its stored state.
    fn push(&mut self, key: &[u8], values: Option<(&Groups, usize)>, old: Option<StateValue>, timing_out: bool) {
        if let Some((groups, g)) = values {
            for i in groups.group(g) {
                self.input.values.values.push_from(&groups.values, i);
            }
        }
        self.input.values.bounds.push(self.input.values.values.len() as u32);
        let flags = if old.is_some() { HAS_STATE } else { 0 } | if timing_out { TIMING_OUT } else { 0 };
        match &old {
            Some(v) => self.input.states.push_raw(Some(key), v.kind, &v.bytes, 0),
            None => self.input.states.push(Some(key), ValueRef::Bytes(&[]), 0),
        }
        self.input.flags.push(flags);
        self.old.push(old);
    }

    fn len(&self) -> usize {
        self.old.len()
    }
}

/// What a stateful plugin stream does with each key the plugin returns.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// updateStateByKey: write changes, output every kept state.
    Update,
    /// mapWithState: write and re-arm the timeout of keys with data, output what the plugin emits.
    Map,
    /// mapWithState's final call for keys timing out: remove them, output what the plugin emits.
    TimingOut,
}

/// Sends `chunk` to the plugin and applies the result to the state; output goes to `out`.
fn run(
    slot: &mut PluginSlot,
    s: &mut KeyedState,
    cfg: &StateConfig,
    chunk: Chunk,
    mode: Mode,
    t: u64,
    out: &mut Batch,
) -> Result<(), StateError> {
    if chunk.len() == 0 {
        return Ok(());
    }
    let (result, input) = match slot.instance(t) {
        Ok(inst) => inst.update(t, chunk.input),
        Err(failure) => (Err(failure), chunk.input),
    };
    let u = match result {
        Ok(u) => u,
        Err(failure) => {
            // The keys keep their state; their values go to the dead letters with the reason.
            slot.failed(t, failure, input.values.values.iter());
            return Ok(());
        }
    };
    slot.refused(t, &u.rejected, |i| input.values.values.get(i));
    for (i, old) in chunk.old.into_iter().enumerate() {
        let key = input.states.key_bytes(i);
        let g = key_group(key) as u8;
        let expiry = |v: &StateValue| cfg.timeout.map(|to| v.last_seen + to);
        let kept = u.keep[i] && mode != Mode::TimingOut;
        if kept {
            let now = StateValue::from_value(&u.states.get(i).value, t);
            let unchanged = old.as_ref().is_some_and(|o| o.kind == now.kind && o.bytes == now.bytes);
            if mode == Mode::Update {
                out.push_raw(Some(key), now.kind, &now.bytes, t as i64);
            }
            if mode == Mode::Map {
                if let Some(to) = cfg.timeout {
                    s.set_timeout(g, key, old.as_ref().and_then(expiry), Some(t + to))?;
                }
                s.put(g, key, now);
            } else if !unchanged {
                // updateStateByKey keeps `last_seen` of a key whose state did not change.
                s.put(g, key, now);
            }
        } else if old.is_some() {
            if mode == Mode::Map {
                s.set_timeout(g, key, old.as_ref().and_then(expiry), None)?;
            }
            s.remove(g, key);
        }
    }
    for i in 0..u.emitted.len() {
        out.push_from(&u.emitted, i);
    }
    Ok(())
}

/// Sends `chunk` once it holds [`CHUNK`] keys, and starts a new one.
fn send_full(
    slot: &mut PluginSlot,
    s: &mut KeyedState,
    cfg: &StateConfig,
    chunk: &mut Chunk,
    mode: Mode,
    t: u64,
    out: &mut Batch,
) -> Result<(), StateError> {
    if chunk.len() < CHUNK {
        return Ok(());
    }
    run(slot, s, cfg, std::mem::replace(chunk, Chunk::new()), mode, t, out)
}

/// updateStateByKey for one batch: every stored key of this worker and every key with new values.
fn update_all(
    slot: &mut PluginSlot,
    s: &mut KeyedState,
    cfg: &StateConfig,
    news: &Groups,
    t: u64,
    owned: &[u8],
) -> Result<Batch, StateError> {
    let mut out = Batch::new();
    let mut chunk = Chunk::new();
    let mut next = 0;
    for &g in owned {
        let stored: Vec<(Vec<u8>, StateValue)> = s.scan(g).collect::<Result<_, _>>()?;
        let mut stored = stored.into_iter().peekable();
        loop {
            let new_key = (next < news.len() && key_group(key_of(news, next)) as u8 == g).then(|| key_of(news, next));
            match (stored.peek(), new_key) {
                (None, None) => break,
                (Some((sk, _)), Some(nk)) if sk.as_slice() == nk => {
                    let (k, v) = stored.next().expect("peeked");
                    chunk.push(&k, Some((news, next)), Some(v), false);
                    next += 1;
                }
                (Some((sk, _)), Some(nk)) if nk < sk.as_slice() => {
                    chunk.push(nk, Some((news, next)), None, false);
                    next += 1;
                }
                (None, Some(nk)) => {
                    chunk.push(nk, Some((news, next)), None, false);
                    next += 1;
                }
                _ => {
                    let (k, v) = stored.next().expect("peeked");
                    chunk.push(&k, None, Some(v), false);
                }
            }
            send_full(slot, s, cfg, &mut chunk, Mode::Update, t, &mut out)?;
        }
    }
    run(slot, s, cfg, chunk, Mode::Update, t, &mut out)?;
    s.flush()?;
    Ok(out)
}

/// mapWithState for one batch: keys with data first, then keys whose timeout expires at `t`.
fn map_keys(
    slot: &mut PluginSlot,
    s: &mut KeyedState,
    cfg: &StateConfig,
    news: &Groups,
    t: u64,
    owned: &[u8],
) -> Result<Batch, StateError> {
    let mut out = Batch::new();
    let mut chunk = Chunk::new();
    for n in 0..news.len() {
        let key = key_of(news, n);
        let old = s.get(key_group(key) as u8, key)?;
        chunk.push(key, Some((news, n)), old, false);
        send_full(slot, s, cfg, &mut chunk, Mode::Map, t, &mut out)?;
    }
    run(slot, s, cfg, std::mem::replace(&mut chunk, Chunk::new()), Mode::Map, t, &mut out)?;
    if cfg.timeout.is_some() {
        for &g in owned {
            for key in s.take_expired(g, t)? {
                if let Some(v) = s.get(g, &key)? {
                    chunk.push(&key, None, Some(v), true);
                }
                send_full(slot, s, cfg, &mut chunk, Mode::TimingOut, t, &mut out)?;
            }
        }
        run(slot, s, cfg, chunk, Mode::TimingOut, t, &mut out)?;
    }
    s.flush()?;
    Ok(out)
}

/// Extension trait for stateful streams run by a plugin.
pub trait PluginStateExt<'s> {
    /// updateStateByKey with the plugin in `slot`: outputs every key's state after each batch.
    ///
    /// ```
    /// // Exercised end to end by tests/golden/plugin-state; keys go to the plugin in chunks of:
    /// assert_eq!(weir::operator::plugin_state::CHUNK, 65_536);
    /// ```
    fn plugin_update_state(self, cfg: StateConfig, slot: PluginSlot) -> BatchStream<'s>;

    /// mapWithState with the plugin in `slot`: returns what it emits, and the state snapshots (empty
    /// unless `cfg.snapshots`).
    ///
    /// ```
    /// // Exercised end to end by tests/golden/plugin-state.
    /// assert!(weir::operator::plugin_state::CHUNK > 0);
    /// ```
    fn plugin_map_with_state(self, cfg: StateConfig, slot: PluginSlot) -> (BatchStream<'s>, BatchStream<'s>);
}

impl<'s> PluginStateExt<'s> for BatchStream<'s> {
    fn plugin_update_state(self, cfg: StateConfig, mut slot: PluginSlot) -> BatchStream<'s> {
        let owned: Vec<u8> = owned_groups(self.scope().index(), self.scope().peers()).collect();
        let keyed = self.exchange_by_key(&cfg.name, &slot.dead.clone());
        let cfg = Arc::new(cfg);
        let step_cfg = cfg.clone();
        drive_state(keyed, cfg, move |s, batches, t| {
            let refs: Vec<&Batch> = batches.iter().collect();
            let out = update_all(&mut slot, s, &step_cfg, &by_key(&refs), t, &owned)?;
            Ok(if out.is_empty() { Vec::new() } else { vec![out] })
        })
    }

    fn plugin_map_with_state(self, cfg: StateConfig, mut slot: PluginSlot) -> (BatchStream<'s>, BatchStream<'s>) {
        let owned: Vec<u8> = owned_groups(self.scope().index(), self.scope().peers()).collect();
        let keyed = self.exchange_by_key(&cfg.name, &slot.dead.clone());
        let cfg = Arc::new(cfg);
        let step_cfg = cfg.clone();
        let both = drive_state(keyed, cfg, move |s, batches, t| {
            let refs: Vec<&Batch> = batches.iter().collect();
            let mapped = map_keys(&mut slot, s, &step_cfg, &by_key(&refs), t, &owned)?;
            let snap = if step_cfg.snapshots { snapshot(s, t, &owned)? } else { Batch::new() };
            Ok(tagged(mapped, snap))
        });
        split_mapped(both)
    }
}
