//! Whether a checkpoint's state fits the job resuming from it. Each stateful stream records the shape of
//! its state: the op, what decides the stored values (reducer, window), and where its keys come from.
//! Plugins are not part of it: the state format belongs to the job, so a plugin can be upgraded and keep
//! its state (Spark's checkpoints, which serialize compiled code, cannot survive that).

use std::collections::BTreeMap;

use super::{CheckpointError, Manifest};
use crate::graph::Plan;
use crate::graph::spec::{StreamSpec, TimeoutOn};

/// The shape of `spec`'s state, or `None` when the stream keeps nothing between batches. Shapes starting
/// with `keyed` live in the state database; `window` shapes are buffers each worker holds.
///
/// ```
/// let spec: weir::graph::spec::StreamSpec =
///     toml::from_str("op = \"update_state_by_key\"\nfrom = \"pairs\"\nupdater = \"sum\"").unwrap();
/// assert_eq!(weir::checkpoint::state_shape(&spec).unwrap(), "keyed update_state_by_key sum");
/// ```
pub fn state_shape(spec: &StreamSpec) -> Option<String> {
    let fun = |r: Option<crate::graph::spec::ReducerKind>| r.map_or("plugin", |r| r.name());
    match spec {
        StreamSpec::UpdateStateByKey { updater, .. } => Some(format!("keyed update_state_by_key {}", fun(*updater))),
        StreamSpec::MapWithState { function, timeout_on: TimeoutOn::BatchTime, .. } => {
            Some(format!("keyed map_with_state {}", fun(*function)))
        }
        // Its state's `last_seen` is an event time, not a batch time: not interchangeable.
        StreamSpec::MapWithState { function, .. } => {
            Some(format!("keyed map_with_state {} event_time", fun(*function)))
        }
        StreamSpec::DropDuplicates { within, .. } => Some(format!("drop_duplicates within={}", within.0)),
        StreamSpec::EventWindow { reducer, length, slide, gap, offset, lateness, output, .. } => {
            let ms = |m: Option<crate::graph::spec::Millis>| m.map_or("-".to_string(), |m| m.0.to_string());
            Some(format!(
                "event_window {} length={} slide={} gap={} offset={} lateness={} output={output:?}",
                reducer.name(),
                ms(*length),
                ms(*slide),
                ms(*gap),
                offset.0,
                lateness.0
            ))
        }
        other => {
            let w = other.window()?;
            let op = format!("{other:?}");
            let op = op.split([' ', '{']).next().unwrap_or_default().to_string();
            let slide = w.slide.map_or_else(|| "input".to_string(), |s| s.0.to_string());
            let extra = match other {
                StreamSpec::ReduceByKey { reducer, inverse, filter, .. } => {
                    format!(" {} inverse={inverse} filter={}", fun(*reducer), filter.is_some())
                }
                StreamSpec::Reduce { reducer, .. } => format!(" {}", reducer.name()),
                _ => String::new(),
            };
            Some(format!("window {op} length={} slide={slide}{extra}", w.length.0))
        }
    }
}

/// The state shape of every stateful stream of `plan`.
pub fn shapes(plan: &Plan) -> BTreeMap<String, String> {
    let mut shapes: BTreeMap<String, String> =
        plan.streams.iter().filter_map(|(name, spec)| Some((name.clone(), state_shape(spec)?))).collect();
    // A `map_with_state` with event-time timeouts keeps its watermark beside its keyed state.
    for (name, spec) in &plan.streams {
        if matches!(spec, StreamSpec::MapWithState { timeout_on: TimeoutOn::EventTime, .. }) {
            shapes.insert(watermark_part(name), "watermark".to_string());
        }
    }
    shapes
}

/// The checkpoint part in which stream `name` keeps its watermark, when it keeps it apart from its state.
///
/// ```
/// assert_eq!(weir::checkpoint::watermark_part("sessions"), "sessions@watermark");
/// ```
pub fn watermark_part(name: &str) -> String {
    format!("{name}@watermark")
}

/// Where the keys of every stateful stream of `plan` come from.
pub fn keys(plan: &Plan) -> BTreeMap<String, String> {
    key_origins(plan, &shapes(plan))
}

/// Where the keys of the streams in `shapes` come from.
fn key_origins(plan: &Plan, shapes: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    shapes.keys().map(|stream| (stream.clone(), crate::graph::key_origin(plan, stream))).collect()
}

/// Checks that `plan` can take over `manifest`'s state. Returns the streams whose state is dropped
/// (allowed only with `allow_dropped`).
/// `workers` counts the workers of every process the job now runs on.
pub fn check(
    plan: &Plan,
    manifest: &Manifest,
    workers: usize,
    allow_dropped: bool,
) -> Result<Vec<String>, CheckpointError> {
    let now = shapes(plan);
    let now_keys = key_origins(plan, &now);
    let mut dropped = Vec::new();
    for (stream, shape) in &manifest.state {
        let reason = match now.get(stream) {
            None => format!("stream `{stream}` has state in the checkpoint but is no longer in the job"),
            Some(s) if s != shape => {
                format!("stream `{stream}` changed the shape of its state: it was `{shape}`, it is now `{s}`")
            }
            Some(_) => match (manifest.keys.get(stream), now_keys.get(stream)) {
                (Some(old), Some(new)) if old != new => format!(
                    "stream `{stream}` changed its key: its state is keyed by {old}, the job now keys it by {new}"
                ),
                _ => continue,
            },
        };
        if !allow_dropped {
            return Err(CheckpointError::Incompatible(format!(
                "{reason}; run with --allow-dropped-state to drop that state and go on"
            )));
        }
        tracing::warn!("{reason}: its state is dropped (--allow-dropped-state)");
        dropped.push(stream.clone());
    }
    // Window buffers, event-time windows and the watermark are kept per worker, not per key group.
    let per_worker =
        |shape: &str| ["window", "event_window", "drop_duplicates", "watermark"].iter().any(|p| shape.starts_with(p));
    let windowed = manifest.state.iter().any(|(s, shape)| per_worker(shape) && !dropped.contains(s));
    if windowed && manifest.workers != workers {
        let m = manifest.workers;
        let fix = match workers == plan.workers {
            true => format!("run with `workers = {m}`"),
            false => format!("run with {m} workers in all, workers × processes (it now runs {workers})"),
        };
        return Err(CheckpointError::Incompatible(format!(
            "the checkpoint holds window buffers, event-time windows or a watermark of {m} workers; {fix} (that \
             state is per worker)"
        )));
    }
    for (stream, old) in &manifest.plugins {
        if let Some(new) = plan.streams.iter().find(|(n, _)| n == stream).and_then(|(_, s)| s.plugin()) {
            tracing::info!(stream = %stream, from = %old.version, plugin = %new.0.display(), "plugin recorded in the checkpoint: {} {} ({})", old.name, old.version, &old.hash[..12.min(old.hash.len())]);
        }
    }
    Ok(dropped)
}
