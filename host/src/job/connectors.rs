//! A job's plugin sources and sinks: each component compiled once and checked before any data flows —
//! it implements the world its table needs, imports HTTP only if the job grants it a host, declares the
//! parameters it is given, and its `init` accepts them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::{Env, JobError};
use crate::graph::Plan;
use crate::graph::grants::Grants;
use crate::graph::spec::{Millis, SinkSpec, SourceSpec};
use crate::operator::wasm::connector::Connector;
use crate::operator::wasm::http::HttpGate;
use crate::operator::wasm::{Limits, PluginInstance};

/// The job's plugin sources and sinks, by name.
#[derive(Default)]
pub struct Connectors {
    /// Plugin sources.
    pub sources: HashMap<String, Connector>,
    /// Plugin sinks.
    pub sinks: HashMap<String, Connector>,
}

/// Loads and checks every plugin source and sink of `plan`.
pub(super) fn load_connectors(plan: &Plan, env: &Env) -> Result<Connectors, JobError> {
    let mut connectors = Connectors::default();
    for (name, spec) in &plan.sources {
        if let SourceSpec::Plugin { plugin, params, grants, deadline, .. } = spec {
            let table = Table { section: "source", name, plugin, params, grants, deadline: *deadline };
            connectors.sources.insert(name.clone(), table.load(plan, env)?);
        }
    }
    for (name, spec) in &plan.sinks {
        if let SinkSpec::Plugin { plugin, params, grants, deadline, .. } = spec {
            let table = Table { section: "sink", name, plugin, params, grants, deadline: *deadline };
            connectors.sinks.insert(name.clone(), table.load(plan, env)?);
        }
    }
    Ok(connectors)
}

/// A plugin source's or sink's table.
struct Table<'a> {
    section: &'static str,
    name: &'a str,
    plugin: &'a std::path::Path,
    params: &'a std::collections::BTreeMap<String, String>,
    grants: &'a Grants,
    deadline: Millis,
}

impl Table<'_> {
    fn refuse(&self, message: String) -> JobError {
        JobError::Connector { section: self.section, name: self.name.to_string(), message }
    }

    fn load(&self, plan: &Plan, env: &Env) -> Result<Connector, JobError> {
        let loaded = env.plugins()?.load(self.plugin).map_err(|e| self.refuse(e.to_string()))?;
        if loaded.world != self.section {
            return Err(self.refuse(format!(
                "`plugin`: {} is a `{}`; a {} plugin must be a `{}`",
                self.plugin.display(),
                loaded.world,
                self.section,
                self.section
            )));
        }
        if loaded.imports_http && self.grants.http.is_empty() {
            return Err(self.refuse(
                "`grants.http`: the plugin imports `weir:operator/http` but the job grants it no host; list the \
                 hosts it may reach, e.g. `grants = { http = [\"api.example.com\"] }`"
                    .into(),
            ));
        }
        let limits = Limits { deadline: Duration::from_millis(self.deadline.0), ..plan.plugin_limits() };
        let http = (self.grants.http.clone(), Duration::from_millis(self.grants.http_timeout.0));
        let holder = format!("{} `{}`", self.section, self.name);
        let gate = HttpGate::open(&holder, &http.0, http.1);
        let mut probe = PluginInstance::with_gate(&loaded, limits, &plan.name, self.name, gate)?;
        let about = probe.about()?;
        super::plugins::undeclared(self.params, &about.name, &about.params).map_err(|m| self.refuse(m))?;
        probe.init(self.params)?;
        tracing::info!(plugin = %about.name, version = %about.version, hash = %&loaded.hash[..12], "{holder} loaded");
        Ok(Connector { plugin: Arc::new(loaded), limits, http })
    }
}
