//! The plugin engine: one wasmtime `Engine` and `Linker` per process, an epoch ticker for deadlines, and
//! a cache of precompiled components keyed by content hash (compiling costs ~35 ms, loading ~0.3 ms).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

use super::PluginError;
use super::bindings::{
    WorldPre, connector, http_wit, reducer::ReducerPre, sink::SinkPre, source::SourcePre, state::StateUpdaterPre,
    transform::Transform, transform::TransformPre,
};
use super::sandbox::PluginState;

/// How often the epoch advances; deadlines are counted in these ticks.
pub const TICK: Duration = Duration::from_millis(10);

/// Advances the engine's epoch every [`TICK`] while any engine handle or loaded plugin is alive.
pub(super) struct Ticker(Arc<AtomicBool>);

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

impl Ticker {
    fn start(engine: &Engine) -> Result<Arc<Ticker>, PluginError> {
        let ticking = Arc::new(AtomicBool::new(true));
        let (e, t) = (engine.clone(), ticking.clone());
        std::thread::Builder::new()
            .name("weir-epoch".into())
            .spawn(move || {
                while t.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    e.increment_epoch();
                }
            })
            .map_err(|e| PluginError::Engine(e.to_string()))?;
        Ok(Arc::new(Ticker(ticking)))
    }
}

/// The process-wide plugin engine.
pub struct PluginEngine {
    pub(super) engine: Engine,
    linker: Linker<PluginState>,
    cache_dir: PathBuf,
    ticker: Arc<Ticker>,
}

/// A compiled plugin, ready to instantiate on any worker.
pub struct LoadedPlugin {
    /// The world it implements.
    pub world: &'static str,
    /// Where it was loaded from.
    pub path: PathBuf,
    /// SHA-256 of the component bytes.
    pub hash: String,
    /// A transform of one record at a time (`map`, `flat-map`, `filter`, `filter-map`), whose batches
    /// may therefore be passed in slices; set from its descriptor when the job loads it.
    pub per_record: bool,
    /// True when the component imports `weir:operator/http` (the toolchain drops imports a plugin
    /// never calls, so this means it sends requests).
    pub imports_http: bool,
    /// The model this version is initialised with in place of the stream's `model` file: set when a
    /// running job's model is swapped (`weir job upgrade --model`).
    pub model: Option<Arc<str>>,
    pub(super) pre: WorldPre<PluginState>,
    pub(super) engine: Engine,
    // Deadlines need the epoch to keep moving for as long as the plugin can run.
    pub(super) ticker: Arc<Ticker>,
}

fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WEIR_CACHE_DIR") {
        return dir.into();
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")));
    base.unwrap_or_else(std::env::temp_dir).join("weir").join("components")
}

impl PluginEngine {
    /// An engine with epoch interruption on, async off, and the WASI subset plugins may import.
    pub fn new() -> Result<PluginEngine, PluginError> {
        PluginEngine::with_cache_dir(default_cache_dir())
    }

    /// [`PluginEngine::new`], keeping precompiled components in `cache_dir` (a server keeps them in its
    /// data dir).
    pub fn with_cache_dir(cache_dir: PathBuf) -> Result<PluginEngine, PluginError> {
        let mut config = Config::new();
        config.wasm_component_model(true).epoch_interruption(true).cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&config).map_err(PluginError::engine)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(PluginError::engine)?;
        // Adds the `types` and `host` interfaces every world imports.
        Transform::add_to_linker::<_, HasSelf<PluginState>>(&mut linker, |s| s).map_err(PluginError::engine)?;
        // And the interfaces of the connector worlds, one by one: a world's own `add_to_linker` would
        // add `types` and `host` a second time.
        connector::add_to_linker::<_, HasSelf<PluginState>>(&mut linker, |s| s).map_err(PluginError::engine)?;
        http_wit::add_to_linker::<_, HasSelf<PluginState>>(&mut linker, |s| s).map_err(PluginError::engine)?;
        let ticker = Ticker::start(&engine)?;
        Ok(PluginEngine { engine, linker, cache_dir, ticker })
    }

    /// Loads a component: from the precompiled cache when its hash is known, else compiles and caches it.
    pub fn load(&self, path: &Path) -> Result<LoadedPlugin, PluginError> {
        let bad = |message: String| PluginError::Load { path: path.to_path_buf(), message };
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        check_header(&bytes).map_err(bad)?;
        let hash = hex::encode(Sha256::digest(&bytes));
        let mut compat = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&self.engine.precompile_compatibility_hash(), &mut compat);
        let cached = self.cache_dir.join(format!("{hash}-{:016x}.cwasm", std::hash::Hasher::finish(&compat)));
        // SAFETY: the cache holds only files this function wrote from `precompile_component` output of an
        // engine with the same compatibility hash (part of the name), renamed into place atomically.
        let component = match unsafe { Component::deserialize_file(&self.engine, &cached) } {
            Ok(c) => c,
            Err(_) => {
                let compiled = self
                    .engine
                    .precompile_component(&bytes)
                    .map_err(|e| bad(format!("not a valid component: {}", one_line(&e))))?;
                if std::fs::create_dir_all(&self.cache_dir).is_ok() {
                    let tmp = cached.with_extension(format!("tmp{}", std::process::id()));
                    if std::fs::write(&tmp, &compiled).is_ok() {
                        let _ = std::fs::rename(&tmp, &cached);
                    }
                }
                // SAFETY: `compiled` was produced just now by this engine.
                unsafe { Component::deserialize(&self.engine, &compiled) }.map_err(|e| bad(format!("{e:#}")))?
            }
        };
        let imports_http =
            component.component_type().imports(&self.engine).any(|(n, _)| n.starts_with("weir:operator/http@"));
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| bad(format!("imports something Weir does not offer: {}", one_line(&e))))?;
        let pre = if let Ok(t) = TransformPre::new(pre.clone()) {
            WorldPre::Transform(t)
        } else if let Ok(r) = ReducerPre::new(pre.clone()) {
            WorldPre::Reducer(r)
        } else if let Ok(s) = StateUpdaterPre::new(pre.clone()) {
            WorldPre::State(s)
        } else if let Ok(s) = SourcePre::new(pre.clone()) {
            WorldPre::Source(s)
        } else {
            let s = SinkPre::new(pre).map_err(|e| {
                let worlds = "`transform`, `reducer`, `state-updater`, `source` and `sink`";
                bad(format!("implements none of the worlds {worlds}: {e:#}"))
            })?;
            WorldPre::Sink(s)
        };
        Ok(LoadedPlugin {
            world: pre.name(),
            path: path.to_path_buf(),
            hash,
            pre,
            per_record: false,
            imports_http,
            model: None,
            engine: self.engine.clone(),
            ticker: self.ticker.clone(),
        })
    }
}

/// What a component says about itself, with what the host found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// The name it gives.
    pub name: String,
    /// The version it gives.
    pub version: String,
    /// The world it implements.
    pub world: &'static str,
    /// Its kind (`map`, `flat-map`, … `reduce`, `update-state`).
    pub kind: &'static str,
    /// The parameters it declares.
    pub params: Vec<String>,
    /// SHA-256 of the component bytes, hex.
    pub hash: String,
}

impl PluginEngine {
    /// Loads the component at `path` (compiling and caching it) and asks it to describe itself, under
    /// the default plugin limits.
    pub fn describe(&self, path: &Path) -> Result<Description, PluginError> {
        let plugin = self.load(path)?;
        let limits = super::Limits { deadline: Duration::from_secs(5), memory: 256 << 20 };
        let gate = super::http::HttpGate::closed("describe");
        let mut inst = super::PluginInstance::with_gate(&plugin, limits, "describe", "describe", gate)?;
        let (name, version, kind, params) = match plugin.pre {
            // A source or sink is its own kind.
            WorldPre::Source(_) | WorldPre::Sink(_) => {
                let a = inst.about()?;
                (a.name, a.version, plugin.world, a.params)
            }
            _ => {
                let d = inst.describe()?;
                (d.name, d.version, super::bindings::kind_name(d.kind), d.params)
            }
        };
        Ok(Description { name, version, world: plugin.world, kind, params, hash: plugin.hash })
    }
}

/// How to make a component, for load errors.
const BUILD_HINT: &str = "build it with `weir op build`, which makes a component for wasm32-wasip2";

/// Refuses, in one line with the fix, a file that is not a Wasm component: another kind of file, or a
/// core module (a `cdylib` built for wasm32-unknown-unknown, say).
///
/// ```
/// # use weir::operator::wasm::engine::check_header;
/// assert!(check_header(b"\0asm\x0d\0\x01\0").is_ok());
/// assert!(check_header(b"\0asm\x01\0\0\0").unwrap_err().contains("core Wasm module, not a component"));
/// assert!(check_header(b"#!/bin/sh").unwrap_err().contains("not a WebAssembly file"));
/// ```
pub fn check_header(bytes: &[u8]) -> Result<(), String> {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => {
            Err(format!("it is a core Wasm module, not a component; {BUILD_HINT}"))
        }
        Some([0, b'a', b's', b'm', ..]) => Ok(()),
        _ => Err(format!("it is not a WebAssembly file; {BUILD_HINT}")),
    }
}

/// An error chain on one line: wasmtime's messages span lines and carry debug dumps.
fn one_line(e: &wasmtime::Error) -> String {
    format!("{e:#}").split_whitespace().collect::<Vec<_>>().join(" ")
}
