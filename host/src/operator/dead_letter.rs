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

use crate::graph::spec::OnError;
use crate::sink::render;

/// Where refused records go.
pub struct DeadLetters {
    job: String,
    file: Option<Mutex<BufWriter<File>>>,
    count: AtomicU64,
    policy: Policy,
    tally: Mutex<BTreeMap<String, Tally>>,
    failure: Mutex<Option<String>>,
}

/// What the job does with refused records: per stream (`on_error`), and in all (`max`).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Each stream's `on_error`; streams not named dead-letter.
    pub on_error: BTreeMap<String, OnError>,
    /// The job fails once more records than this were refused.
    pub max: Option<u64>,
}

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
        Ok(DeadLetters { job: job.to_string(), file, count: AtomicU64::new(0), policy, tally, failure })
    }

    /// These dead letters, following `policy`.
    ///
    /// ```
    /// use weir::operator::dead_letter::{DeadLetters, Policy};
    /// use weir::graph::spec::OnError;
    /// let policy = Policy { on_error: [("strict".to_string(), OnError::Fail), ("lax".into(), OnError::Skip)].into(), max: Some(2) };
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
        true
    }

    fn write(&self, entry: serde_json::Value) {
        self.count.fetch_add(1, Ordering::Relaxed);
        match &self.file {
            Some(f) => {
                let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
                if let Err(e) = writeln!(f, "{entry}") {
                    tracing::error!("cannot write dead letter {entry}: {e}");
                }
            }
            None => tracing::warn!(target: "weir::dead_letter", "{entry}"),
        }
    }

    /// A record refused by `operator` in batch `time`.
    pub fn record(&self, operator: &str, time: u64, record: &RecordRef<'_>, reason: &str) {
        if !self.admit(operator, reason) {
            return;
        }
        self.write(json!({"job": self.job, "operator": operator, "batch_time": time, "reason": reason, "record": render::json(record)}));
    }

    /// Raw input a source could not read as records.
    pub fn raw(&self, source: &str, input: &str, reason: &str) {
        if !self.admit(source, reason) {
            return;
        }
        self.write(json!({"job": self.job, "operator": source, "reason": reason, "input": input}));
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
