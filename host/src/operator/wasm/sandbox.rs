//! What a plugin's store holds: its WASI context (no files, network, environment or real clocks;
//! stdout and stderr captured), its memory cap, and the host side of the imports Weir offers (`log`,
//! and `http` through the instance's gate).

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::{connector, host, http_wit, types as wit};
use super::http::HttpGate;
use super::stdio::Capture;

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
    pub(super) limits: Metered,
    job: Arc<str>,
    operator: Arc<str>,
    /// Where its HTTP requests may go (nowhere, but for a plugin source or sink granted hosts).
    pub(super) http: HttpGate,
}

impl PluginState {
    /// The sandbox of operator `operator` of job `job`: what it prints goes to `stdio`, its HTTP
    /// requests through `http`.
    pub(super) fn sandboxed(
        limits: &Limits,
        job: &str,
        operator: &str,
        http: HttpGate,
        stdio: (Capture, Capture),
    ) -> PluginState {
        let wasi = WasiCtxBuilder::new()
            .stdout(stdio.0)
            .stderr(stdio.1)
            .wall_clock(Frozen)
            .monotonic_clock(Frozen)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        PluginState {
            wasi,
            table: ResourceTable::new(),
            limits: Metered {
                limits: StoreLimitsBuilder::new()
                    .memory_size(limits.memory)
                    .instances(4)
                    .trap_on_grow_failure(true)
                    .build(),
                peak: 0,
            },
            job: job.into(),
            operator: operator.into(),
            http,
        }
    }

    /// The job this plugin runs in.
    pub(super) fn job(&self) -> &str {
        &self.job
    }
}

/// The store's limits, remembering the most memory they let it grow to (the instance's high-water mark).
pub(super) struct Metered {
    limits: StoreLimits,
    /// Bytes of linear memory at most, so far.
    pub(super) peak: usize,
}

impl ResourceLimiter for Metered {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.peak = self.peak.max(desired);
        }
        Ok(allowed)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl wit::Host for PluginState {}

impl connector::Host for PluginState {}

impl http_wit::Host for PluginState {
    fn send(&mut self, req: http_wit::Request) -> Result<http_wit::Response, http_wit::HttpError> {
        self.http.send(&self.job, req)
    }
}

impl host::Host for PluginState {
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
