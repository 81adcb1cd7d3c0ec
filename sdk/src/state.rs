//! State updaters (`#[weir::update_state]`, `#[weir::map_with_state]`): per key, the batch's new values and
//! the stored state in, the new state (or its removal) and any records out. The host passes every key of
//! a batch in one call, as a [`StateInput`].

use crate::datum::{Datum, FromKey};
use crate::operator::Plugin;
use crate::packed::{Batch, ValueRef};
use crate::record::Record;
use crate::reducer::Groups;

/// Flag bit: the key has a stored state.
pub const HAS_STATE: u8 = 1;
/// Flag bit: the key's state is timing out (`map_with_state`).
pub const TIMING_OUT: u8 = 2;

/// One batch of keys for a state updater.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StateInput {
    /// Each key's new values (a group may be empty).
    pub values: Groups,
    /// One record per group: the key and, where [`HAS_STATE`] is set, its state.
    pub states: Batch,
    /// One byte per group: [`HAS_STATE`], [`TIMING_OUT`].
    pub flags: Vec<u8>,
}

impl StateInput {
    /// Checks that every column has one entry per group.
    ///
    /// ```
    /// let mut i = weir_sdk::state::StateInput::default();
    /// i.values.bounds = vec![0];
    /// assert!(i.validate().is_ok());
    /// i.flags.push(0);
    /// assert!(i.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), String> {
        self.values.validate()?;
        self.states.validate().map_err(|e| e.to_string())?;
        let n = self.values.len();
        if self.states.len() != n || self.flags.len() != n {
            return Err(format!("{n} groups but {} states and {} flags", self.states.len(), self.flags.len()));
        }
        Ok(())
    }
}

/// What a state updater returns for one batch.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StateOutput {
    /// One record per group: the new state.
    pub states: Batch,
    /// One entry per group: false removes the state.
    pub keep: Vec<bool>,
    /// Records to emit downstream.
    pub emitted: Batch,
    /// Input values refused, by index into `values`, with the reason.
    pub rejected: Vec<(u32, String)>,
    /// Set when the whole batch must fail.
    pub fatal: Option<String>,
}

/// A state updater. `#[weir::update_state]` and `#[weir::map_with_state]` implement it.
pub trait StateUpdater: Plugin {
    /// Updates every key of `input`, the only required method.
    fn update(batch_time: i64, input: &StateInput, out: &mut StateOutput);
}

/// A key's state as a `map_with_state` function sees it (Spark's `State`).
#[derive(Debug, Clone, PartialEq)]
pub struct State<S> {
    value: Option<S>,
    timing_out: bool,
}

impl<S> State<S> {
    /// A state holding `value`; `timing_out` marks the final call for an idle key.
    ///
    /// ```
    /// let s = weir_sdk::State::new(Some(3), false);
    /// assert_eq!(s.get(), Some(&3));
    /// ```
    pub fn new(value: Option<S>, timing_out: bool) -> State<S> {
        State { value, timing_out }
    }

    /// True when the key has a state.
    ///
    /// ```
    /// assert!(!weir_sdk::State::<i64>::new(None, false).exists());
    /// ```
    pub fn exists(&self) -> bool {
        self.value.is_some()
    }

    /// The state, if any.
    ///
    /// ```
    /// assert_eq!(weir_sdk::State::<i64>::new(None, false).get(), None);
    /// ```
    pub fn get(&self) -> Option<&S> {
        self.value.as_ref()
    }

    /// Sets the state (ignored when timing out: the key is removed anyway).
    ///
    /// ```
    /// let mut s = weir_sdk::State::new(None, false);
    /// s.update(5);
    /// assert_eq!(s.get(), Some(&5));
    /// ```
    pub fn update(&mut self, value: S) {
        self.value = Some(value);
    }

    /// Removes the state.
    ///
    /// ```
    /// let mut s = weir_sdk::State::new(Some(1), false);
    /// s.remove();
    /// assert!(!s.exists());
    /// ```
    pub fn remove(&mut self) {
        self.value = None;
    }

    /// True on the final call for a key whose idle timeout expired.
    ///
    /// ```
    /// assert!(weir_sdk::State::new(Some(1), true).is_timing_out());
    /// ```
    pub fn is_timing_out(&self) -> bool {
        self.timing_out
    }

    /// The state, consumed.
    ///
    /// ```
    /// assert_eq!(weir_sdk::State::new(Some(1), false).into_inner(), Some(1));
    /// ```
    pub fn into_inner(self) -> Option<S> {
        self.value
    }
}

/// Calls `f(key, values, state, timing_out, emitted)` for every key of `input` and records the state it
/// returns. Values of the wrong type are refused alone; a stored state of the wrong type, or an error from
/// `f`, refuses the key's values and leaves its state as it was.
///
/// ```
/// use weir_sdk::state::{StateInput, StateOutput, each_key};
/// use weir_sdk::{Record, reducer::Groups};
/// let mut input = StateInput { values: Groups::from_pairs(&[("a", vec![Record::i64(2)])]), ..Default::default() };
/// Record::i64(0).with_key("a").push_to(&mut input.states);
/// input.flags.push(0);
/// let mut out = StateOutput::default();
/// each_key(&input, 9, &mut out, |_k: &str, v: Vec<i64>, s: Option<i64>, _, _| Ok(Some(s.unwrap_or(0) + v[0])));
/// assert_eq!((out.keep, out.states.get(0).value), (vec![true], weir_sdk::packed::ValueRef::I64(2)));
/// ```
pub fn each_key<'a, K, V, S, F>(input: &'a StateInput, time: i64, out: &mut StateOutput, mut f: F)
where
    K: FromKey<'a>,
    V: Datum,
    S: Datum,
    F: FnMut(K, Vec<V>, Option<S>, bool, &mut Batch) -> Result<Option<S>, String>,
{
    for g in 0..input.values.len() {
        let range = input.values.group(g);
        let flags = input.flags[g];
        let mut values: Vec<V> = Vec::with_capacity(range.len());
        for i in range.clone() {
            match V::from_value(Record::from_ref(input.values.values.get(i)).value) {
                Ok(v) => values.push(v),
                Err(e) => out.reject(i, e),
            }
        }
        let key_bytes = input.states.key_bytes(g);
        let old = if flags & HAS_STATE != 0 {
            S::from_value(Record::from_ref(input.states.get(g)).value)
                .map(Some)
                .map_err(|e| format!("stored state: {e}"))
        } else {
            Ok(None)
        };
        let result = old.and_then(|old| {
            let key = K::from_key(key_bytes)?;
            f(key, values, old, flags & TIMING_OUT != 0, &mut out.emitted)
        });
        match result {
            Ok(Some(s)) => {
                s.push(Some(key_bytes), time, &mut out.states);
                out.keep.push(true);
            }
            Ok(None) => {
                out.states.push(Some(key_bytes), ValueRef::Bytes(&[]), time);
                out.keep.push(false);
            }
            Err(e) => {
                out.rejected.retain(|(i, _)| !range.contains(&(*i as usize)));
                let idle = range.is_empty();
                range.for_each(|i| out.reject(i, &e));
                out.states.push_from(&input.states, g);
                out.keep.push(flags & HAS_STATE != 0);
                if flags & TIMING_OUT != 0 || idle {
                    crate::log::warn(&format!("key {:?}: {e}", String::from_utf8_lossy(key_bytes)));
                }
            }
        }
    }
}

impl StateOutput {
    /// Refuses input value `index`.
    ///
    /// ```
    /// let mut out = weir_sdk::state::StateOutput::default();
    /// out.reject(1, "bad");
    /// assert_eq!(out.rejected, vec![(1, "bad".to_string())]);
    /// ```
    pub fn reject(&mut self, index: usize, reason: impl std::fmt::Display) {
        self.rejected.push((index as u32, reason.to_string()));
    }
}

/// Appends an emitted record; one left at time 0 takes the batch time.
///
/// ```
/// let mut b = weir_sdk::packed::Batch::new();
/// weir_sdk::state::emit(&mut b, &weir_sdk::Record::i64(1), 5000);
/// assert_eq!(b.get(0).time, 5000);
/// ```
pub fn emit(out: &mut Batch, r: &Record<'_>, batch_time: i64) {
    r.push_to(out);
    if r.time == 0
        && let Some(t) = out.event_times.last_mut()
    {
        *t = batch_time;
    }
}
