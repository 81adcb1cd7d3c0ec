//! `weir op new NAME --kind KIND`: scaffolds an operator crate that builds and passes its own test at
//! once: one template per kind (`templates/`), a standalone workspace, the Wasm SIMD flags, and a README
//! with the author's loop (`cargo test`, `weir op build`, `weir op test`, `weir op push`).

use std::path::{Path, PathBuf};

use clap::ValueEnum;

/// The operator kinds `weir op new` scaffolds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// One record in, one out.
    Map,
    /// One record in, any number out.
    FlatMap,
    /// Keeps the records a predicate accepts.
    Filter,
    /// One record in, one or none out, or refused with a reason.
    FilterMap,
    /// The whole batch in, any records out (Spark's `transform`).
    Batch,
    /// A reducer for `reduce_by_key` and windows, with an inverse.
    Reduce,
    /// A state updater for `update_state_by_key`.
    UpdateState,
    /// A function for `map_with_state`.
    MapWithState,
    /// A source that reads from an offset of its own.
    Source,
    /// A sink that writes each batch, idempotent by batch time.
    Sink,
}

impl Kind {
    fn template(self) -> &'static str {
        match self {
            Kind::Map => include_str!("templates/map.rs.txt"),
            Kind::FlatMap => include_str!("templates/flat-map.rs.txt"),
            Kind::Filter => include_str!("templates/filter.rs.txt"),
            Kind::FilterMap => include_str!("templates/filter-map.rs.txt"),
            Kind::Batch => include_str!("templates/batch.rs.txt"),
            Kind::Reduce => include_str!("templates/reduce.rs.txt"),
            Kind::UpdateState => include_str!("templates/update-state.rs.txt"),
            Kind::MapWithState => include_str!("templates/map-with-state.rs.txt"),
            Kind::Source => include_str!("templates/source.rs.txt"),
            Kind::Sink => include_str!("templates/sink.rs.txt"),
        }
    }

    /// How a job spec uses an operator of this kind.
    fn usage(self) -> &'static str {
        match self {
            Kind::Map | Kind::FlatMap | Kind::Filter | Kind::FilterMap | Kind::Batch => "op = \"wasm\"",
            Kind::Reduce => "op = \"reduce_by_key\"",
            Kind::UpdateState => "op = \"update_state_by_key\"",
            Kind::MapWithState => "op = \"map_with_state\"",
            Kind::Source => "kind = \"plugin\" in [sources.NAME]",
            Kind::Sink => "kind = \"plugin\" in [sinks.NAME]",
        }
    }
}

/// The SDK this binary was built with, when its source is still there.
fn default_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    sdk.join("Cargo.toml").is_file().then(|| sdk.canonicalize().unwrap_or(sdk))
}

/// A crate name: lowercase letters, digits, `-` and `_`, starting with a letter.
fn check_name(name: &str) -> Result<(), String> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}`: use lowercase letters, digits, `-` and `_`, starting with a letter"))
    }
}

fn pascal(name: &str) -> String {
    name.split(['-', '_']).filter(|w| !w.is_empty()).map(|w| w[..1].to_uppercase() + &w[1..]).collect()
}

/// Writes the crate `name` of `kind` into `parent/name`; returns its folder.
pub fn scaffold(name: &str, kind: Kind, parent: &Path, sdk: Option<&Path>) -> Result<PathBuf, String> {
    check_name(name)?;
    let sdk = match sdk {
        Some(p) => p.canonicalize().map_err(|e| format!("--sdk {}: {e}", p.display()))?,
        None => default_sdk().ok_or("the weir-sdk source is not where this binary was built: give --sdk PATH")?,
    };
    let dir = parent.join(name);
    if dir.exists() {
        return Err(format!("{} already exists", dir.display()));
    }
    let f = name.replace('-', "_");
    let code = kind.template().replace("{{name}}", name).replace("{{fn}}", &f).replace("{{Type}}", &pascal(name));
    let cargo = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\nrust-version = \"1.95\"\npublish = false\n\n\
         [lib]\ncrate-type = [\"cdylib\", \"rlib\"]\n\n\
         [dependencies]\nweir = {{ package = \"weir-sdk\", path = \"{}\" }}\n\n\
         # A workspace of its own, so it builds wherever it is.\n[workspace]\n\n\
         [profile.release]\nopt-level = 3\nlto = true\ncodegen-units = 1\nstrip = true\n",
        sdk.display()
    );
    let readme = format!(
        "# {name}\n\nA Weir `{kind:?}` operator. Use it in a job spec with `{}` and `plugin = \"{name}@0.1.0\"` (on a\n\
         server) or the component's path (with `weir run`).\n\n```sh\ncargo test                                   # the native tests\n\
         weir op build .                              # the component: target/wasm32-wasip2/release/{f}.wasm\n\
         weir op test target/wasm32-wasip2/release/{f}.wasm --text \"hello world\"\n\
         weir op push target/wasm32-wasip2/release/{f}.wasm\n```\n",
        kind.usage()
    );
    let write = |path: PathBuf, text: &str| {
        std::fs::create_dir_all(path.parent().expect("a file in the crate")).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    write(dir.join("Cargo.toml"), &cargo)?;
    write(dir.join("src/lib.rs"), &code)?;
    write(dir.join("README.md"), &readme)?;
    write(dir.join(".gitignore"), "/target\nCargo.lock\n")?;
    // Wasm SIMD, as the repository's operators use it: the SDK splits text 16 bytes at a time with it.
    write(
        dir.join(".cargo/config.toml"),
        "[target.wasm32-wasip2]\nrustflags = [\"-C\", \"target-feature=+simd128\"]\n",
    )?;
    Ok(dir)
}
