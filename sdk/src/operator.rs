//! What every plugin says about itself ([`Plugin`]), the transform trait the attribute macros implement,
//! the per-batch output builder and job parameters.

use std::cell::RefCell;
use std::fmt::Display;

use crate::Record;
use crate::packed::Batch;

/// The kind of function behind a plugin (mirrors the WIT `transform-kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransformKind {
    /// One record in, one out.
    Map,
    /// One record in, zero or more out.
    FlatMap,
    /// One record in, itself or nothing out.
    Filter,
    /// One record in, zero or one out.
    FilterMap,
    /// A whole batch in, any batch out.
    Batch,
    /// A reducer without an inverse.
    Reduce,
    /// A reducer with an inverse.
    ReduceInvertible,
    /// A state updater for `update_state_by_key`.
    UpdateState,
    /// A state updater for `map_with_state`.
    MapWithState,
    /// A source (`#[weir::source]`, the `source` world).
    Source,
    /// A sink (`#[weir::sink]`, the `sink` world).
    Sink,
}

/// What every plugin says about itself; the attribute macros implement it.
pub trait Plugin {
    /// Plugin name (the crate name by default).
    const NAME: &'static str;
    /// Plugin version (the crate version by default).
    const VERSION: &'static str;
    /// What kind of function it is.
    const KIND: TransformKind;
    /// Parameter names `init` accepts.
    const PARAMS: &'static [&'static str];

    /// Checks the parameters' values once they are stored, before any record: an `Err` refuses the
    /// job at start with the message (`#[weir::map(init = check)]` names the function).
    fn check_params() -> Result<(), String> {
        Ok(())
    }
}

/// A transform operator. `#[weir::map]` and its siblings implement it; authors rarely write it by hand.
pub trait Operator: Plugin {
    /// Processes one whole batch, the only required method.
    fn process(input: &Batch, out: &mut Output);
}

/// What an operator produces for one batch: records, bad input records and perhaps a fatal error.
#[derive(Debug, Default)]
pub struct Output {
    /// Records produced, in order.
    pub records: Batch,
    /// Input records refused, by index, with the reason.
    pub rejected: Vec<(u32, String)>,
    /// Set when the whole batch must fail.
    pub fatal: Option<String>,
}

impl Output {
    /// Appends a record produced from input record `input_time`'s record; a record left at time 0
    /// inherits the input's event time, so authors need not copy it.
    ///
    /// ```
    /// let mut out = weir_sdk::Output::default();
    /// out.push(&weir_sdk::Record::text("a"), 42);
    /// assert_eq!(out.records.get(0).time, 42);
    /// ```
    #[inline]
    pub fn push(&mut self, r: &Record<'_>, input_time: i64) {
        // Chosen before the push, so the time column is written once per record.
        r.push_at(&mut self.records, if r.time == 0 { input_time } else { r.time });
    }

    /// Reserves room for the rest of `input` from what its first `done` records produced, plus an
    /// eighth. The generated batch loops call it once, after [`Output::SAMPLE`] records: the rest of the
    /// batch then fills without regrowing, and each regrowth would copy every column into fresh memory
    /// (in a plugin, fresh linear memory, which the host's kernel must clear page by page).
    ///
    /// ```
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// let mut input = Batch::new();
    /// (0..100).for_each(|_| input.push(None, ValueRef::Text("a b"), 0));
    /// let mut out = weir_sdk::Output::default();
    /// for _ in 0..2 {
    ///     out.push(&weir_sdk::Record::text("a"), 0);
    /// }
    /// out.size_for_rest(&input, 1);
    /// assert!(out.records.kinds.capacity() >= 2 + 198);
    /// assert!(out.records.values.capacity() >= 2 + 198);
    /// ```
    pub fn size_for_rest(&mut self, input: &Batch, done: usize) {
        let (total, done) = (input.len(), done.min(input.len()));
        let (total_bytes, done_bytes) = (input.values.len(), input.value_offsets[done] as usize);
        let rest = |made: usize, from: usize, left: usize| (made * left / from.max(1)).saturating_mul(9) / 8;
        let r = &mut self.records;
        let records = rest(r.len(), done, total - done);
        let values = rest(r.values.len(), done_bytes, total_bytes - done_bytes);
        let keys = rest(r.keys.len(), done, total - done);
        reserve(&mut r.kinds, records);
        reserve(&mut r.event_times, records);
        reserve(&mut r.key_offsets, records);
        reserve(&mut r.value_offsets, records);
        reserve(&mut r.values, values);
        reserve(&mut r.keys, keys);
    }

    /// Input records an operator runs on before [`Output::size_for_rest`] sizes its output.
    pub const SAMPLE: usize = 64;

    /// Copies input record `index` unchanged (what a filter keeps).
    ///
    /// ```
    /// use weir_sdk::packed::{Batch, ValueRef};
    /// let mut input = Batch::new();
    /// input.push(None, ValueRef::Text("a"), 1);
    /// let mut out = weir_sdk::Output::default();
    /// out.keep(&input, 0);
    /// assert_eq!(out.records, input);
    /// ```
    pub fn keep(&mut self, input: &Batch, index: usize) {
        self.records.push_from(input, index);
    }

    /// Refuses input record `index`; it goes to the dead-letter output with `reason`.
    ///
    /// ```
    /// let mut out = weir_sdk::Output::default();
    /// out.reject(3, "no separator");
    /// assert_eq!(out.rejected, vec![(3, "no separator".to_string())]);
    /// ```
    pub fn reject(&mut self, index: usize, reason: impl Display) {
        self.rejected.push((index as u32, reason.to_string()));
    }

    /// Fails the whole batch.
    ///
    /// ```
    /// let mut out = weir_sdk::Output::default();
    /// out.fail("lost my configuration");
    /// assert!(out.fatal.is_some());
    /// ```
    pub fn fail(&mut self, reason: impl Display) {
        self.fatal = Some(reason.to_string());
    }
}

/// Makes room for `extra` more items by moving the items into a new buffer. `Vec::reserve` reallocates,
/// and `realloc` copies the old buffer's whole capacity, touching memory no item was written to.
fn reserve<T: Copy>(v: &mut Vec<T>, extra: usize) {
    if v.capacity() - v.len() < extra {
        let mut room = Vec::with_capacity(v.len() + extra);
        room.extend_from_slice(v);
        *v = room;
    }
}

thread_local! {
    // One plugin instance runs on one thread, so per-thread parameters are per-instance parameters
    // (and keep native tests running in parallel apart).
    static PARAMS: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
}

/// The value of job parameter `name`, as given in the job spec.
///
/// ```
/// weir_sdk::set_params::<Noop>(vec![("sep".into(), ",".into())]).unwrap();
/// assert_eq!(weir_sdk::param("sep").as_deref(), Some(","));
/// assert_eq!(weir_sdk::param("other"), None);
/// # struct Noop;
/// # impl weir_sdk::Plugin for Noop {
/// #     const NAME: &'static str = "noop"; const VERSION: &'static str = "0";
/// #     const KIND: weir_sdk::TransformKind = weir_sdk::TransformKind::Map;
/// #     const PARAMS: &'static [&'static str] = &["sep"];
/// # }
/// ```
pub fn param(name: &str) -> Option<String> {
    PARAMS.with(|p| p.borrow().iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
}

/// A declared parameter parsed as `T`: `Ok(None)` when the job does not set it, an error naming the
/// parameter and the value when it does not parse. Call it from an `init` check to refuse a bad value
/// before the job starts.
///
/// ```
/// # struct Noop;
/// # impl weir_sdk::Plugin for Noop {
/// #     const NAME: &'static str = "noop"; const VERSION: &'static str = "0";
/// #     const KIND: weir_sdk::TransformKind = weir_sdk::TransformKind::Map;
/// #     const PARAMS: &'static [&'static str] = &["margin"];
/// # }
/// weir_sdk::set_params::<Noop>(vec![("margin".into(), "abc".into())]).unwrap();
/// let err = weir_sdk::param_as::<f64>("margin").unwrap_err();
/// assert_eq!(err, "parameter `margin`: `abc` is not a valid f64 (invalid float literal)");
/// weir_sdk::set_params::<Noop>(vec![("margin".into(), "1.5".into())]).unwrap();
/// assert_eq!(weir_sdk::param_as::<f64>("margin"), Ok(Some(1.5)));
/// ```
pub fn param_as<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String>
where
    T::Err: std::fmt::Display,
{
    let Some(text) = param(name) else { return Ok(None) };
    let ty = std::any::type_name::<T>().rsplit("::").next().unwrap_or("value");
    text.parse().map(Some).map_err(|e| format!("parameter `{name}`: `{text}` is not a valid {ty} ({e})"))
}

/// Checks parameters against the operator's declared names and stores them for [`param`].
///
/// ```
/// # struct Noop;
/// # impl weir_sdk::Plugin for Noop {
/// #     const NAME: &'static str = "noop"; const VERSION: &'static str = "0";
/// #     const KIND: weir_sdk::TransformKind = weir_sdk::TransformKind::Map;
/// #     const PARAMS: &'static [&'static str] = &["sep"];
/// # }
/// let err = weir_sdk::set_params::<Noop>(vec![("sepp".into(), ",".into())]).unwrap_err();
/// assert!(err.contains("`sepp`"));
/// ```
pub fn set_params<O: Plugin>(params: Vec<(String, String)>) -> Result<(), String> {
    if let Some((bad, _)) = params.iter().find(|(k, _)| !O::PARAMS.contains(&k.as_str())) {
        let accepted = if O::PARAMS.is_empty() { "none".to_string() } else { O::PARAMS.join(", ") };
        return Err(format!("operator `{}` has no parameter `{bad}` (it accepts: {accepted})", O::NAME));
    }
    PARAMS.with(|p| *p.borrow_mut() = params);
    O::check_params()
}
