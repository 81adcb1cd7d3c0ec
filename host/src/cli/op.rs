//! `weir op build <dir>`: builds an operator crate into a component; `weir op describe <file>`: loads a
//! component and prints what it says about itself; `weir op push|list|describe|delete` manage a
//! server's registry (`client/op.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::Subcommand;

use weir::operator::wasm::PluginEngine;

use super::client::{self, Conn, Output};

/// `weir op` subcommands.
#[derive(Debug, Subcommand)]
pub enum OpCommand {
    /// Build an operator crate (a folder with Cargo.toml) into a wasm32-wasip2 component.
    Build {
        /// The crate's folder.
        dir: PathBuf,
        /// Build without optimisations.
        #[arg(long)]
        debug: bool,
    },
    /// Print an operator's name, version, world, kind and parameters: of a component file, or else of
    /// a server's operator (`name@version`, `name` or `sha256:<digest>`).
    Describe {
        /// A component file (.wasm), or an operator on the server.
        operator: String,
        /// Output format (a server's operator).
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Scaffold an operator crate of a kind, which builds and passes its own test at once.
    New {
        /// The crate's name (lowercase letters, digits, `-`, `_`).
        name: String,
        /// The kind of operator.
        #[arg(long, value_enum)]
        kind: super::op_new::Kind,
        /// The folder to make it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The weir-sdk source folder (default: the one this binary was built from).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Run a built component on sample input and print its output and refusals.
    Test(super::op_test::TestArgs),
    /// Upload a component to the server's registry, where it is checked and precompiled.
    Push {
        /// The component (.wasm).
        file: PathBuf,
        /// Register it as `name@version` (default: the name and version it describes itself with).
        #[arg(long = "as", value_name = "NAME@VERSION")]
        name_version: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// List the server's operators.
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Remove an operator version from the server (refused while a job uses it).
    Delete {
        /// `name@version` or `sha256:<digest>`.
        operator: String,
    },
}

fn crate_name(dir: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(dir.join("Cargo.toml"))
        .map_err(|e| format!("{}: {e}", dir.join("Cargo.toml").display()))?;
    let doc: toml::Table = toml::from_str(&text).map_err(|e| format!("{}: {e}", dir.join("Cargo.toml").display()))?;
    doc.get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(|n| n.replace('-', "_"))
        .ok_or_else(|| format!("{}: no [package] name", dir.join("Cargo.toml").display()))
}

fn target_dir(dir: &Path) -> Result<PathBuf, String> {
    let out = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    meta["target_directory"].as_str().map(PathBuf::from).ok_or_else(|| "cargo metadata has no target_directory".into())
}

/// True when `dir` or a folder above it has a `.cargo/config.toml`, whose flags then decide.
fn has_cargo_config(dir: &Path) -> bool {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    dir.ancestors().any(|d| d.join(".cargo/config.toml").is_file() || d.join(".cargo/config").is_file())
}

fn build(dir: &Path, debug: bool) -> Result<PathBuf, String> {
    let name = crate_name(dir)?;
    let mut cmd = Command::new("cargo");
    cmd.args(["build", "--target", "wasm32-wasip2"]).current_dir(dir);
    // Wasm SIMD, as operators/.cargo/config.toml sets it: the SDK splits text 16 bytes at a time with it.
    // Flags the author set (in the environment or a config file) are left alone.
    const FLAGS: &str = "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS";
    if std::env::var_os(FLAGS).is_none() && std::env::var_os("RUSTFLAGS").is_none() && !has_cargo_config(dir) {
        cmd.env(FLAGS, "-C target-feature=+simd128");
    }
    if !debug {
        cmd.arg("--release");
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build failed for {} (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`)",
            dir.display()
        ));
    }
    let wasm = target_dir(dir)?
        .join("wasm32-wasip2")
        .join(if debug { "debug" } else { "release" })
        .join(format!("{name}.wasm"));
    if !wasm.is_file() {
        return Err(format!("cargo built no component at {} (is the crate a cdylib?)", wasm.display()));
    }
    Ok(wasm)
}

fn describe(file: &Path) -> Result<String, String> {
    let engine = PluginEngine::new().map_err(|e| e.to_string())?;
    let d = engine.describe(file).map_err(|e| e.to_string())?;
    Ok(format!(
        "name: {}\nversion: {}\nworld: {}\nkind: {}\nparams: [{}]\nsha256: {}",
        d.name,
        d.version,
        d.world,
        d.kind,
        d.params.join(", "),
        d.hash
    ))
}

/// Runs a `weir op` subcommand.
pub fn run(conn: &Conn, cmd: OpCommand) -> ExitCode {
    let result = match cmd {
        OpCommand::Describe { operator, output } if !Path::new(&operator).is_file() => {
            return client::finish(client::op::describe(conn, &operator, output));
        }
        OpCommand::Push { file, name_version, output } => {
            return client::finish(client::op::push(conn, &file, name_version.as_deref(), output));
        }
        OpCommand::List { output } => return client::finish(client::op::list(conn, output)),
        OpCommand::New { name, kind, dir, sdk } => super::op_new::scaffold(&name, kind, &dir, sdk.as_deref())
            .map(|d| format!("created {}\nnext: cd {} && cargo test && weir op build .", d.display(), d.display())),
        OpCommand::Test(args) => super::op_test::run(&args).map(|lines| lines.join("\n")),
        OpCommand::Delete { operator } => return client::finish(client::op::delete(conn, &operator)),
        OpCommand::Build { dir, debug } => build(&dir, debug).and_then(|wasm| {
            let about = describe(&wasm)?;
            Ok(format!("{}\n{about}", wasm.display()))
        }),
        OpCommand::Describe { operator, .. } => describe(Path::new(&operator)),
    };
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
