//! Typed job events: the one way news leaves a running job. The batcher, the checkpoint coordinator
//! and the job itself emit them; the CLI, and the gRPC Watch stream, metrics and the UI after it,
//! subscribe. A subscriber that falls behind loses the oldest events (the channel keeps the last
//! [`CAPACITY`]) and never slows the job down.

use std::collections::BTreeMap;

use tokio::sync::broadcast;

/// Events kept for a subscriber that has not read them yet.
pub const CAPACITY: usize = 1024;

/// A plugin stream's calls since the previous batch completed, over every worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PluginFigures {
    /// Calls into the plugin (each batch, `init`, `describe`).
    pub calls: u64,
    /// Microseconds spent in them.
    pub busy_us: u64,
    /// Calls that trapped (a panic, a bad memory access, malformed output).
    pub traps: u64,
    /// Calls stopped at the deadline.
    pub deadline_hits: u64,
    /// Calls stopped at the memory cap.
    pub memory_cap_hits: u64,
    /// The most linear memory any of its instances has held since the job started, bytes.
    pub memory_peak: u64,
}

/// One source's or stream's records in one batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamFigures {
    /// Records it read (its inputs' output; for a source, what it received).
    pub records_in: u64,
    /// Records it produced.
    pub records_out: u64,
    /// Microseconds from its first input record's arrival to its last output's departure, on any
    /// worker (0 for a source): where a batch's processing time goes.
    pub busy_us: u64,
    /// For a plugin stream, its plugin's calls.
    pub plugin: Option<PluginFigures>,
}

/// What happened in a job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// The job runs: plugins loaded, sinks open, the first batch is `first_time`; `resumed_from` is
    /// the checkpoint it resumed from.
    Started {
        /// The first batch's time.
        first_time: u64,
        /// The batch of the checkpoint resumed from, if any.
        resumed_from: Option<u64>,
    },
    /// Batch `time` was cut and handed to the workers.
    BatchCut {
        /// Batch time (milliseconds).
        time: u64,
        /// Records in the batch, by source name (over the batch interval: each source's rate).
        records: BTreeMap<String, u64>,
        /// Chunks received and waiting for the batcher when the batch was cut: at the channel's bound
        /// (64) the sources wait and read no further, so a slow job slows its sources down.
        queued: u64,
        /// Records waiting for each source that can tell, past what it has read (a Kafka consumer's
        /// lag behind its partitions' ends), as last told.
        lag: BTreeMap<String, u64>,
    },
    /// Sink `sink` wrote batch `time` (or found it written before).
    BatchWritten {
        /// The sink.
        sink: String,
        /// Batch time (milliseconds).
        time: u64,
        /// Records handed to the sink (those it refused left out).
        records: u64,
        /// How long the write took, retries included.
        write_ms: u64,
        /// Batches waiting for this sink after this one: at the bound (2) the job waits for the sink,
        /// which is how a slow sink pushes back on the sources.
        queued: u64,
    },
    /// Every stream has processed batch `time` and handed it to the sinks.
    BatchCompleted {
        /// Batch time (milliseconds).
        time: u64,
        /// Realtime clock: how long after its time the batch was closed and its processing could begin
        /// (Spark's scheduling delay); `None` under the manual clock, whose batch times are not wall times.
        scheduling_delay_ms: Option<u64>,
        /// From the batch's close to its completion.
        processing_ms: u64,
        /// Records into and out of each source and stream in the batch (a stream fused into the next
        /// one, a `map_to_pair` before an aggregation, is not listed: its records count as the next
        /// one's input).
        streams: BTreeMap<String, StreamFigures>,
        /// The job's watermark after the batch (event-time ms), once an event-time stream has seen a
        /// record.
        watermark: Option<i64>,
    },
    /// A plugin call failed (trap, deadline, memory cap, malformed output): the batch counts as failed
    /// and the records the failure is blamed on went to the dead letters.
    PluginFailed {
        /// The stream whose plugin failed.
        stream: String,
        /// The batch.
        batch_time: u64,
        /// Why, as the dead letters say it.
        reason: String,
    },
    /// A record or input line went to the dead letters.
    DeadLetter {
        /// The stream or source that refused it.
        operator: String,
        /// The batch, for a record (a source's refused line has none).
        batch_time: Option<u64>,
        /// Why.
        reason: String,
    },
    /// A stream's plugin was swapped: batch `from_batch` and every later one run the new version.
    PluginSwapped {
        /// The stream.
        stream: String,
        /// The first batch the new version runs.
        from_batch: u64,
        /// The new version, as the plugin describes itself.
        version: String,
        /// SHA-256 of the new component.
        hash: String,
    },
    /// A checkpoint of batch `time` was committed.
    CheckpointCommitted {
        /// The last batch whose effects it holds.
        time: u64,
        /// Where each source resumes, as the manifest records it (JSON).
        offsets: serde_json::Value,
        /// From the batch's cut to the commit: its processing, its state parts and sink writes.
        duration_ms: u64,
        /// Bytes of state parts it holds.
        bytes: u64,
    },
    /// The job was asked to stop: `"drain"`, `"boundary"` or `"cancel"`.
    Stopping {
        /// How.
        how: &'static str,
    },
    /// The job ended on its own or as asked.
    Finished {
        /// Batches cut.
        batches: u64,
        /// Batches a plugin failed.
        failed_batches: u64,
        /// Records sent to the dead letters.
        dead_letters: u64,
    },
    /// A `screen` sink ranked its stream's keys after batch `time` (the UI's big screen).
    ScreenUpdated {
        /// The sink.
        sink: String,
        /// The stream it shows.
        stream: String,
        /// The batch.
        time: u64,
        /// The top keys and their values, largest first (ties by key).
        rows: Vec<(String, f64)>,
    },
    /// The job failed.
    Failed {
        /// Why.
        error: String,
        /// True when the spec or its inputs are at fault (running it again unchanged fails again);
        /// false when a retry may succeed (a server down, a full disk).
        users_fault: bool,
    },
}

/// Where a job's events go; clones send to the same subscribers.
#[derive(Debug, Clone)]
pub struct Events {
    tx: broadcast::Sender<JobEvent>,
}

impl Default for Events {
    fn default() -> Self {
        Events { tx: broadcast::channel(CAPACITY).0 }
    }
}

impl Events {
    /// Sends `event` to every subscriber (to none when there are none).
    ///
    /// ```
    /// use weir::event::{Events, JobEvent};
    /// let events = Events::default();
    /// let mut seen = events.subscribe();
    /// events.emit(JobEvent::Stopping { how: "drain" });
    /// assert_eq!(seen.try_recv().unwrap(), JobEvent::Stopping { how: "drain" });
    /// ```
    pub fn emit(&self, event: JobEvent) {
        let _ = self.tx.send(event);
    }

    /// A receiver of every event emitted from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.tx.subscribe()
    }

    /// Calls `f` with every event from now on, on `io`, until the events end. A follower that falls
    /// behind skips what the channel dropped.
    pub fn follow(&self, io: &tokio::runtime::Handle, mut f: impl FnMut(&JobEvent) + Send + 'static) {
        let mut seen = self.subscribe();
        io.spawn(async move {
            loop {
                match seen.recv().await {
                    Ok(event) => f(&event),
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }
}
