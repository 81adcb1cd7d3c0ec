//! The job's pace: how many records a second its sources may take in all, set from how fast a sink
//! that has fallen behind writes (Spark's backpressure). The bounded queues between the stages already
//! keep memory bounded when a sink is slow, but they let a burst as large as the queues through and
//! then stop the sources dead; the pace instead slows the sources to what the sink manages, so records
//! wait at the source, not in batches, and the input rate follows the sink's.
//!
//! Each sink thread reports every batch it writes, how fast it wrote it, and how many records wait
//! behind it. A sink with records waiting lags: its limit becomes three quarters of what it just wrote
//! at (half, when more than a second's worth wait), so the backlog drains. A sink with nothing waiting keeps up: its
//! limit rises to what it just wrote at when that is more (a sink that got faster, a server back from a
//! restart). A limit is never dropped on a guess: a queue that empties may only mean that the backlog
//! still sits before the sink. The pace is the lowest limit of any sink; none means no limit.
//!
//! A write rate is a poor measure of what a sink can do when its batches are small (a transaction's
//! fixed cost dominates), so the pace can hold sources below what the sink could take: it is on only
//! with `[job] backpressure = true`, as Spark's is.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Mutex;
use std::time::Duration;

/// The sources' pace, from the sinks' progress.
#[derive(Debug, Default)]
pub struct Pace {
    /// False: the pace never limits anything (`[job] backpressure` is off).
    on: bool,
    /// The limit of each sink that has lagged, in records a second.
    limits: Mutex<HashMap<String, f64>>,
}

impl Pace {
    /// A pace that follows the sinks when `on`, and never limits otherwise.
    pub fn new(on: bool) -> Pace {
        Pace { on, ..Default::default() }
    }

    /// Records a second the sources may take in all (`None`: no limit).
    pub fn rate(&self) -> Option<NonZeroU64> {
        // Asked before every chunk of every source: off, it costs no lock.
        if !self.on {
            return None;
        }
        let limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        let lowest = limits.values().copied().fold(f64::INFINITY, f64::min);
        lowest.is_finite().then(|| NonZeroU64::new(lowest.max(1.0) as u64).expect("at least 1"))
    }

    /// Sink `sink` wrote `records` in `took`, with `waiting` records queued behind them.
    ///
    /// ```
    /// use std::time::Duration;
    /// let off = weir::pace::Pace::default();
    /// off.sink_wrote("db", 10_000, Duration::from_secs(1), 20_000);
    /// assert_eq!(off.rate(), None);
    /// let pace = weir::pace::Pace::new(true);
    /// assert_eq!(pace.rate(), None);
    /// // 10,000 records in 1 s with 20,000 waiting: held to half of 10,000 a second.
    /// pace.sink_wrote("db", 10_000, Duration::from_secs(1), 20_000);
    /// assert_eq!(pace.rate().unwrap().get(), 5_000);
    /// // Less than a second's worth waiting: three quarters.
    /// pace.sink_wrote("db", 10_000, Duration::from_secs(1), 3_000);
    /// assert_eq!(pace.rate().unwrap().get(), 7_500);
    /// // Keeping up: raised to what it wrote at when that is more, else unchanged.
    /// pace.sink_wrote("db", 1_000, Duration::from_millis(100), 0);
    /// assert_eq!(pace.rate().unwrap().get(), 10_000);
    /// pace.sink_wrote("db", 100, Duration::from_millis(100), 0);
    /// assert_eq!(pace.rate().unwrap().get(), 10_000);
    /// // A sink that never lagged sets no limit.
    /// pace.sink_wrote("files", 10, Duration::from_secs(1), 0);
    /// assert_eq!(pace.rate().unwrap().get(), 10_000);
    /// ```
    pub fn sink_wrote(&self, sink: &str, records: u64, took: Duration, waiting: u64) {
        if !self.on || records == 0 {
            return;
        }
        let wrote_at = records as f64 / took.as_secs_f64().max(1e-3);
        let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        if waiting > 0 {
            let share = if waiting as f64 > wrote_at { 0.5 } else { 0.75 };
            limits.insert(sink.to_string(), wrote_at * share);
        } else if let Some(limit) = limits.get_mut(sink) {
            *limit = limit.max(wrote_at);
        }
    }
}
