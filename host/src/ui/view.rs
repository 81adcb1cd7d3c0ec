//! One job as the web UI shows it, folded from its events: recent batches with their delays and
//! per-stream figures, receivers, sinks, plugins, checkpoints, dead letters, a log and the big screens.
//! Every history is bounded, so a job that runs for months keeps a view of the same size.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::event::JobEvent;

/// Batches kept for the charts and the batch table (Spark's `spark.streaming.ui.retainedBatches`).
pub const BATCHES: usize = 1000;
/// Checkpoints, dead letters and log lines kept.
pub const RECENT: usize = 50;
/// Batches cut and not yet completed that are remembered (more in flight than this is a stuck job).
const IN_FLIGHT: usize = 64;

/// One completed batch.
#[derive(Debug, Clone, Serialize)]
pub struct BatchRow {
    /// Batch time, ms.
    pub time: u64,
    /// Records the sources put into it.
    pub records: u64,
    /// Records per second of batch interval (Spark's input rate).
    pub rate: f64,
    /// Wait before it ran (realtime clock only).
    pub scheduling_delay_ms: Option<u64>,
    /// Time it took to run.
    pub processing_ms: u64,
    /// Scheduling delay plus processing time.
    pub total_delay_ms: Option<u64>,
    /// Per stream: records in, out, and milliseconds of work.
    pub streams: BTreeMap<String, (u64, u64, f64)>,
    /// The job's watermark after it (event-time ms), when the job follows event time.
    pub watermark: Option<i64>,
}

/// A source's receiver.
#[derive(Debug, Default, Clone, Serialize)]
struct Receiver {
    last_batch: u64,
    last_records: u64,
    total: u64,
    lag: Option<u64>,
}

/// A sink's writer.
#[derive(Debug, Default, Clone, Serialize)]
struct SinkRow {
    last_batch: u64,
    batches: u64,
    records: u64,
    last_write_ms: u64,
    queued: u64,
}

/// A plugin stream.
#[derive(Debug, Default, Clone, Serialize)]
struct PluginRow {
    version: String,
    hash: String,
    swapped_at: Option<u64>,
    failures: u64,
    last_failure: String,
    calls: u64,
    busy_ms: f64,
    traps: u64,
    deadline_hits: u64,
    memory_cap_hits: u64,
    memory_peak: u64,
}

/// A big screen: the top keys of a `screen` sink's stream after its latest batch.
#[derive(Debug, Clone, Serialize)]
pub struct Board {
    /// The sink that keeps it.
    pub sink: String,
    /// Batch time of the latest update (0 before the first).
    pub time: u64,
    /// Key and value, largest first.
    pub rows: Vec<(String, f64)>,
}

/// A job's view.
#[derive(Debug)]
pub struct JobView {
    interval: u64,
    state: &'static str,
    batches: VecDeque<BatchRow>,
    cut: VecDeque<(u64, u64)>,
    receivers: BTreeMap<String, Receiver>,
    sinks: BTreeMap<String, SinkRow>,
    plugins: BTreeMap<String, PluginRow>,
    checkpoints: VecDeque<Json>,
    dead_letters: VecDeque<Json>,
    dead_total: u64,
    log: VecDeque<String>,
    /// Big screens by stream.
    pub boards: BTreeMap<String, Board>,
}

impl JobView {
    /// An empty view of a job cutting a batch every `interval` ms, with its plugin streams and its
    /// screens (stream → sink) known from the start.
    pub fn new(interval: u64, plugins: &[String], screens: &[(String, String)]) -> JobView {
        let boards = screens
            .iter()
            .map(|(stream, sink)| (stream.clone(), Board { sink: sink.clone(), time: 0, rows: vec![] }))
            .collect();
        JobView {
            interval: interval.max(1),
            state: "starting",
            batches: VecDeque::new(),
            cut: VecDeque::new(),
            receivers: BTreeMap::new(),
            sinks: BTreeMap::new(),
            plugins: plugins.iter().map(|p| (p.clone(), PluginRow::default())).collect(),
            checkpoints: VecDeque::new(),
            dead_letters: VecDeque::new(),
            dead_total: 0,
            log: VecDeque::new(),
            boards,
        }
    }

    /// Folds `event` in; returns what a live page must be told, as (SSE event name, JSON), if anything:
    /// a completed batch with the panels, a change of state, a big screen's new board.
    ///
    /// ```
    /// use weir::event::JobEvent;
    /// let mut v = weir::ui::view::JobView::new(1000, &[], &[]);
    /// v.observe(&JobEvent::BatchCut { time: 1000, records: [("in".into(), 5)].into(), queued: 0, lag: Default::default() });
    /// let done = JobEvent::BatchCompleted { time: 1000, scheduling_delay_ms: Some(2), processing_ms: 3, streams: Default::default(), watermark: None };
    /// let (name, data) = v.observe(&done).unwrap();
    /// assert_eq!((name, data["batch"]["records"].as_u64()), ("batch", Some(5)));
    /// ```
    pub fn observe(&mut self, event: &JobEvent) -> Option<(&'static str, Json)> {
        match event {
            JobEvent::Started { first_time, resumed_from } => {
                self.state = "running";
                let from = resumed_from.map_or(String::new(), |t| format!(", resumed from checkpoint {t}"));
                self.say(format!("started at batch {first_time}{from}"));
                return Some(("state", self.state_json()));
            }
            JobEvent::BatchCut { time, records, lag, .. } => {
                for (source, n) in records {
                    let r = self.receivers.entry(source.clone()).or_default();
                    (r.last_batch, r.last_records, r.total) = (*time, *n, r.total + n);
                    r.lag = lag.get(source).copied();
                }
                push(&mut self.cut, (*time, records.values().sum()), IN_FLIGHT);
            }
            JobEvent::BatchCompleted { time, scheduling_delay_ms, processing_ms, streams, watermark } => {
                let records = self.cut.iter().find(|(t, _)| t == time).map_or(0, |(_, n)| *n);
                self.cut.retain(|(t, _)| t > time);
                let row = BatchRow {
                    time: *time,
                    records,
                    rate: records as f64 * 1000.0 / self.interval as f64,
                    scheduling_delay_ms: *scheduling_delay_ms,
                    processing_ms: *processing_ms,
                    total_delay_ms: scheduling_delay_ms.map(|d| d + processing_ms),
                    watermark: *watermark,
                    streams: streams
                        .iter()
                        .map(|(s, f)| (s.clone(), (f.records_in, f.records_out, f.busy_us as f64 / 1000.0)))
                        .collect(),
                };
                push(&mut self.batches, row.clone(), BATCHES);
                for (stream, f) in streams {
                    if let Some(p) = &f.plugin {
                        let r = self.plugins.entry(stream.clone()).or_default();
                        (r.calls, r.busy_ms, r.traps) =
                            (r.calls + p.calls, r.busy_ms + p.busy_us as f64 / 1e3, r.traps + p.traps);
                        (r.deadline_hits, r.memory_cap_hits) =
                            (r.deadline_hits + p.deadline_hits, r.memory_cap_hits + p.memory_cap_hits);
                        r.memory_peak = p.memory_peak;
                    }
                }
                return Some(("batch", json!({ "batch": row, "panels": self.panels() })));
            }
            JobEvent::BatchWritten { sink, time, records, write_ms, queued } => {
                let s = self.sinks.entry(sink.clone()).or_default();
                (s.last_batch, s.batches, s.records) = (*time, s.batches + 1, s.records + records);
                (s.last_write_ms, s.queued) = (*write_ms, *queued);
            }
            JobEvent::PluginFailed { stream, batch_time, reason } => {
                let p = self.plugins.entry(stream.clone()).or_default();
                (p.failures, p.last_failure) = (p.failures + 1, reason.clone());
                self.say(format!("batch {batch_time}: plugin of `{stream}` failed: {reason}"));
            }
            JobEvent::DeadLetter { operator, batch_time, reason } => {
                self.dead_total += 1;
                let letter = json!({ "operator": operator, "batch_time": batch_time, "reason": reason });
                push(&mut self.dead_letters, letter, RECENT);
            }
            JobEvent::PluginSwapped { stream, from_batch, version, hash } => {
                let p = self.plugins.entry(stream.clone()).or_default();
                (p.version, p.hash, p.swapped_at) = (version.clone(), hash.clone(), Some(*from_batch));
                self.say(format!("`{stream}` runs {version} from batch {from_batch}"));
            }
            JobEvent::CheckpointCommitted { time, offsets, duration_ms, bytes } => {
                let row = json!({ "time": time, "offsets": offsets, "duration_ms": duration_ms, "bytes": bytes });
                push(&mut self.checkpoints, row, RECENT);
            }
            JobEvent::Stopping { how } => {
                self.state = "stopping";
                self.say(format!("stopping ({how})"));
                return Some(("state", self.state_json()));
            }
            JobEvent::Finished { batches, failed_batches, dead_letters } => {
                self.state = "finished";
                self.say(format!("finished: {batches} batches, {failed_batches} failed, {dead_letters} dead letters"));
                return Some(("state", self.state_json()));
            }
            JobEvent::Failed { error, .. } => {
                self.state = "failed";
                self.say(format!("failed: {error}"));
                return Some(("state", self.state_json()));
            }
            JobEvent::ScreenUpdated { sink, stream, time, rows } => {
                let board = Board { sink: sink.clone(), time: *time, rows: rows.clone() };
                let data = json!({ "stream": stream, "board": board });
                self.boards.insert(stream.clone(), board);
                return Some(("screen", data));
            }
        }
        None
    }

    fn say(&mut self, line: String) {
        push(&mut self.log, line, RECENT);
    }

    fn state_json(&self) -> Json {
        json!({ "state": self.state, "log": self.log })
    }

    /// The small tables beside the batches, each bounded.
    fn panels(&self) -> Json {
        json!({
            "state": self.state,
            "receivers": self.receivers,
            "sinks": self.sinks,
            "plugins": self.plugins,
            "checkpoints": self.checkpoints,
            "dead_letters": self.dead_letters,
            "dead_total": self.dead_total,
            "log": self.log,
        })
    }

    /// Everything a page starts from.
    pub fn snapshot(&self) -> Json {
        json!({ "interval": self.interval, "batches": self.batches, "panels": self.panels(), "boards": self.boards })
    }

    /// One line for the job list: state, batches kept, the latest batch.
    pub fn summary(&self) -> Json {
        json!({ "state": self.state, "latest": self.batches.back(), "dead_letters": self.dead_total })
    }

    /// Batches held (at most [`BATCHES`]).
    pub fn batches_kept(&self) -> usize {
        self.batches.len()
    }
}

/// Appends `item`, dropping the oldest beyond `cap`.
fn push<T>(list: &mut VecDeque<T>, item: T, cap: usize) {
    if list.len() == cap {
        list.pop_front();
    }
    list.push_back(item);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_history_stays_bounded() {
        let mut v = JobView::new(10, &[], &[]);
        for t in 1..=5000u64 {
            v.observe(&JobEvent::BatchCut {
                time: t,
                records: [("in".into(), 1)].into(),
                queued: 0,
                lag: Default::default(),
            });
            let streams = Default::default();
            v.observe(&JobEvent::BatchCompleted {
                time: t,
                scheduling_delay_ms: None,
                processing_ms: 1,
                streams,
                watermark: None,
            });
            v.observe(&JobEvent::DeadLetter { operator: "s".into(), batch_time: Some(t), reason: "r".into() });
            v.observe(&JobEvent::CheckpointCommitted { time: t, offsets: Json::Null, duration_ms: 1, bytes: 9 });
            v.observe(&JobEvent::PluginFailed { stream: "p".into(), batch_time: t, reason: "trap".into() });
        }
        assert_eq!(v.batches_kept(), BATCHES);
        assert_eq!((v.checkpoints.len(), v.dead_letters.len(), v.log.len()), (RECENT, RECENT, RECENT));
        assert!(v.cut.is_empty());
        assert_eq!(v.batches.back().unwrap().time, 5000);
        assert_eq!(v.dead_total, 5000);
    }

    #[test]
    fn a_batch_row_has_its_cut_records_and_rate() {
        let mut v = JobView::new(500, &[], &[]);
        let records = [("a".into(), 3), ("b".into(), 7)].into();
        v.observe(&JobEvent::BatchCut { time: 500, records, queued: 0, lag: [("b".into(), 40)].into() });
        let done = JobEvent::BatchCompleted {
            time: 500,
            scheduling_delay_ms: Some(4),
            processing_ms: 6,
            streams: Default::default(),
            watermark: Some(120),
        };
        let (_, data) = v.observe(&done).unwrap();
        assert_eq!(data["batch"]["rate"], 20.0);
        assert_eq!(data["batch"]["total_delay_ms"], 10);
        assert_eq!(data["batch"]["watermark"], 120);
        assert_eq!(data["panels"]["receivers"]["b"]["total"], 7);
        assert_eq!(data["panels"]["receivers"]["b"]["lag"], 40);
    }
}
