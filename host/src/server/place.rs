//! Turns a submitted spec into a plan placed in the server: plugins from the registry (or the digests a
//! job's record pins), checkpoints and state in the job's own folder.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ServerError;
use crate::graph::placement::Placement;
use crate::graph::{Plan, SpecError};
use crate::registry::{Operator, Registry};

/// A job name is its folder's name too.
fn check_name(name: &str) -> Result<(), ServerError> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if name.is_empty() || name.len() > 64 || !name.chars().all(ok) || name.starts_with('.') {
        return Err(ServerError::Spec(format!(
            "`job.name`: `{name}` cannot name a job on a server: use 1 to 64 letters, digits, `-`, `_` or `.`"
        )));
    }
    Ok(())
}

/// The spec's `[job] name`, read before the spec is checked, since it decides the job's folder.
fn job_name(text: &str) -> Option<String> {
    let table: toml::Table = toml::from_str(text).ok()?;
    table.get("job")?.get("name")?.as_str().map(str::to_string)
}

/// A spec error as a client reads it: line and field, without the server's paths.
fn spec_message(e: SpecError) -> ServerError {
    ServerError::Spec(match e {
        SpecError::Invalid { line, field, message, .. } => format!("line {line}: `{field}`: {message}"),
        SpecError::Parse { message, .. } => message,
        SpecError::Read { .. } => e.to_string(),
    })
}

/// A checked plan and the operator each plugin stream runs.
pub(super) struct Placed {
    pub plan: Plan,
    pub operators: BTreeMap<String, Operator>,
}

/// Checks `text` as job `jobs_dir/<name>` with plugins from `registry`, the streams in `pinned` running
/// the digests it gives.
pub(super) fn place(
    text: &str,
    jobs_dir: &Path,
    registry: &Registry,
    pinned: &BTreeMap<String, String>,
) -> Result<Placed, ServerError> {
    let operators = RefCell::new(BTreeMap::new());
    let missing = RefCell::new(false);
    let resolve = |stream: &str, written: &str| -> Result<PathBuf, String> {
        let reference = match pinned.get(stream) {
            Some(digest) => format!("sha256:{digest}"),
            None if written.contains('/') || written.ends_with(".wasm") => {
                return Err(format!(
                    "`{written}` is a file; a server runs operators from its registry: write `name@version`, \
                     `name` or `sha256:<digest>` (push the component with `weir op push`)"
                ));
            }
            None => written.to_string(),
        };
        let op = registry.resolve(&reference).map_err(|e| {
            *missing.borrow_mut() = matches!(e, crate::registry::RegistryError::NotFound(_));
            e.to_string()
        })?;
        let path = registry.blob(&op.digest);
        operators.borrow_mut().insert(stream.to_string(), op);
        Ok(path)
    };
    let name = job_name(text);
    let home = jobs_dir.join(name.as_deref().unwrap_or("unnamed"));
    let placement = Placement::in_home(&resolve, home.clone());
    let plan =
        crate::graph::parse_placed(&home.join("spec.toml"), text, &placement).map_err(|e| match spec_message(e) {
            ServerError::Spec(m) if *missing.borrow() => ServerError::NotFound(m),
            other => other,
        })?;
    check_name(&plan.name)?;
    drop(placement);
    Ok(Placed { plan, operators: operators.into_inner() })
}
