//! One plugin instance on one worker: its store (with memory cap), its WASI context (no files, network,
//! environment or real clocks; stdout/stderr captured) and the per-batch call under an epoch deadline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use weir_sdk::packed::Batch;

use super::engine::{LoadedPlugin, TICK, Ticker};
use super::stdio::Capture;
use super::{BatchFailure, PluginError};

/// Host bindings of the `transform` world, generated from `wit/`.
pub mod bindings {
    wasmtime::component::bindgen!({ path: "../wit", world: "transform" });
}

use bindings::weir::operator::types as wit;
pub use bindings::{Transform, TransformImports, TransformPre};

/// Limits on one instance.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest one batch may take.
    pub deadline: Duration,
    /// Most linear memory, in bytes.
    pub memory: usize,
}

/// What a store holds for its plugin.
pub struct PluginState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    job: Arc<str>,
    operator: Arc<str>,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl wit::Host for PluginState {}

impl TransformImports for PluginState {
    fn log(&mut self, level: wit::LogLevel, message: String) {
        let (job, op) = (&*self.job, &*self.operator);
        match level {
            wit::LogLevel::Debug => tracing::debug!(job, operator = op, "{message}"),
            wit::LogLevel::Info => tracing::info!(job, operator = op, "{message}"),
            wit::LogLevel::Warn => tracing::warn!(job, operator = op, "{message}"),
            wit::LogLevel::Error => tracing::error!(job, operator = op, "{message}"),
        }
    }
}

/// A clock stopped at the epoch: plugins get no real time, which keeps them deterministic.
struct Frozen;

impl HostWallClock for Frozen {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for Frozen {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// What one batch produced.
pub struct Processed {
    /// Output records.
    pub records: Batch,
    /// Refused input records: index and reason.
    pub rejected: Vec<(u32, String)>,
}

/// A live instance.
pub struct PluginInstance {
    store: Store<PluginState>,
    bindings: Transform,
    stdout: Capture,
    stderr: Capture,
    limits: Limits,
    operator: Arc<str>,
    // Keeps the epoch moving while this instance lives, or its deadline could never fire.
    _ticker: Arc<Ticker>,
}

fn to_wit(b: Batch) -> wit::Batch {
    weir_sdk::move_columns!(b => wit::Batch)
}

fn from_wit(b: wit::Batch) -> Batch {
    weir_sdk::move_columns!(b => Batch)
}

impl PluginInstance {
    /// Instantiates `plugin` for operator `operator` of job `job`.
    pub fn new(
        plugin: &LoadedPlugin,
        limits: Limits,
        job: &str,
        operator: &str,
    ) -> Result<PluginInstance, PluginError> {
        let (stdout, stderr) = (Capture::default(), Capture::default());
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(Frozen)
            .monotonic_clock(Frozen)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = PluginState {
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory)
                .instances(4)
                .trap_on_grow_failure(true)
                .build(),
            job: job.into(),
            operator: operator.into(),
        };
        let mut store = Store::new(&plugin.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(Self::ticks(limits.deadline));
        let instantiate =
            |e: wasmtime::Error| PluginError::Instantiate { operator: operator.into(), message: format!("{e:#}") };
        let bindings = plugin.pre.instantiate(&mut store).map_err(instantiate)?;
        Ok(PluginInstance {
            store,
            bindings,
            stdout,
            stderr,
            limits,
            operator: operator.into(),
            _ticker: plugin.ticker.clone(),
        })
    }

    fn ticks(d: Duration) -> u64 {
        (d.as_millis() as u64).div_ceil(TICK.as_millis() as u64).max(1)
    }

    /// Logs what the plugin printed, tagged with job and operator.
    /// Returns the stderr text, which explains a trap better than the trap does.
    fn flush_stdio(&self) -> String {
        let (job, op) = (&*self.store.data().job, &*self.operator);
        for line in self.stdout.drain().lines() {
            tracing::info!(job, operator = op, stream = "stdout", "{line}");
        }
        let stderr = self.stderr.drain();
        for line in stderr.lines() {
            tracing::warn!(job, operator = op, stream = "stderr", "{line}");
        }
        stderr
    }

    /// Asks the plugin to describe itself.
    pub fn describe(&mut self) -> Result<wit::Descriptor, PluginError> {
        self.store.set_epoch_deadline(Self::ticks(self.limits.deadline));
        let r = self.bindings.call_describe(&mut self.store);
        self.flush_stdio();
        r.map_err(|e| PluginError::Instantiate {
            operator: self.operator.to_string(),
            message: format!("describe failed: {e:#}"),
        })
    }

    /// Passes the job's parameters to `init`.
    pub fn init(&mut self, params: &BTreeMap<String, String>) -> Result<(), PluginError> {
        let params: Vec<wit::Param> =
            params.iter().map(|(k, v)| wit::Param { name: k.clone(), value: v.clone() }).collect();
        self.store.set_epoch_deadline(Self::ticks(self.limits.deadline));
        let r = self.bindings.call_init(&mut self.store, &params);
        self.flush_stdio();
        let failed = |message: String| PluginError::Init { operator: self.operator.to_string(), message };
        r.map_err(|e| failed(format!("{e:#}")))?.map_err(failed)
    }

    /// Runs one batch and hands the input back (for dead letters). After a failure the instance is
    /// unusable: drop it and instantiate anew.
    pub fn process(&mut self, time: u64, input: Batch) -> (Result<Processed, BatchFailure>, Batch) {
        let n = input.len();
        let wit_in = to_wit(input);
        self.store.set_epoch_deadline(Self::ticks(self.limits.deadline));
        let result = self.bindings.call_process(&mut self.store, time as i64, &wit_in);
        let stderr_tail = self.flush_stdio();
        let result = result.map_err(|e| self.classify(e, &stderr_tail)).and_then(|out| Self::check(out, n));
        (result, from_wit(wit_in))
    }

    fn check(out: wit::Output, n: usize) -> Result<Processed, BatchFailure> {
        let mut rejected = Vec::new();
        for err in out.errors {
            match err {
                wit::Error::Fatal(m) => return Err(BatchFailure::Fatal(m)),
                wit::Error::BadRecord(b) if (b.index as usize) < n => rejected.push((b.index, b.reason)),
                wit::Error::BadRecord(b) => {
                    return Err(BatchFailure::BadOutput(format!("refused record {} of a {n}-record batch", b.index)));
                }
            }
        }
        let records = from_wit(out.records);
        records.validate().map_err(|e| BatchFailure::BadOutput(e.to_string()))?;
        Ok(Processed { records, rejected })
    }

    fn classify(&self, e: wasmtime::Error, stderr: &str) -> BatchFailure {
        if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return BatchFailure::Deadline(self.limits.deadline);
        }
        let text = format!("{e:#}");
        if text.contains("forcing trap when growing memory") {
            return BatchFailure::MemoryCap(self.limits.memory);
        }
        // A Rust panic prints "panicked at <file>:<line>:" and then its message to stderr before the
        // trap; together they say more than the trap code does.
        let lines: Vec<&str> = stderr.lines().collect();
        let panic = lines.iter().position(|l| l.contains("panicked at")).map(|i| {
            let at = lines[i].split("panicked at").nth(1).unwrap_or("").trim();
            format!(" (panicked at {at} {})", lines.get(i + 1).map_or("", |m| m.trim()))
        });
        let first = match e.downcast_ref::<Trap>() {
            Some(trap) => trap.to_string(),
            None => e.root_cause().to_string(),
        };
        BatchFailure::Trap(format!("{first}{}", panic.unwrap_or_default()))
    }
}
