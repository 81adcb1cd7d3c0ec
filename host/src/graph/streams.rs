//! The `[streams.NAME]` tables of a job spec: the DStream operators, their windows, built-in reducers and
//! join kinds. Re-exported from `spec.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::spec::Millis;

/// A window over a stream: length and slide, both multiples of the batch interval.
#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// Window length.
    pub length: Millis,
    /// Slide (default: the batch interval).
    #[serde(default)]
    pub slide: Option<Millis>,
}

/// A built-in reduce function.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReducerKind {
    /// Sum of numeric values.
    Sum,
    /// Number of values.
    Count,
    /// Smallest numeric value.
    Min,
    /// Largest numeric value.
    Max,
}

impl ReducerKind {
    /// The name as written in a spec.
    ///
    /// ```
    /// assert_eq!(weir::graph::spec::ReducerKind::Max.name(), "max");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            ReducerKind::Sum => "sum",
            ReducerKind::Count => "count",
            ReducerKind::Min => "min",
            ReducerKind::Max => "max",
        }
    }
}

/// A built-in filter for incremental windows.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WindowFilter {
    /// Keep only keys whose windowed value is not zero.
    NonZero,
}

/// Which keys a `join` keeps, as Spark's `join`, `leftOuterJoin`, `rightOuterJoin` and `fullOuterJoin`.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum JoinKind {
    /// Keys with values on both sides.
    #[default]
    Inner,
    /// Every key of the left stream; a missing right value is `null`.
    LeftOuter,
    /// Every key of the right stream; a missing left value is `null`.
    RightOuter,
    /// Every key of either stream.
    FullOuter,
}

/// A `[streams.NAME]` table: one operator applied to the stream(s) named in `from`.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum StreamSpec {
    /// A Wasm transform component.
    Wasm {
        /// Input source or stream.
        from: String,
        /// Path of the component (`.wasm`), relative to the spec file.
        plugin: PathBuf,
        /// Parameters passed to the plugin's `init`.
        #[serde(default)]
        params: BTreeMap<String, String>,
        /// A model file (`weir model train`'s output), relative to the spec file: the host reads it and
        /// hands its text to the plugin as the parameter `model`.
        #[serde(default)]
        model: Option<PathBuf>,
    },
    /// The records for which a built-in expression is true, as Spark's `filter` (see `operator/expr.rs`
    /// for what an expression reads).
    Filter {
        /// Input source or stream.
        from: String,
        /// A boolean expression, e.g. `value > 10 && key != "test"`.
        #[serde(rename = "where")]
        condition: String,
    },
    /// A new key and/or value for every record from built-in expressions, as Spark's `map`.
    Map {
        /// Input source or stream.
        from: String,
        /// The new key (default: keep it); a result of `()` (empty) removes it.
        #[serde(default)]
        key: Option<String>,
        /// The new value (default: keep it).
        #[serde(default)]
        value: Option<String>,
    },
    /// The built-in native tokenizer: lines to words.
    Tokenize {
        /// Input source or stream.
        from: String,
    },
    /// `(value, n)` pairs: the record's value becomes the key, `value` (default 1) the value.
    MapToPair {
        /// Input source or stream.
        from: String,
        /// The value of every pair (default 1).
        #[serde(default = "one_i64")]
        value: i64,
    },
    /// Combines the values of each key with a built-in reducer or a `reducer` plugin, per batch or per
    /// window.
    ReduceByKey {
        /// Input stream of keyed records.
        from: String,
        /// The built-in reduce function (or give `plugin`).
        #[serde(default)]
        reducer: Option<ReducerKind>,
        /// A `reducer` component (`.wasm`), relative to the spec file (or give `reducer`).
        #[serde(default)]
        plugin: Option<PathBuf>,
        /// Parameters passed to the plugin's `init`.
        #[serde(default)]
        params: BTreeMap<String, String>,
        /// Optional window.
        #[serde(default)]
        window: Option<WindowSpec>,
        /// Update the window incrementally with the reducer's inverse (Spark's `invFunc`; `sum` and
        /// `count` only) instead of recomputing it. Keys whose value falls back to zero stay in the output.
        #[serde(default)]
        inverse: bool,
        /// With `inverse`, the filter (Spark's `filterFunc`) that drops keys from the window state.
        #[serde(default)]
        filter: Option<WindowFilter>,
    },
    /// The number of records, one record per batch (or window).
    Count {
        /// Input source or stream.
        from: String,
        /// Optional window.
        #[serde(default)]
        window: Option<WindowSpec>,
    },
    /// The `n` records of each batch (or window, from a windowed input) with the largest values, ties
    /// broken by key, as Spark's `transform(rdd => rdd.sortBy(_._2, false)).take(n)`; a sink of this
    /// stream writes them in that order.
    Top {
        /// Input source or stream.
        from: String,
        /// How many records to keep.
        n: usize,
        /// What is ranked on its own: each batch (default), or each event time in it.
        #[serde(default)]
        per: TopPer,
    },
    /// Keyed aggregation over event-time windows: tumbling (`length`), sliding (`length` and `slide`) or
    /// session (`gap`) windows `[start, end)` aligned to the epoch plus `offset`, emitted as the job's
    /// watermark (`[watermark]`) passes them (see `operator/event_window.rs`).
    EventWindow {
        /// Input source or stream (keyed records).
        from: String,
        /// The built-in fold of a window's values.
        reducer: ReducerKind,
        /// Window length (tumbling and sliding windows).
        #[serde(default)]
        length: Option<Millis>,
        /// How far apart windows start (default: `length`, tumbling windows).
        #[serde(default)]
        slide: Option<Millis>,
        /// Session windows: a key's session ends after this long without a record.
        #[serde(default)]
        gap: Option<Millis>,
        /// Windows start at multiples of the slide plus this (default 0).
        #[serde(default)]
        offset: Millis,
        /// How long after the watermark passes a window's end it still takes records (default 0).
        #[serde(default)]
        lateness: Millis,
        /// When a window is written: `append` (once, when final) or `update` (whenever it changed).
        #[serde(default)]
        output: OutputMode,
    },
    /// The records an `event_window` or `drop_duplicates` stream found too late, as they came.
    LateRecords {
        /// The `event_window` or `drop_duplicates` stream.
        from: String,
    },
    /// The first record of each key, and no other while the key is remembered: until the job's watermark
    /// passes its event time plus `within` (Spark's `dropDuplicatesWithinWatermark`).
    DropDuplicates {
        /// Input source or stream (keyed records: the key is what makes a duplicate).
        from: String,
        /// How long past its event time a key is remembered (default 0).
        #[serde(default)]
        within: Millis,
    },
    /// All values of a batch (or window) reduced to one record with a built-in reducer, as Spark's
    /// `reduce` and `reduceByWindow`. A batch without values gives no record.
    Reduce {
        /// Input source or stream.
        from: String,
        /// The reduce function.
        reducer: ReducerKind,
        /// Optional window.
        #[serde(default)]
        window: Option<WindowSpec>,
    },
    /// Every record of the batches a window covers, as Spark's `window`.
    Window {
        /// Input source or stream.
        from: String,
        /// The window.
        window: WindowSpec,
    },
    /// Every record of several streams that produce batches at the same times, as Spark's `union`.
    Union {
        /// The input sources or streams (at least two).
        from: Vec<String>,
    },
    /// The same records spread evenly over `partitions` partitions, as Spark's `repartition`. A
    /// partition lives on worker `partition % workers`.
    Repartition {
        /// Input source or stream.
        from: String,
        /// Number of partitions.
        partitions: usize,
    },
    /// Per key, the list of its values in one batch (or window), as Spark's `groupByKey` and
    /// `groupByKeyAndWindow`. Values are listed in canonical order.
    GroupByKey {
        /// Input stream of keyed records.
        from: String,
        /// Optional window.
        #[serde(default)]
        window: Option<WindowSpec>,
    },
    /// Pairs the values of each key in two keyed streams, batch by batch (or window by window): the value
    /// becomes `[left, right]`, with `null` for a side an outer join lacks.
    Join {
        /// The left and right streams.
        from: Vec<String>,
        /// Which keys to keep (default `inner`).
        #[serde(default)]
        how: JoinKind,
        /// Optional window, applied to both sides.
        #[serde(default)]
        window: Option<WindowSpec>,
    },
    /// Each keyed record joined with the rows of a static table (`[tables.NAME]`) that share its key, as
    /// Spark's `stream.transform(rdd => rdd.join(table))`: the value becomes `[value, row]`, once per row.
    JoinTable {
        /// Input stream of keyed records.
        from: String,
        /// The table's name.
        table: String,
        /// `inner` (default) drops records without a row; `left_outer` keeps them with `null` for the row.
        #[serde(default)]
        how: JoinKind,
    },
    /// Per key, the list of its values in each input, as Spark's `cogroup`: `[[left values], [right values]]`.
    Cogroup {
        /// The input streams (at least two).
        from: Vec<String>,
        /// Optional window, applied to every input.
        #[serde(default)]
        window: Option<WindowSpec>,
    },
    /// Running state per key, as Spark's `updateStateByKey`: every batch, each key's new values are folded
    /// into its state with the updater, and the whole state is output (keys without new values too).
    UpdateStateByKey {
        /// Input stream of keyed records (or of records a `map_to_pair` pairs).
        from: String,
        /// The built-in update function: the state is the reduction of every value so far (or give `plugin`).
        #[serde(default)]
        updater: Option<ReducerKind>,
        /// A `state-updater` component of kind `update-state` (or give `updater`).
        #[serde(default)]
        plugin: Option<PathBuf>,
        /// Parameters passed to the plugin's `init`.
        #[serde(default)]
        params: BTreeMap<String, String>,
        /// Optional JSON-lines file of initial state (`{"key": .., "value": ..}` per line), loaded when the
        /// state is empty.
        #[serde(default)]
        initial_state: Option<PathBuf>,
    },
    /// State per key updated only for keys with data, as Spark's `mapWithState`: outputs `(key, state)` for
    /// each key with data; a key idle for `timeout` is removed at exactly that batch with a final
    /// `(key, {"timed_out": state})`.
    MapWithState {
        /// Input stream of keyed records (or of records a `map_to_pair` pairs).
        from: String,
        /// The built-in function folding a key's values into its state (or give `plugin`).
        #[serde(default)]
        function: Option<ReducerKind>,
        /// A `state-updater` component of kind `map-with-state` (or give `function`).
        #[serde(default)]
        plugin: Option<PathBuf>,
        /// Parameters passed to the plugin's `init`.
        #[serde(default)]
        params: BTreeMap<String, String>,
        /// Idle time after which a key's state is removed (default: never).
        #[serde(default)]
        timeout: Option<Millis>,
        /// What the idle time is measured in: batch time (default), or event time against the watermark.
        #[serde(default)]
        timeout_on: TimeoutOn,
        /// Optional JSON-lines file of initial state, loaded when the state is empty.
        #[serde(default)]
        initial_state: Option<PathBuf>,
    },
    /// The whole state of a `map_with_state` stream after each batch, as Spark's `stateSnapshots`.
    StateSnapshots {
        /// The `map_with_state` stream.
        from: String,
    },
    /// `(value, occurrences)` for each distinct value.
    CountByValue {
        /// Input source or stream.
        from: String,
        /// Optional window.
        #[serde(default)]
        window: Option<WindowSpec>,
    },
}

/// What a `top` stream ranks on its own.
#[derive(Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TopPer {
    /// The whole batch.
    #[default]
    Batch,
    /// The records of each event time in the batch: an `event_window` stream's records carry their
    /// window's start, so this ranks each window on its own when several close in one batch.
    EventTime,
}

/// What a `map_with_state` timeout is measured in (Spark's `ProcessingTimeTimeout` and
/// `EventTimeTimeout`).
#[derive(Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutOn {
    /// Batch time: a key times out `timeout` after the batch of its last data.
    #[default]
    BatchTime,
    /// Event time: a key times out once the watermark reaches its latest event time plus `timeout`.
    EventTime,
}

/// When an event-time window is written.
#[derive(Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputMode {
    /// Once, when the watermark has passed its end (plus the allowed lateness): final.
    #[default]
    Append,
    /// In every batch that changed it, late firings included, until it closes.
    Update,
}

fn one_i64() -> i64 {
    1
}

impl StreamSpec {
    /// The names of this stream's inputs, in the order written.
    ///
    /// ```
    /// use weir::graph::spec::StreamSpec;
    /// let s = StreamSpec::Union { from: vec!["a".into(), "b".into()] };
    /// assert_eq!(s.inputs(), vec!["a", "b"]);
    /// ```
    pub fn inputs(&self) -> Vec<&str> {
        match self {
            StreamSpec::Wasm { from, .. }
            | StreamSpec::Tokenize { from }
            | StreamSpec::Filter { from, .. }
            | StreamSpec::Map { from, .. }
            | StreamSpec::MapToPair { from, .. }
            | StreamSpec::ReduceByKey { from, .. }
            | StreamSpec::Count { from, .. }
            | StreamSpec::Reduce { from, .. }
            | StreamSpec::Top { from, .. }
            | StreamSpec::EventWindow { from, .. }
            | StreamSpec::LateRecords { from }
            | StreamSpec::DropDuplicates { from, .. }
            | StreamSpec::Window { from, .. }
            | StreamSpec::Repartition { from, .. }
            | StreamSpec::GroupByKey { from, .. }
            | StreamSpec::UpdateStateByKey { from, .. }
            | StreamSpec::MapWithState { from, .. }
            | StreamSpec::StateSnapshots { from }
            | StreamSpec::JoinTable { from, .. }
            | StreamSpec::CountByValue { from, .. } => vec![from.as_str()],
            StreamSpec::Union { from } | StreamSpec::Join { from, .. } | StreamSpec::Cogroup { from, .. } => {
                from.iter().map(String::as_str).collect()
            }
        }
    }

    /// The name of this stream's first input: every input of a stream produces batches at the same times.
    pub fn from(&self) -> &str {
        self.inputs().first().copied().unwrap_or_default()
    }

    /// How many inputs this kind of stream takes: `(at least, at most)`.
    pub fn arity(&self) -> (usize, usize) {
        match self {
            StreamSpec::Union { .. } | StreamSpec::Cogroup { .. } => (2, 16),
            StreamSpec::Join { .. } => (2, 2),
            _ => (1, 1),
        }
    }

    /// The plugin this stream runs, if any, with its parameters.
    ///
    /// ```
    /// use weir::graph::spec::StreamSpec;
    /// let s = StreamSpec::Tokenize { from: "lines".into() };
    /// assert!(s.plugin().is_none());
    /// ```
    pub fn plugin(&self) -> Option<(&PathBuf, &BTreeMap<String, String>)> {
        match self {
            StreamSpec::Wasm { plugin, params, .. } => Some((plugin, params)),
            StreamSpec::ReduceByKey { plugin: Some(plugin), params, .. }
            | StreamSpec::UpdateStateByKey { plugin: Some(plugin), params, .. }
            | StreamSpec::MapWithState { plugin: Some(plugin), params, .. } => Some((plugin, params)),
            _ => None,
        }
    }

    /// The plugin path field, to resolve against the spec's folder.
    pub fn plugin_mut(&mut self) -> Option<&mut PathBuf> {
        match self {
            StreamSpec::Wasm { plugin, .. } => Some(plugin),
            StreamSpec::ReduceByKey { plugin, .. }
            | StreamSpec::UpdateStateByKey { plugin, .. }
            | StreamSpec::MapWithState { plugin, .. } => plugin.as_mut(),
            _ => None,
        }
    }

    /// The world and kinds a plugin of this stream must have.
    ///
    /// ```
    /// use weir::graph::spec::StreamSpec;
    /// let s = StreamSpec::Wasm { from: "a".into(), plugin: "x.wasm".into(), params: Default::default(), model: None };
    /// assert_eq!(s.plugin_world().0, "transform");
    /// ```
    pub fn plugin_world(&self) -> (&'static str, &'static [&'static str]) {
        match self {
            StreamSpec::ReduceByKey { inverse: true, .. } => ("reducer", &["reduce-invertible"]),
            StreamSpec::ReduceByKey { .. } => ("reducer", &["reduce", "reduce-invertible"]),
            StreamSpec::UpdateStateByKey { .. } => ("state-updater", &["update-state"]),
            StreamSpec::MapWithState { .. } => ("state-updater", &["map-with-state"]),
            _ => ("transform", &["map", "flat-map", "filter", "filter-map", "batch"]),
        }
    }

    /// This stream's window, if any.
    pub fn window(&self) -> Option<WindowSpec> {
        match self {
            StreamSpec::ReduceByKey { window, .. }
            | StreamSpec::Count { window, .. }
            | StreamSpec::Reduce { window, .. }
            | StreamSpec::GroupByKey { window, .. }
            | StreamSpec::Join { window, .. }
            | StreamSpec::Cogroup { window, .. }
            | StreamSpec::CountByValue { window, .. } => *window,
            StreamSpec::Window { window, .. } => Some(*window),
            _ => None,
        }
    }
}
