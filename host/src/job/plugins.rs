//! A job's plugins: each Wasm stream's component compiled once and checked before any data flows —
//! its world and kind fit the op, its parameters are declared, `init` accepts them — and swapped in a
//! running job at a batch boundary ([`Swapper`]), checked the same way first.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use super::{Env, JobError};
use crate::batcher::AtBoundary;
use crate::checkpoint::{Checkpointer, PluginRecord};
use crate::event::{Events, JobEvent};
use crate::graph::Plan;
use crate::graph::spec::StreamSpec;
use crate::operator::wasm::bindings::kind_name;
use crate::operator::wasm::bindings::types::TransformKind as K;
use crate::operator::wasm::{LoadedPlugin, PluginInstance, Versions, with_model};

/// A stream's plugin by batch time.
pub(crate) type PluginVersions = Arc<Versions<LoadedPlugin>>;

/// Plugins by stream, and what a checkpoint records of each.
pub(super) type Plugins = (HashMap<String, PluginVersions>, BTreeMap<String, PluginRecord>);

/// Compiles every Wasm stream's plugin once and checks it.
pub(super) fn load_plugins(plan: &Plan, env: &Env) -> Result<Plugins, JobError> {
    let mut plugins = HashMap::new();
    let mut records = BTreeMap::new();
    for (name, spec) in &plan.streams {
        let Some((path, _)) = spec.plugin() else { continue };
        let (loaded, record) = load_plugin(plan, env, name, spec, path, None)?;
        records.insert(name.clone(), record);
        plugins.insert(name.clone(), Arc::new(Versions::new(Arc::new(loaded))));
    }
    Ok((plugins, records))
}

/// Compiles the component at `path` for stream `name` (whose spec is `spec`) and checks it fits, with
/// `model` (a swapped model's text) in place of the stream's `model` file when given.
fn load_plugin(
    plan: &Plan,
    env: &Env,
    name: &str,
    spec: &StreamSpec,
    path: &Path,
    model: Option<Arc<str>>,
) -> Result<(LoadedPlugin, PluginRecord), JobError> {
    let (_, params) = spec.plugin().expect("a plugin stream");
    let swapped = model.as_ref().map(|m| with_model(params, m));
    let params = swapped.as_ref().unwrap_or(params);
    let refuse = |message: String| JobError::Params { stream: name.to_string(), message };
    let mut loaded = env.plugins()?.load(path).map_err(|e| refuse(e.to_string()))?;
    if matches!(loaded.world, "source" | "sink") {
        let (world, file) = (loaded.world, path.display());
        return Err(refuse(format!(
            "`plugin`: {file} is a `{world}`: use it in a [{world}s.NAME] table, kind = \"plugin\""
        )));
    }
    if loaded.imports_http {
        let msg = format!(
            "`plugin`: {} imports `weir:operator/http`, which Weir offers to sources and sinks only",
            path.display()
        );
        return Err(refuse(msg));
    }
    let mut probe = PluginInstance::new(&loaded, plan.plugin_limits(), &plan.name, name)?;
    let descriptor = probe.describe()?;
    let (world, kinds) = spec.plugin_world();
    let kind = kind_name(descriptor.kind);
    if loaded.world != world || !kinds.contains(&kind) {
        return Err(refuse(format!(
            "`plugin`: {} is a `{}` of kind `{kind}`; this op needs a `{world}` of kind {}",
            path.display(),
            loaded.world,
            kinds.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" or ")
        )));
    }
    undeclared(params, &descriptor.name, &descriptor.params).map_err(refuse)?;
    probe.init(params)?;
    loaded.per_record = matches!(descriptor.kind, K::Map | K::FlatMap | K::Filter | K::FilterMap);
    loaded.model = model;
    tracing::info!(stream = %name, plugin = %descriptor.name, version = %descriptor.version, hash = %&loaded.hash[..12], "plugin loaded");
    let record = PluginRecord { name: descriptor.name, version: descriptor.version, hash: loaded.hash.clone() };
    Ok((loaded, record))
}

/// Refuses a parameter in `given` that plugin `plugin` does not declare in `declared`.
pub(super) fn undeclared(given: &BTreeMap<String, String>, plugin: &str, declared: &[String]) -> Result<(), String> {
    let Some(bad) = given.keys().find(|k| !declared.contains(k)) else { return Ok(()) };
    let accepted = if declared.is_empty() { "none".to_string() } else { declared.join(", ") };
    Err(format!("`params.{bad}`: plugin `{plugin}` has no such parameter (it accepts: {accepted})"))
}

/// Swaps plugins in a running job: a checked component goes to the batcher, which puts it in at the
/// next batch it cuts, so every worker runs that batch and the later ones with it and none before.
pub(crate) struct Swapper {
    pub(super) plan: Arc<Plan>,
    pub(super) env: Arc<Env>,
    pub(super) plugins: HashMap<String, PluginVersions>,
    pub(super) at_boundary: flume::Sender<AtBoundary>,
    pub(super) events: Events,
    pub(super) checkpoint: Option<Arc<Checkpointer>>,
}

impl Swapper {
    /// Checks the component at `path` for `stream` (initialised with `model`, a model's text, in place
    /// of the stream's `model` file when given) and queues it for the next batch boundary; the receiver
    /// gets the first batch that runs it (or closes if the job ends first).
    pub(crate) fn swap(
        &self,
        stream: &str,
        path: &Path,
        model: Option<Arc<str>>,
    ) -> Result<flume::Receiver<u64>, JobError> {
        let refuse = |message: &str| JobError::Params { stream: stream.to_string(), message: message.to_string() };
        let spec = self.plan.streams.iter().find(|(n, _)| n == stream).map(|(_, s)| s);
        let Some(spec) = spec else { return Err(refuse("the job has no such stream")) };
        let Some(versions) = self.plugins.get(stream).cloned() else {
            return Err(refuse("runs no plugin: only a `wasm` or plugin stream can be swapped"));
        };
        if model.is_some() && !matches!(spec, StreamSpec::Wasm { model: Some(_), .. }) {
            return Err(refuse("has no `model` file: only a stream given a model can have it swapped"));
        }
        if let Some(m) = model.as_ref().filter(|m| m.len() as u64 > crate::graph::plan::MAX_MODEL) {
            let max = crate::graph::plan::MAX_MODEL;
            return Err(refuse(&format!("the model is {} bytes; a model may be at most {max}", m.len())));
        }
        // A new operator without a new model keeps the model swapped in last, if any.
        let model = model.or_else(|| versions.newest().model.clone());
        let (loaded, record) = load_plugin(&self.plan, &self.env, stream, spec, path, model)?;
        let (done, applied) = flume::bounded(1);
        let (events, checkpoint, stream) = (self.events.clone(), self.checkpoint.clone(), stream.to_string());
        let swap: AtBoundary = Box::new(move |time| {
            versions.add(time, Arc::new(loaded));
            tracing::info!(stream = %stream, version = %record.version, batch_time = time, "plugin swapped");
            if let Some(ck) = &checkpoint {
                ck.plugin_from(&stream, time, record.clone());
            }
            let (version, hash) = (record.version, record.hash);
            events.emit(JobEvent::PluginSwapped { stream, from_batch: time, version, hash });
            let _ = done.send(time);
        });
        self.at_boundary.send(swap).map_err(|_| JobError::Runtime("the job has ended".into()))?;
        Ok(applied)
    }
}
