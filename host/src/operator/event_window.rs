//! `event_window`: keyed aggregation over event-time windows. A record joins every window its event time
//! falls in — tumbling or sliding windows `[start, start + length)` with starts at multiples of the slide
//! plus the offset, or a key's session, which grows while records come within `gap` of each other and
//! merges with sessions it touches. After each batch the job's watermark advances ([`Watermark`]); a
//! window closes once the watermark passes its end plus the allowed lateness. `append` writes a window
//! once, when it closes; `update` writes it in each batch that changed it, late firings included.
//!
//! Lateness is decided against the watermark of the batch before, so every record of a batch is judged
//! the same way, whatever the workers: a record whose windows have all closed goes to the late output
//! (the stream's `late_records`), whole, never half-counted. The open windows and the watermark are
//! saved with each checkpoint, so a resumed job makes the same decisions.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use weir_sdk::packed::{Batch, ValueRef};

use super::agg::{Agg, numeric};
use super::dead_letter::DeadLetters;
use super::watermark::{Part, PartStream, Watermark};
use super::watermarked::{Outputs, Timing, watermarked};
use crate::graph::spec::{OutputMode, ReducerKind, WatermarkSpec};
use crate::stream::BatchStream;

/// The windows a record falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Tumbling (`slide == length`) or sliding windows.
    Sliding {
        /// Window length, ms.
        length: i64,
        /// How far apart windows start, ms.
        slide: i64,
        /// Starts are multiples of the slide plus this, ms.
        offset: i64,
    },
    /// A key's sessions: records less than `gap` apart share one.
    Session {
        /// The gap, ms.
        gap: i64,
    },
}

impl Shape {
    /// The starts and ends of the tumbling or sliding windows holding event time `e`, latest first.
    ///
    /// ```
    /// use weir::operator::event_window::Shape;
    /// let s = Shape::Sliding { length: 10, slide: 5, offset: 0 };
    /// assert_eq!(s.windows(12), vec![(10, 20), (5, 15)]);
    /// let t = Shape::Sliding { length: 10, slide: 10, offset: 3 };
    /// assert_eq!(t.windows(2), vec![(-7, 3)]);
    /// ```
    pub fn windows(self, e: i64) -> Vec<(i64, i64)> {
        let Shape::Sliding { length, slide, offset } = self else { return Vec::new() };
        let mut start = (e - offset).div_euclid(slide) * slide + offset;
        let mut out = Vec::new();
        while start + length > e {
            out.push((start, start + length));
            start -= slide;
        }
        out
    }
}

/// Everything an event-time window needs besides its input.
pub struct EventWindowConfig {
    /// Stream name, for dead letters and logs.
    pub name: String,
    /// The fold of a window's values.
    pub reducer: ReducerKind,
    /// Which windows.
    pub shape: Shape,
    /// How long after the watermark passes a window's end it still takes records, ms.
    pub lateness: i64,
    /// When a window is written.
    pub output: OutputMode,
    /// True when a `late_records` stream reads the late records; else they go to the dead letters.
    pub late_stream: bool,
    /// How the watermark follows event time.
    pub watermark: WatermarkSpec,
    /// The job's sources (the watermark waits for each).
    pub sources: usize,
    /// Refused records.
    pub dead: Arc<DeadLetters>,
}

/// What one worker keeps between batches: its keys' open windows, and the watermark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct State {
    watermark: Watermark,
    /// (key, start) → (end, value).
    windows: BTreeMap<(Vec<u8>, i64), (i64, Agg)>,
}

impl super::watermarked::Watermarked for State {
    fn watermark(&self) -> i64 {
        self.watermark.at
    }
}

impl State {
    /// Adds value `v` of `key` at event time `e` to its open windows: the windows it changed, or `None`
    /// when every window it falls in has closed (a late record).
    fn add(&mut self, cfg: &EventWindowConfig, key: &[u8], v: Agg, e: i64) -> Option<Vec<(Vec<u8>, i64)>> {
        let closed = |end: i64| self.watermark.at != i64::MIN && end.saturating_add(cfg.lateness) <= self.watermark.at;
        let merge = super::reduce::Aggregation::ByKey(cfg.reducer).merge();
        let mut changed = Vec::new();
        match cfg.shape {
            Shape::Sliding { .. } => {
                for (start, end) in cfg.shape.windows(e).into_iter().filter(|(_, end)| !closed(*end)) {
                    match self.windows.entry((key.to_vec(), start)) {
                        Entry::Vacant(slot) => {
                            slot.insert((end, v));
                        }
                        Entry::Occupied(mut slot) => {
                            let w = slot.get_mut();
                            w.1 = w.1.combine(v, merge);
                        }
                    }
                    changed.push((key.to_vec(), start));
                }
            }
            Shape::Session { gap } => {
                let (mut start, mut end, mut value) = (e, e + gap, v);
                // Sessions of this key that touch [e, e + gap) merge with it.
                let touching: Vec<i64> = self
                    .windows
                    .range((key.to_vec(), i64::MIN)..=(key.to_vec(), i64::MAX))
                    .filter(|((_, s), (en, _))| *s <= e + gap && *en >= e)
                    .map(|((_, s), _)| *s)
                    .collect();
                if touching.is_empty() && closed(end) {
                    return None;
                }
                for s in touching {
                    let (en, agg) = self.windows.remove(&(key.to_vec(), s)).expect("just found");
                    (start, end, value) = (start.min(s), end.max(en), agg.combine(value, merge));
                }
                self.windows.insert((key.to_vec(), start), (end, value));
                changed.push((key.to_vec(), start));
            }
        }
        (!changed.is_empty()).then_some(changed)
    }

    /// The windows that close at watermark `at`, removed: `(key, start, end, value)`.
    fn close(&mut self, lateness: i64) -> Vec<(Vec<u8>, i64, i64, Agg)> {
        let at = self.watermark.at;
        let closing: Vec<(Vec<u8>, i64)> = self
            .windows
            .iter()
            .filter(|(_, (end, _))| at != i64::MIN && end.saturating_add(lateness) <= at)
            .map(|(k, _)| k.clone())
            .collect();
        closing
            .into_iter()
            .map(|(key, start)| {
                let (end, value) = self.windows.remove(&(key.clone(), start)).expect("just found");
                (key, start, end, value)
            })
            .collect()
    }
}

/// A window as the stream writes it: keyed by the key, the value `{"start", "end", "value"}`, at event
/// time `start`.
fn push_window(out: &mut Batch, key: &[u8], start: i64, end: i64, value: Agg) {
    let value = match value {
        Agg::I64(v) => serde_json::Value::from(v),
        Agg::F64(v) => serde_json::Value::from(v),
    };
    let json = serde_json::json!({"start": start, "end": end, "value": value}).to_string();
    out.push(Some(key), ValueRef::Json(&json), start);
}

/// Extension trait for event-time windows.
pub trait EventWindowExt<'s> {
    /// Aggregates this stream's keyed records (already on the worker owning their key) over event-time
    /// windows as `cfg` says, the watermark folded from `parts`, its batches and state as `timing` says.
    /// Returns the windows written and the late records.
    ///
    /// ```
    /// // Exercised end to end by the event-time golden cases; the windows a record falls in:
    /// use weir::operator::event_window::Shape;
    /// assert_eq!(Shape::Sliding { length: 4, slide: 2, offset: 0 }.windows(5), vec![(4, 8), (2, 6)]);
    /// ```
    fn event_window(self, parts: PartStream<'s>, timing: Timing, cfg: EventWindowConfig) -> Outputs<'s>;
}

impl<'s> EventWindowExt<'s> for BatchStream<'s> {
    fn event_window(self, parts: PartStream<'s>, timing: Timing, cfg: EventWindowConfig) -> Outputs<'s> {
        let state = State { watermark: Watermark::new(cfg.sources), windows: BTreeMap::new() };
        watermarked(self, parts, timing, state, move |state, t, records, parts| batch(&cfg, state, t, records, parts))
    }
}

/// Batch `t`: its records into their windows (or the late output), the watermark moved on by its
/// parts, and the windows to write.
fn batch(cfg: &EventWindowConfig, state: &mut State, t: u64, records: &[Batch], parts: &[Part]) -> (Batch, Batch) {
    let (mut written, mut late) = (Batch::new(), Batch::new());
    let mut changed: BTreeSet<(Vec<u8>, i64)> = BTreeSet::new();
    for b in records {
        for i in 0..b.len() {
            let r = b.get(i);
            let value = if cfg.reducer == ReducerKind::Count { Some(Agg::I64(1)) } else { numeric(b, i) };
            let Some(value) = value else {
                let reason =
                    format!("`{}` folds numbers with `{}`; this value is not one", cfg.name, cfg.reducer.name());
                cfg.dead.record(&cfg.name, t, &r, &reason);
                continue;
            };
            let e = if r.time == 0 { t as i64 } else { r.time };
            match state.add(cfg, b.key_bytes(i), value, e) {
                Some(windows) => changed.extend(windows),
                None if cfg.late_stream => late.push_from(b, i),
                None => {
                    let (at, lateness) = (state.watermark.at, cfg.lateness);
                    let reason = format!(
                        "late: event time {e} falls only in windows closed at watermark {at} (lateness {lateness} ms); \
                         a `late_records` stream reading `{}` would take it",
                        cfg.name
                    );
                    cfg.dead.record(&cfg.name, t, &r, &reason);
                }
            }
        }
    }
    state.watermark.advance(t, parts, cfg.watermark);
    if cfg.output == OutputMode::Update {
        for (key, start) in &changed {
            if let Some((end, value)) = state.windows.get(&(key.clone(), *start)) {
                push_window(&mut written, key, *start, *end, *value);
            }
        }
        state.close(cfg.lateness);
    } else {
        for (key, start, end, value) in state.close(cfg.lateness) {
            push_window(&mut written, &key, start, end, value);
        }
    }
    (written, late)
}
