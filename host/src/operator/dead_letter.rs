//! The dead-letter output: records an operator or source refused, with the reason, so bad input never
//! silently disappears. Written to the job's `[dead_letter] path` as JSON lines, else to the log.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;
use weir_sdk::packed::RecordRef;

use crate::event::{Events, JobEvent};
use crate::graph::spec::OnError;
use crate::render;

/// Where refused records go.
pub struct DeadLetters {
    job: String,
    file: Option<Mutex<BufWriter<File>>>,
    count: AtomicU64,
    /// Records the sources produced and lines they refused: what `max_fraction` is a fraction of.
    inputs: AtomicU64,
    policy: Policy,
    tally: Mutex<BTreeMap<String, Tally>>,
    failure: Mutex<Option<String>>,
    events: Events,
}

/// What the job does with refused records: per stream (`on_error`), and in all (`max`).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Each stream's `on_error`; streams not named dead-letter.
    pub on_error: BTreeMap<String, OnError>,
    /// The job fails once more records than this were refused.
    pub max: Option<u64>,
    /// The job fails once more than this fraction of its input was refused, counted from the
    /// [`FRACTION_FROM`]th input on (before, one bad record would be a large fraction).
    pub max_fraction: Option<f64>,
}

/// Inputs read before `max_fraction` applies.
pub const FRACTION_FROM: u64 = 100;

/// The records one stream or source refused, for the end-of-run summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Records sent to the dead letters.
    pub dead_lettered: u64,
    /// Records skipped (`on_error = "skip"`).
    pub skipped: u64,
    /// The first reason given.
    pub first_reason: String,
}

impl DeadLetters {
    /// Dead letters for `job`, appended to `path` if given.
    pub fn open(job: &str, path: Option<&Path>) -> std::io::Result<DeadLetters> {
        let file = match path {
            Some(p) => Some(Mutex::new(BufWriter::new(File::options().create(true).append(true).open(p)?))),
            None => None,
        };
        let (policy, tally, failure) = (Policy::default(), Mutex::default(), Mutex::default());
        let (count, inputs) = (AtomicU64::new(0), AtomicU64::new(0));
        Ok(DeadLetters { job: job.to_string(), file, count, inputs, policy, tally, failure, events: Events::default() })
    }

    /// These dead letters, following `policy`.
    ///
    /// ```
    /// use weir::operator::dead_letter::{DeadLetters, Policy};
    /// use weir::graph::spec::OnError;
    /// let on_error = [("strict".to_string(), OnError::Fail), ("lax".into(), OnError::Skip)].into();
    /// let policy = Policy { on_error, max: Some(2), max_fraction: None };
    /// let dead = DeadLetters::open("job", None).unwrap().with_policy(policy);
    /// let r = weir_sdk::packed::RecordRef { key: None, value: weir_sdk::packed::ValueRef::I64(1), time: 0 };
    /// dead.record("lax", 1000, &r, "odd");
    /// assert_eq!((dead.count(), dead.failure()), (0, None));
    /// dead.record("strict", 1000, &r, "bad");
    /// assert!(dead.failure().unwrap().contains("stream `strict` refused a record (on_error = \"fail\"): bad"));
    /// assert_eq!(dead.tally()["lax"].skipped, 1);
    /// ```
    pub fn with_policy(self, policy: Policy) -> DeadLetters {
        DeadLetters { policy, ..self }
    }

    /// These dead letters, each also told on `events`.
    pub fn with_events(self, events: Events) -> DeadLetters {
        DeadLetters { events, ..self }
    }

    /// Why the job must fail because of what was refused, if it must.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What each stream and source refused.
    pub fn tally(&self) -> BTreeMap<String, Tally> {
        self.tally.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Applies `operator`'s policy to one refused record; true when it is to be written.
    fn admit(&self, operator: &str, reason: &str) -> bool {
        let on_error = self.policy.on_error.get(operator).copied().unwrap_or_default();
        let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        let t = tally.entry(operator.to_string()).or_default();
        if t.first_reason.is_empty() {
            t.first_reason = reason.to_string();
        }
        let fail = |why: String| {
            self.failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(why);
        };
        match on_error {
            OnError::Skip => {
                t.skipped += 1;
                return false;
            }
            OnError::Fail => fail(format!("stream `{operator}` refused a record (on_error = \"fail\"): {reason}")),
            OnError::DeadLetter => {}
        }
        t.dead_lettered += 1;
        let total = self.count.load(Ordering::Relaxed) + 1;
        if let Some(max) = self.policy.max.filter(|m| total > *m) {
            fail(format!(
                "{total} records went to the dead letters, more than `[dead_letter] max` ({max}); the last: {reason}"
            ));
        }
        let inputs = self.inputs.load(Ordering::Relaxed);
        let over = |f: &f64| inputs >= FRACTION_FROM && total as f64 > f * inputs as f64;
        if let Some(f) = self.policy.max_fraction.filter(over) {
            fail(format!(
                "{total} of {inputs} inputs went to the dead letters, more than `[dead_letter] max_fraction` ({f}); \
                 the last: {reason}"
            ));
        }
        true
    }

    /// Counts `n` inputs the sources produced (records, or lines refused), for `max_fraction`.
    ///
    /// ```
    /// use weir::operator::dead_letter::{DeadLetters, Policy};
    /// let policy = Policy { max_fraction: Some(0.1), ..Policy::default() };
    /// let dead = DeadLetters::open("job", None).unwrap().with_policy(policy);
    /// let r = weir_sdk::packed::RecordRef { key: None, value: weir_sdk::packed::ValueRef::I64(1), time: 0 };
    /// dead.inputs(50);
    /// (0..10).for_each(|_| dead.record("s", 1000, &r, "bad"));
    /// assert_eq!(dead.failure(), None, "under 100 inputs the fraction does not apply");
    /// dead.inputs(50);
    /// dead.record("s", 2000, &r, "bad");
    /// assert!(dead.failure().unwrap().contains("11 of 100 inputs"), "{:?}", dead.failure());
    /// ```
    pub fn inputs(&self, n: u64) {
        self.inputs.fetch_add(n, Ordering::Relaxed);
    }

    fn write(&self, entry: serde_json::Value) {
        self.count.fetch_add(1, Ordering::Relaxed);
        match &self.file {
            Some(f) => {
                let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
                // Handed to the OS at once: a process killed later (kill -9) must not lose dead letters
                // of batches a checkpoint has since committed, which are not run again.
                if let Err(e) = writeln!(f, "{entry}").and_then(|()| f.flush()) {
                    tracing::error!("cannot write dead letter {entry}: {e}");
                }
            }
            None => tracing::warn!(target: "weir::dead_letter", "{entry}"),
        }
    }

    /// The reason given for an unkeyed record that `what` (e.g. "reduce_by_key") needs keyed.
    ///
    /// ```
    /// let reason = weir::operator::dead_letter::DeadLetters::unkeyed("reduce_by_key");
    /// assert!(reason.starts_with("reduce_by_key needs keyed records") && reason.contains(r#"{"key""#));
    /// ```
    pub fn unkeyed(what: &str) -> String {
        format!(
            "{what} needs keyed records and this one has no key: key them with a `map_to_pair` stream; keyed JSON \
             input is {{\"key\": .., \"value\": ..}} (a JSON array [key, value] is one unkeyed value)"
        )
    }

    /// A record refused by `operator` in batch `time`.
    pub fn record(&self, operator: &str, time: u64, record: &RecordRef<'_>, reason: &str) {
        if !self.admit(operator, reason) {
            return;
        }
        self.write(json!({"job": self.job, "operator": operator, "batch_time": time, "reason": reason, "record": render::json(record)}));
        let (operator, reason) = (operator.to_string(), reason.to_string());
        self.events.emit(JobEvent::DeadLetter { operator, batch_time: Some(time), reason });
    }

    /// Raw input a source could not read as records.
    pub fn raw(&self, source: &str, input: &str, reason: &str) {
        self.inputs(1);
        if !self.admit(source, reason) {
            return;
        }
        self.write(json!({"job": self.job, "operator": source, "reason": reason, "input": input}));
        let (operator, reason) = (source.to_string(), reason.to_string());
        self.events.emit(JobEvent::DeadLetter { operator, batch_time: None, reason });
    }

    /// How many dead letters were written.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Flushes the file, if any.
    pub fn flush(&self) {
        if let Some(f) = &self.file {
            let _ = f.lock().unwrap_or_else(|e| e.into_inner()).flush();
        }
    }
}
