//! Where a job's files live. A spec run by `weir run` finds its plugins and directories beside the spec
//! file; a spec submitted to `weir serve` names plugins from the server's operator registry and keeps its
//! checkpoints and state in the job's own folder of the server's data dir, which the server chooses.

use std::path::{Path, PathBuf};

/// Resolves a stream's `plugin` field (the stream's name, the field as written) to a component file.
pub type PluginResolver<'a> = dyn Fn(&str, &str) -> Result<PathBuf, String> + 'a;

/// How a spec's paths are placed.
pub struct Placement<'a> {
    plugins: Option<&'a PluginResolver<'a>>,
    home: Option<PathBuf>,
}

impl<'a> Placement<'a> {
    /// Paths relative to the spec file's folder; plugins are component files there.
    pub fn beside_spec() -> Placement<'static> {
        Placement { plugins: None, home: None }
    }

    /// Plugins resolved by `plugins`; checkpoints (added when the spec has none) and state in `home`.
    ///
    /// ```
    /// use weir::graph::placement::Placement;
    /// let resolve = |_: &str, op: &str| Ok(std::path::PathBuf::from(format!("/registry/{op}.wasm")));
    /// let placed = Placement::in_home(&resolve, "/data/jobs/j".into());
    /// assert_eq!(placed.checkpoint_dir().unwrap(), std::path::Path::new("/data/jobs/j/checkpoint"));
    /// assert_eq!(placed.plugin("s", "tok@1", std::path::Path::new("/x")).unwrap(),
    ///            std::path::Path::new("/registry/tok@1.wasm"));
    /// ```
    pub fn in_home(plugins: &'a PluginResolver<'a>, home: PathBuf) -> Placement<'a> {
        Placement { plugins: Some(plugins), home: Some(home) }
    }

    /// The component file stream `stream`'s `plugin = "written"` names.
    pub fn plugin(&self, stream: &str, written: &str, base: &Path) -> Result<PathBuf, String> {
        if let Some(resolve) = self.plugins {
            return resolve(stream, written);
        }
        let path = base.join(written);
        if !path.is_file() {
            let hint = "build the operators first (`weir op build operators/<name>` or scripts/demo.sh)";
            return Err(format!("no plugin file at {}; {hint}", path.display()));
        }
        Ok(path)
    }

    /// The checkpoint directory the placement imposes, if any.
    pub fn checkpoint_dir(&self) -> Option<PathBuf> {
        self.home.as_ref().map(|h| h.join("checkpoint"))
    }

    /// The state directory the placement imposes, if any.
    pub fn state_dir(&self) -> Option<PathBuf> {
        self.home.as_ref().map(|h| h.join("state"))
    }
}
