//! Prometheus metrics of running jobs, folded from their typed events (`event.rs`): no second path out
//! of a job. Every metric is labelled with its job, and with the source, stream, sink or operator it
//! counts; times are in seconds. `weir run --http ADDR` and `weir serve --http ADDR` serve them at
//! `/metrics` (`ui/http.rs`), in the OpenMetrics text format.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::event::JobEvent;

/// A metric's labels: `job`, then what it counts.
type Labels = Vec<(&'static str, String)>;

/// A family of histograms of seconds, 1 ms to about 33 s.
type Seconds = Family<Labels, Histogram, fn() -> Histogram>;

fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Every job's metrics, and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    batches: Family<Labels, Counter>,
    source_records: Family<Labels, Counter>,
    scheduling_delay: Seconds,
    processing: Seconds,
    total_delay: Seconds,
    stream_in: Family<Labels, Counter>,
    stream_out: Family<Labels, Counter>,
    stream_busy: Family<Labels, Counter<f64, std::sync::atomic::AtomicU64>>,
    sink_records: Family<Labels, Counter>,
    sink_write: Seconds,
    dead_letters: Family<Labels, Counter>,
    plugin_failures: Family<Labels, Counter>,
    checkpoints: Family<Labels, Counter>,
    checkpoint_batch: Family<Labels, Gauge>,
    checkpoint_duration: Seconds,
    checkpoint_bytes: Family<Labels, Gauge>,
    plugin_calls: Family<Labels, Counter>,
    plugin_busy: Family<Labels, Counter<f64, std::sync::atomic::AtomicU64>>,
    plugin_failed_calls: Family<Labels, Counter>,
    plugin_memory_peak: Family<Labels, Gauge>,
    watermark: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    source_lag: Family<Labels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let hist = || Seconds::new_with_constructor(seconds as fn() -> Histogram);
        let m = Metrics {
            batches: Family::default(),
            source_records: Family::default(),
            scheduling_delay: hist(),
            processing: hist(),
            total_delay: hist(),
            stream_in: Family::default(),
            stream_out: Family::default(),
            stream_busy: Family::default(),
            sink_records: Family::default(),
            sink_write: hist(),
            dead_letters: Family::default(),
            plugin_failures: Family::default(),
            checkpoints: Family::default(),
            checkpoint_batch: Family::default(),
            checkpoint_duration: hist(),
            checkpoint_bytes: Family::default(),
            plugin_calls: Family::default(),
            plugin_busy: Family::default(),
            plugin_failed_calls: Family::default(),
            plugin_memory_peak: Family::default(),
            watermark: Family::default(),
            source_lag: Family::default(),
            // Filled below, once the families exist to register.
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register("weir_batches", "Batches completed", m.batches.clone());
        r.register("weir_source_records", "Records a source put into batches", m.source_records.clone());
        let s = Unit::Seconds;
        r.register_with_unit(
            "weir_batch_scheduling_delay",
            "Wait of a batch before it ran",
            s.clone(),
            m.scheduling_delay.clone(),
        );
        r.register_with_unit("weir_batch_processing", "Time a batch took to run", s.clone(), m.processing.clone());
        r.register_with_unit(
            "weir_batch_total_delay",
            "Scheduling delay plus processing time",
            s.clone(),
            m.total_delay.clone(),
        );
        r.register("weir_stream_records_in", "Records into a stream", m.stream_in.clone());
        r.register("weir_stream_records_out", "Records out of a stream", m.stream_out.clone());
        r.register_with_unit("weir_stream_busy", "Time a stream's operator worked", s.clone(), m.stream_busy.clone());
        r.register("weir_sink_records", "Records a sink wrote", m.sink_records.clone());
        r.register_with_unit("weir_sink_write", "Time a sink took to write a batch", s, m.sink_write.clone());
        r.register("weir_dead_letters", "Records sent to the dead letters", m.dead_letters.clone());
        r.register("weir_plugin_failures", "Batches a plugin failed", m.plugin_failures.clone());
        r.register("weir_checkpoints", "Checkpoints committed", m.checkpoints.clone());
        r.register(
            "weir_checkpoint_batch",
            "Batch time of the newest committed checkpoint, ms",
            m.checkpoint_batch.clone(),
        );
        r.register_with_unit(
            "weir_checkpoint_duration",
            "From a batch's cut to its checkpoint's commit",
            Unit::Seconds,
            m.checkpoint_duration.clone(),
        );
        r.register_with_unit(
            "weir_checkpoint_size",
            "State parts in the newest committed checkpoint",
            Unit::Bytes,
            m.checkpoint_bytes.clone(),
        );
        r.register(
            "weir_source_lag_records",
            "Records waiting for a source past what it has read (a Kafka consumer's lag)",
            m.source_lag.clone(),
        );
        r.register_with_unit(
            "weir_watermark",
            "The job's watermark: event time (Unix) before which no more records are awaited",
            Unit::Seconds,
            m.watermark.clone(),
        );
        r.register("weir_plugin_calls", "Calls into a stream's plugin", m.plugin_calls.clone());
        r.register_with_unit(
            "weir_plugin_busy",
            "Time spent in a stream's plugin",
            Unit::Seconds,
            m.plugin_busy.clone(),
        );
        r.register(
            "weir_plugin_failed_calls",
            "Plugin calls stopped by a trap, the deadline or the memory cap",
            m.plugin_failed_calls.clone(),
        );
        r.register_with_unit(
            "weir_plugin_memory_peak",
            "Most linear memory a plugin instance has held",
            Unit::Bytes,
            m.plugin_memory_peak.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Folds one event of job `job` in.
    ///
    /// ```
    /// use weir::event::JobEvent;
    /// let m = weir::metrics::Metrics::default();
    /// let records = [("in".to_string(), 3)].into();
    /// m.observe("j", &JobEvent::BatchCut { time: 1000, records, queued: 0, lag: Default::default() });
    /// assert!(m.encode().contains(r#"weir_source_records_total{job="j",source="in"} 3"#));
    /// ```
    pub fn observe(&self, job: &str, event: &JobEvent) {
        let on = |what: &'static str, name: &str| vec![("job", job.to_string()), (what, name.to_string())];
        let of_job = || vec![("job", job.to_string())];
        let secs = |ms: u64| ms as f64 / 1000.0;
        match event {
            JobEvent::BatchCut { records, lag, .. } => {
                for (source, n) in records {
                    self.source_records.get_or_create(&on("source", source)).inc_by(*n);
                }
                for (source, n) in lag {
                    self.source_lag.get_or_create(&on("source", source)).set(*n as i64);
                }
            }
            JobEvent::BatchCompleted { scheduling_delay_ms, processing_ms, streams, watermark, .. } => {
                self.batches.get_or_create(&of_job()).inc();
                if let Some(w) = watermark {
                    self.watermark.get_or_create(&of_job()).set(*w as f64 / 1000.0);
                }
                self.processing.get_or_create(&of_job()).observe(secs(*processing_ms));
                if let Some(d) = scheduling_delay_ms {
                    self.scheduling_delay.get_or_create(&of_job()).observe(secs(*d));
                    self.total_delay.get_or_create(&of_job()).observe(secs(d + processing_ms));
                }
                for (stream, f) in streams {
                    self.stream_in.get_or_create(&on("stream", stream)).inc_by(f.records_in);
                    self.stream_out.get_or_create(&on("stream", stream)).inc_by(f.records_out);
                    self.stream_busy.get_or_create(&on("stream", stream)).inc_by(f.busy_us as f64 / 1e6);
                    if let Some(p) = &f.plugin {
                        self.plugin(job, stream, p);
                    }
                }
            }
            JobEvent::BatchWritten { sink, records, write_ms, .. } => {
                self.sink_records.get_or_create(&on("sink", sink)).inc_by(*records);
                self.sink_write.get_or_create(&on("sink", sink)).observe(secs(*write_ms));
            }
            JobEvent::DeadLetter { operator, .. } => {
                self.dead_letters.get_or_create(&on("operator", operator)).inc();
            }
            JobEvent::PluginFailed { stream, .. } => {
                self.plugin_failures.get_or_create(&on("stream", stream)).inc();
            }
            JobEvent::CheckpointCommitted { time, duration_ms, bytes, .. } => {
                self.checkpoints.get_or_create(&of_job()).inc();
                self.checkpoint_batch.get_or_create(&of_job()).set(*time as i64);
                self.checkpoint_duration.get_or_create(&of_job()).observe(secs(*duration_ms));
                self.checkpoint_bytes.get_or_create(&of_job()).set(*bytes as i64);
            }
            _ => {}
        }
    }

    /// Folds one batch's figures of `stream`'s plugin in.
    fn plugin(&self, job: &str, stream: &str, p: &crate::event::PluginFigures) {
        let on = vec![("job", job.to_string()), ("stream", stream.to_string())];
        self.plugin_calls.get_or_create(&on).inc_by(p.calls);
        self.plugin_busy.get_or_create(&on).inc_by(p.busy_us as f64 / 1e6);
        self.plugin_memory_peak.get_or_create(&on).set(p.memory_peak as i64);
        for (cause, n) in [("trap", p.traps), ("deadline", p.deadline_hits), ("memory_cap", p.memory_cap_hits)] {
            let mut labels = on.clone();
            labels.push(("cause", cause.to_string()));
            // Every cause is listed from the first batch, at 0 until it happens.
            self.plugin_failed_calls.get_or_create(&labels).inc_by(n);
        }
    }

    /// Folds every event of job `job` on `events` in, from now until the job's events end, on `io`.
    pub fn follow(self: &std::sync::Arc<Self>, io: &tokio::runtime::Handle, job: &str, events: &crate::event::Events) {
        let (metrics, job) = (self.clone(), job.to_string());
        events.follow(io, move |event| metrics.observe(&job, event));
    }

    /// Every metric in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}
