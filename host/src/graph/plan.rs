//! Turns a job spec into a checked plan: every name resolves, the graph has no cycle, windows fit the
//! batch interval, plugin files exist. Errors name the file, line and field.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::operator::expr::Expr;

use super::placement::Placement;
use super::spec::{
    CheckpointSpec, ClockMode, JobSpec, JoinKind, ReducerKind, SinkSpec, SourceSpec, StreamSpec, TableSpec, TimeoutOn,
    WindowSpec,
};

/// Why a job spec was refused.
#[derive(Debug, Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("cannot read job spec {path}: {source}")]
    Read {
        /// The spec file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has an unknown or mistyped field (the message names field and line).
    #[error("{path}: {message}")]
    Parse {
        /// The spec file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The TOML is well-formed but the job cannot run as written.
    #[error("{path}:{line}: `{field}`: {message}")]
    Invalid {
        /// The spec file.
        path: PathBuf,
        /// 1-based line of the offending field (or of its table).
        line: usize,
        /// Dotted path of the offending field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// A checked job, ready to become a dataflow.
#[derive(Debug)]
pub struct Plan {
    /// Job name.
    pub name: String,
    /// Batch interval in milliseconds.
    pub interval: u64,
    /// Worker threads (of each process).
    pub workers: usize,
    /// Processes (`[job] processes`).
    pub processes: usize,
    /// What cuts batches.
    pub clock: ClockMode,
    /// Slow the sources to a lagging sink (`[job] backpressure`).
    pub backpressure: bool,
    /// Plugin limits.
    pub limits: super::spec::LimitsSpec,
    /// Sources by name, in name order (their index is their source id).
    pub sources: Vec<(String, SourceSpec)>,
    /// Streams in an order where every stream comes after its input.
    pub streams: Vec<(String, StreamSpec)>,
    /// Sinks by name.
    pub sinks: Vec<(String, SinkSpec)>,
    /// Dead-letter file, if any.
    pub dead_letter: Option<PathBuf>,
    /// What each stream does with refused records, and the job's limit on them.
    pub dead_letter_policy: crate::operator::dead_letter::Policy,
    /// Where keyed state lives.
    pub state: super::spec::StateSpec,
    /// Static tables by name, file paths resolved.
    pub tables: Vec<(String, TableSpec)>,
    /// Checkpoint settings, directory resolved.
    pub checkpoint: Option<CheckpointSpec>,
    /// What `weir serve` does when the job fails.
    pub restart: super::restart::RestartSpec,
    /// How the job's watermark follows event time.
    pub watermark: super::spec::WatermarkSpec,
    /// The spec file's text, recorded in every checkpoint.
    pub text: String,
}

impl Plan {
    /// How often stream (or source) `name` produces a batch, as Spark's `slideDuration`: a windowed
    /// stream every slide, any other stream as often as its input, a source every interval.
    pub fn slide(&self, name: &str) -> u64 {
        match self.streams.iter().find(|(n, _)| n == name) {
            None => self.interval,
            Some((_, s)) => match s.window() {
                Some(w) => w.slide.map_or_else(|| self.slide(s.from()), |m| m.0),
                None => self.slide(s.from()),
            },
        }
    }

    /// The limits every plugin instance of this job runs under.
    pub fn plugin_limits(&self) -> crate::operator::wasm::Limits {
        crate::operator::wasm::Limits {
            deadline: std::time::Duration::from_millis(self.limits.deadline.0),
            memory: self.limits.memory.as_u64() as usize,
        }
    }

    /// The first time at or after `first_time` that is a multiple of `slide`.
    ///
    /// ```
    /// assert_eq!(weir::graph::Plan::align(1000, 2000), 2000);
    /// assert_eq!(weir::graph::Plan::align(4000, 2000), 4000);
    /// ```
    pub fn align(first_time: u64, slide: u64) -> u64 {
        first_time.div_ceil(slide) * slide
    }
}

struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Checker<'_> {
    /// The line of `field` inside table `[section.name]`, or of the table header, or 1.
    fn line(&self, section: &str, name: &str, field: Option<&str>) -> usize {
        let headers = if name.is_empty() {
            vec![format!("[{section}]")]
        } else {
            vec![format!("[{section}.{name}]"), format!("[{section}.\"{name}\"]")]
        };
        let lines: Vec<&str> = self.text.lines().collect();
        let Some(start) = lines.iter().position(|l| headers.iter().any(|h| l.trim() == h)) else {
            return 1;
        };
        if let Some(field) = field {
            for (i, l) in lines.iter().enumerate().skip(start + 1) {
                let l = l.trim();
                if l.starts_with('[') {
                    break;
                }
                if l.split('=').next().is_some_and(|k| k.trim() == field) {
                    return i + 1;
                }
            }
        }
        start + 1
    }

    fn err(&self, section: &str, name: &str, field: &str, message: impl Into<String>) -> SpecError {
        let top = field.split('.').next();
        SpecError::Invalid {
            path: self.path.to_path_buf(),
            line: self.line(section, name, top),
            field: if name.is_empty() { format!("{section}.{field}") } else { format!("{section}.{name}.{field}") },
            message: message.into(),
        }
    }
}

/// Reads, parses and checks a job spec file. Relative paths inside it are resolved against its folder.
pub fn load(path: &Path) -> Result<Plan, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read { path: path.into(), source })?;
    parse(path, &text)
}

/// Parses and checks spec `text` read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Plan, SpecError> {
    parse_placed(path, text, &Placement::beside_spec())
}

/// [`parse`], with plugins and directories where `placement` puts them.
pub fn parse_placed(path: &Path, text: &str, placement: &Placement<'_>) -> Result<Plan, SpecError> {
    let spec: JobSpec = toml::from_str(text).map_err(|e| match super::locate::locate(text, &e) {
        Some(at) => SpecError::Invalid { path: path.into(), line: at.line, field: at.field, message: at.message },
        None => SpecError::Parse { path: path.into(), message: e.to_string() },
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    check(&Checker { path, text }, spec, &base, placement)
}

fn check(c: &Checker<'_>, mut spec: JobSpec, base: &Path, placement: &Placement<'_>) -> Result<Plan, SpecError> {
    spec.split_streams();
    let job = &spec.job;
    if job.name.trim().is_empty() {
        return Err(c.err("job", "", "name", "must not be empty"));
    }
    let interval = job.batch_interval.0;
    if interval == 0 {
        return Err(c.err("job", "", "batch_interval", "must be at least 1ms"));
    }
    if !(1..=64).contains(&job.workers) {
        return Err(c.err("job", "", "workers", format!("must be between 1 and 64, not {}", job.workers)));
    }
    if !(1..=64).contains(&job.processes) {
        return Err(c.err("job", "", "processes", format!("must be between 1 and 64, not {}", job.processes)));
    }
    if spec.limits.deadline.0 == 0 || spec.limits.memory.as_u64() < 1 << 20 {
        return Err(c.err("limits", "", "memory", "limits need a deadline above 0 and at least 1 MiB of memory"));
    }
    if spec.sources.is_empty() {
        return Err(c.err("sources", "", "", "the job has no source; add a [sources.NAME] table"));
    }
    if spec.sinks.is_empty() {
        return Err(c.err("sinks", "", "", "the job has no sink; add a [sinks.NAME] table"));
    }
    for (name, src) in spec.sources.iter_mut() {
        super::check_connectors::source(src, job.clock, name, base, placement)
            .map_err(|(field, msg)| c.err("sources", name, field, msg))?;
    }
    for (name, table) in spec.tables.iter_mut() {
        check_table(c, name, table, base)?;
    }
    for (name, stream) in spec.streams.iter_mut() {
        if spec.sources.contains_key(name) {
            return Err(c.err("streams", name, "", format!("`{name}` is already the name of a source")));
        }
        if let StreamSpec::UpdateStateByKey { initial_state: Some(path), .. }
        | StreamSpec::MapWithState { initial_state: Some(path), .. } = stream
        {
            *path = base.join(&*path);
            if !path.is_file() {
                return Err(c.err("streams", name, "initial_state", format!("no file at {}", path.display())));
            }
        }
        if let StreamSpec::MapWithState { timeout_on: TimeoutOn::EventTime, timeout, plugin, .. } = stream {
            if plugin.is_some() {
                let msg = "event-time timeouts need a built-in `function`; a plugin's timeouts follow batch time";
                return Err(c.err("streams", name, "timeout_on", msg));
            }
            if timeout.is_none_or(|t| t.0 == 0) {
                return Err(c.err(
                    "streams",
                    name,
                    "timeout",
                    "`timeout_on = \"event_time\"` needs a `timeout` above 0",
                ));
            }
        } else if let StreamSpec::MapWithState { timeout: Some(t), .. } = stream
            && (t.0 == 0 || !t.0.is_multiple_of(job.batch_interval.0))
        {
            let msg = format!("timeout {t} is not a positive multiple of the batch interval ({})", job.batch_interval);
            return Err(c.err("streams", name, "timeout", msg));
        }
        check_function(c, name, stream)?;
        if let StreamSpec::Wasm { model: Some(path), params, .. } = stream {
            let text = read_model(&base.join(&*path)).map_err(|m| c.err("streams", name, "model", m))?;
            if params.insert("model".into(), text).is_some() {
                return Err(c.err("streams", name, "params", "`model` is given by the `model` file; drop it here"));
            }
        }
        if let Some(plugin) = stream.plugin_mut() {
            let written = plugin.to_string_lossy().into_owned();
            *plugin = placement.plugin(name, &written, base).map_err(|m| c.err("streams", name, "plugin", m))?;
        }
    }
    let known = |n: &str| spec.sources.contains_key(n) || spec.streams.contains_key(n);
    for (name, stream) in &spec.streams {
        let inputs = stream.inputs();
        let (least, most) = stream.arity();
        if inputs.len() < least || inputs.len() > most {
            let want = if least == most { format!("{least}") } else { format!("{least} to {most}") };
            let msg = format!("this op reads {want} inputs, not {}; write e.g. from = [\"a\", \"b\"]", inputs.len());
            return Err(c.err("streams", name, "from", msg));
        }
        if let Some(missing) = inputs.iter().find(|i| !known(i)) {
            return Err(c.err("streams", name, "from", format!("no source or stream named `{missing}`")));
        }
        super::check_event_time::stream(stream, &spec.streams).map_err(|(f, m)| c.err("streams", name, f, m))?;
        if let StreamSpec::StateSnapshots { from } = stream
            && !matches!(spec.streams.get(from), Some(StreamSpec::MapWithState { .. }))
        {
            return Err(c.err("streams", name, "from", format!("`{from}` is not a map_with_state stream")));
        }
        if let StreamSpec::ReduceByKey { inverse, filter, reducer, window, .. } = stream {
            if *inverse && window.is_none() {
                return Err(c.err("streams", name, "inverse", "an inverse function needs a `window`"));
            }
            if let (true, Some(r)) = (*inverse, reducer)
                && !matches!(r, ReducerKind::Sum | ReducerKind::Count)
            {
                let msg = format!("reducer `{}` has no inverse; drop `inverse` to recompute each window", r.name());
                return Err(c.err("streams", name, "inverse", msg));
            }
            if filter.is_some() && !*inverse {
                return Err(c.err("streams", name, "filter", "a filter applies only with `inverse = true`"));
            }
            if filter.is_some() && reducer.is_none() {
                let msg = "the `non_zero` filter works with a built-in reducer; filter a plugin's output downstream";
                return Err(c.err("streams", name, "filter", msg));
            }
        }
        if let StreamSpec::JoinTable { table, how, .. } = stream {
            if !spec.tables.contains_key(table) {
                return Err(c.err(
                    "streams",
                    name,
                    "table",
                    format!("no table named `{table}`; add a [tables.{table}]"),
                ));
            }
            if !matches!(how, JoinKind::Inner | JoinKind::LeftOuter) {
                let msg = "a table join keeps the stream's side: write `inner` or `left_outer`";
                return Err(c.err("streams", name, "how", msg));
            }
        }
        check_expressions(c, name, stream)?;
        if let StreamSpec::Repartition { partitions: 0, .. } = stream {
            return Err(c.err("streams", name, "partitions", "must be at least 1"));
        }
        if let StreamSpec::Top { n: 0, .. } = stream {
            return Err(c.err("streams", name, "n", "must be at least 1"));
        }
    }
    for (name, sink) in spec.sinks.iter_mut() {
        if !known(sink.from()) {
            return Err(c.err("sinks", name, "from", format!("no source or stream named `{}`", sink.from())));
        }
        match sink {
            SinkSpec::Files { prefix, .. } => *prefix = base.join(&*prefix),
            SinkSpec::Jsonl { path, .. } => *path = base.join(&*path),
            SinkSpec::Postgres { table, mode, columns, column_types, primary_key, .. }
            | SinkSpec::Mariadb { table, mode, columns, column_types, primary_key, .. } => {
                if !columns.is_empty() || !column_types.is_empty() || !primary_key.is_empty() {
                    crate::sink::columns::Layout::from_spec(columns, column_types, primary_key, *mode)
                        .map_err(|(field, msg)| c.err("sinks", name, &field, msg))?;
                }
                let ident = |p: &str| {
                    p.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                };
                if table.split('.').count() > 2 || !table.split('.').all(ident) {
                    let msg =
                        format!("`{table}` is not a table name: write `name` or `schema.name` (letters, digits, _)");
                    return Err(c.err("sinks", name, "table", msg));
                }
            }
            // Connectors; the other sinks pass.
            _ => super::check_connectors::sink(sink, name, base, placement)
                .map_err(|(field, msg)| c.err("sinks", name, field, msg))?,
        }
    }
    let order = topo_order(c, &spec.streams)?;
    // As in Spark, a window's length and slide must be multiples of its input's slide, and the slide
    // defaults to it; inputs come first in `order`.
    let mut slides: HashMap<&str, u64> = HashMap::new();
    for name in &order {
        let stream = &spec.streams[name];
        let slide_of = |n: &str| slides.get(n).copied().unwrap_or(interval);
        let parent = slide_of(stream.from());
        if let Some(other) = stream.inputs().into_iter().find(|i| slide_of(i) != parent) {
            let msg = format!(
                "inputs must produce batches at the same times: `{}` slides every {parent} ms, `{other}` every {} ms",
                stream.from(),
                slide_of(other)
            );
            return Err(c.err("streams", name, "from", msg));
        }
        let own = match stream.window() {
            Some(w) => {
                check_window(c, name, w, parent, interval)?;
                w.slide.map_or(parent, |s| s.0)
            }
            None => parent,
        };
        slides.insert(name, own);
    }
    if let Some(dir) = placement.checkpoint_dir() {
        // A placed job always checkpoints, every as few batches as its windows allow.
        let every = slides.values().fold(1, |l, s| lcm(l, s / gcd(*s, interval)));
        let ck = spec.checkpoint.get_or_insert_with(|| CheckpointSpec::every(every));
        ck.dir = dir;
    }
    if let Some(ck) = spec.checkpoint.as_mut() {
        check_checkpoint(c, ck, &slides, interval)?;
        ck.dir = base.join(&ck.dir);
    }
    if let (Some(dir), Some(_)) = (placement.state_dir(), &spec.state.dir) {
        spec.state.dir = Some(dir);
    }
    if let Some(f) = spec.dead_letter.as_ref().and_then(|d| d.max_fraction).filter(|f| !(0.0..=1.0).contains(f)) {
        return Err(c.err("dead_letter", "", "max_fraction", format!("{f} is not a fraction from 0 to 1, e.g. 0.01")));
    }
    let durable = spec.state.dir.is_some() || spec.checkpoint.is_some() || spec.state.ephemeral;
    let stateful = spec
        .streams
        .iter()
        .find(|(_, s)| matches!(s, StreamSpec::UpdateStateByKey { .. } | StreamSpec::MapWithState { .. }));
    if let (Some((name, _)), false) = (stateful, durable) {
        let msg = "keeps state across batches, but the job has nowhere durable to keep it, so a restart would \
                   start from nothing: add a `[checkpoint] dir` (or a `[state] dir`), or `[state] ephemeral = true` \
                   to keep it in a temporary directory on purpose";
        return Err(c.err("streams", name, "op", msg));
    }
    let mut streams: BTreeMap<String, StreamSpec> = std::mem::take(&mut spec.streams);
    let streams = order.into_iter().map(|n| (n.clone(), streams.remove(&n).expect("ordered name exists"))).collect();
    Ok(Plan {
        name: spec.job.name,
        interval,
        workers: spec.job.workers,
        processes: spec.job.processes,
        clock: spec.job.clock,
        backpressure: spec.job.backpressure,
        limits: spec.limits,
        sources: spec.sources.into_iter().collect(),
        streams,
        sinks: spec.sinks.into_iter().collect(),
        dead_letter: spec.dead_letter.as_ref().and_then(|d| d.path.as_ref()).map(|p| base.join(p)),
        dead_letter_policy: crate::operator::dead_letter::Policy {
            on_error: spec.on_error,
            max: spec.dead_letter.as_ref().and_then(|d| d.max),
            max_fraction: spec.dead_letter.and_then(|d| d.max_fraction),
        },
        state: super::spec::StateSpec { dir: spec.state.dir.map(|d| base.join(d)), ..spec.state },
        tables: spec.tables.into_iter().collect(),
        checkpoint: spec.checkpoint,
        restart: spec.restart,
        watermark: spec.watermark,
        text: c.text.to_string(),
    })
}

/// Checkpoints must fall on batches every windowed stream produces (Spark refuses the same).
fn check_checkpoint(
    c: &Checker<'_>,
    ck: &CheckpointSpec,
    slides: &HashMap<&str, u64>,
    interval: u64,
) -> Result<(), SpecError> {
    if ck.every == 0 {
        return Err(c.err("checkpoint", "", "every", "must be at least 1 batch"));
    }
    if ck.keep == 0 {
        return Err(c.err("checkpoint", "", "keep", "must keep at least 1 checkpoint"));
    }
    let period = ck.every * interval;
    if let Some((name, slide)) = slides.iter().find(|(_, s)| !period.is_multiple_of(**s)) {
        let msg = format!(
            "checkpoints every {} batches ({period} ms) do not fall on the batches of stream `{name}`, which \
             slides every {slide} ms; make `every × batch_interval` a multiple of {slide} ms",
            ck.every
        );
        return Err(c.err("checkpoint", "", "every", msg));
    }
    Ok(())
}

/// The largest model file a stream may name: it is handed to every instance of the plugin.
/// The largest model file a stream may name (or an upgrade may send), bytes.
pub const MAX_MODEL: u64 = 64 << 20;

/// The text of the model file at `path`.
fn read_model(path: &Path) -> Result<String, String> {
    let size = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?.len();
    if size > MAX_MODEL {
        return Err(format!("{} is {size} bytes; a model may be at most {MAX_MODEL}", path.display()));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses the expressions of a built-in `filter` or `map`, refusing a `map` that changes nothing.
fn check_expressions(c: &Checker<'_>, name: &str, stream: &StreamSpec) -> Result<(), SpecError> {
    let fields: Vec<(&str, &String)> = match stream {
        StreamSpec::Filter { condition, .. } => vec![("where", condition)],
        StreamSpec::Map { key: None, value: None, .. } => {
            return Err(c.err("streams", name, "value", "a map needs a `key` or a `value` expression (or both)"));
        }
        StreamSpec::Map { key, value, .. } => {
            [("key", key), ("value", value)].into_iter().filter_map(|(f, e)| Some((f, e.as_ref()?))).collect()
        }
        _ => return Ok(()),
    };
    for (field, text) in fields {
        Expr::parse(text).map_err(|m| c.err("streams", name, field, format!("`{text}`: {m}")))?;
    }
    Ok(())
}

/// Resolves a file table's path and refuses a missing file, an empty column name or a zero period.
fn check_table(c: &Checker<'_>, name: &str, table: &mut TableSpec, base: &Path) -> Result<(), SpecError> {
    let (key, value) = table.columns();
    if key.is_empty() || value.is_some_and(str::is_empty) {
        return Err(c.err("tables", name, if key.is_empty() { "key" } else { "value" }, "must name a column"));
    }
    if table.reload() == Some(0) {
        return Err(c.err("tables", name, "reload", "must be at least 1ms"));
    }
    if let TableSpec::File { path, .. } = table {
        *path = base.join(&*path);
        if !path.is_file() {
            return Err(c.err("tables", name, "path", format!("no file at {}", path.display())));
        }
    }
    Ok(())
}

fn check_window(c: &Checker<'_>, name: &str, w: WindowSpec, parent: u64, interval: u64) -> Result<(), SpecError> {
    let bad = |v: u64| v == 0 || !v.is_multiple_of(parent);
    let unit = if parent == interval {
        format!("the batch interval ({interval} ms)")
    } else {
        format!("its input's slide ({parent} ms)")
    };
    if bad(w.length.0) {
        let msg = format!("window length {} is not a positive multiple of {unit}", w.length);
        return Err(c.err("streams", name, "window", msg));
    }
    if let Some(slide) = w.slide
        && bad(slide.0)
    {
        let msg = format!("window slide {slide} is not a positive multiple of {unit}");
        return Err(c.err("streams", name, "window", msg));
    }
    Ok(())
}

/// Orders streams so each follows its inputs; refuses cycles, naming a stream on the cycle.
fn topo_order(c: &Checker<'_>, streams: &BTreeMap<String, StreamSpec>) -> Result<Vec<String>, SpecError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit<'a>(
        c: &Checker<'_>,
        streams: &'a BTreeMap<String, StreamSpec>,
        at: &'a str,
        marks: &mut HashMap<&'a str, Mark>,
        order: &mut Vec<String>,
    ) -> Result<(), SpecError> {
        match marks.get(at) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Visiting) => {
                return Err(c.err("streams", at, "from", format!("`{at}` depends on itself through `from`")));
            }
            None => {}
        }
        let Some(stream) = streams.get(at) else { return Ok(()) };
        marks.insert(at, Mark::Visiting);
        for input in stream.inputs() {
            visit(c, streams, input, marks, order)?;
        }
        marks.insert(at, Mark::Done);
        order.push(at.to_string());
        Ok(())
    }
    let mut marks = HashMap::new();
    let mut order = Vec::new();
    for start in streams.keys() {
        visit(c, streams, start, &mut marks, &mut order)?;
    }
    Ok(order)
}

/// Refuses a keyed function given twice or not at all: a built-in (`reducer`, `updater`, `function`) or a
/// `plugin`, exactly one.
fn check_function(c: &Checker<'_>, name: &str, stream: &StreamSpec) -> Result<(), SpecError> {
    let (field, builtin, plugin) = match stream {
        StreamSpec::ReduceByKey { reducer, plugin, .. } => ("reducer", reducer.is_some(), plugin.is_some()),
        StreamSpec::UpdateStateByKey { updater, plugin, .. } => ("updater", updater.is_some(), plugin.is_some()),
        StreamSpec::MapWithState { function, plugin, .. } => ("function", function.is_some(), plugin.is_some()),
        _ => return Ok(()),
    };
    match (builtin, plugin) {
        (true, true) => Err(c.err("streams", name, "plugin", format!("give `{field}` or `plugin`, not both"))),
        (false, false) => {
            let msg = format!("missing `{field}` (sum, count, min or max) or `plugin` (a Wasm component)");
            Err(c.err("streams", name, field, msg))
        }
        _ => Ok(()),
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn lcm(a: u64, b: u64) -> u64 {
    a / gcd(a, b) * b
}
