//! A sink's own thread: worker 0 hands it each complete batch and goes back to work, so putting the
//! batch in canonical order, rendering and writing it do not hold up the next batch's dataflow.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use weir_sdk::packed::Batch;

use super::{OnRefused, Sink};
use crate::batcher::Shared;
use crate::checkpoint::Checkpointer;
use crate::event::{Events, JobEvent};
use crate::pace::Pace;
use crate::render;

/// Where a sink thread reports: the checkpoints it completes batches for, the dead letters for records
/// it refuses, the job's events (each batch written) and the job's pace (how fast it writes when it
/// lags).
#[derive(Clone)]
pub struct Reports {
    /// The job's checkpoints, if it keeps them.
    pub checkpoint: Option<Arc<Checkpointer>>,
    /// Where refused records go.
    pub refused: OnRefused,
    /// The job's events.
    pub events: Events,
    /// The job's pace.
    pub pace: Arc<Pace>,
}

/// Batches queued ahead of the writer before worker 0 waits (bounded, so a slow sink pushes back).
const QUEUE: usize = 2;

/// The sending side of a sink thread. Dropping it lets the thread finish the queued batches and waits
/// for it, so every batch is written before the job's workers end.
pub struct SinkWriter {
    tx: Option<flume::Sender<(u64, Batch)>>,
    /// Records queued for the thread and not yet taken: the job's pace follows this sink while some wait.
    backlog: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl SinkWriter {
    /// Starts the thread that writes to `sink`, each batch in `order`. A batch the sink cannot write fails the job through
    /// `shared`; later batches are not written, so the output never has a gap. Records the sink
    /// [refuses](Sink::refuses) go to `reports.refused` and the rest of their batch is written.
    ///
    /// ```
    /// // Exercised by every golden test through `weir::job::run`.
    /// assert_eq!(weir::render::canonical_order(&weir_sdk::packed::Batch::new()), Vec::<usize>::new());
    /// ```
    pub fn start(
        name: &str,
        mut sink: Box<dyn Sink>,
        order: render::Order,
        shared: Arc<Shared>,
        reports: Reports,
    ) -> std::io::Result<SinkWriter> {
        let (tx, rx) = flume::bounded::<(u64, Batch)>(QUEUE);
        let Reports { checkpoint, refused, events, pace } = reports;
        let backlog = Arc::new(AtomicU64::new(0));
        let waiting = backlog.clone();
        let sink_name = name.to_string();
        // The job's span, so the sink's log lines name the job too.
        let span = tracing::Span::current();
        let thread = std::thread::Builder::new().name(format!("weir-sink-{name}")).spawn(move || {
            let _entered = span.entered();
            let mut failed = false;
            for (t, batch) in rx.iter() {
                waiting.fetch_sub(batch.len() as u64, Ordering::SeqCst);
                if failed {
                    tracing::error!(sink = %sink_name, batch_time = t, "not written: an earlier batch failed");
                    continue;
                }
                let mut written = order.of(&batch);
                written.retain(|&i| match sink.refuses(&batch.get(i)) {
                    Some(reason) => {
                        refused(&sink_name, t, &batch.get(i), &reason);
                        false
                    }
                    None => true,
                });
                let started = Instant::now();
                match sink.write_batch(t, &batch, &written) {
                    Ok(()) => {
                        let (records, took, queued) = (written.len() as u64, started.elapsed(), rx.len() as u64);
                        pace.sink_wrote(&sink_name, records, took, waiting.load(Ordering::SeqCst));
                        let write_ms = took.as_millis() as u64;
                        events.emit(JobEvent::BatchWritten {
                            sink: sink_name.clone(),
                            time: t,
                            records,
                            write_ms,
                            queued,
                        });
                        if let Some(ck) = &checkpoint {
                            ck.sink_done(&sink_name, t);
                        }
                    }
                    Err(e) => {
                        shared.fail(format!("batch {t}: {e}"));
                        failed = true;
                    }
                }
            }
            // Every batch is written: the final checkpoint may count this sink in.
            if let (false, Some(ck)) = (failed, &checkpoint) {
                ck.sink_finished(&sink_name);
            }
        })?;
        Ok(SinkWriter { tx: Some(tx), backlog, thread: Some(thread) })
    }

    /// Queues batch `time` for writing.
    pub fn write(&self, time: u64, batch: Batch) {
        self.backlog.fetch_add(batch.len() as u64, Ordering::SeqCst);
        if let Some(tx) = &self.tx
            && tx.send((time, batch)).is_err()
        {
            tracing::error!(batch_time = time, "sink thread has stopped; batch not written");
        }
    }
}

impl Drop for SinkWriter {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("a sink thread panicked");
        }
    }
}
