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

/// The files a job reads or writes besides its plugins, checkpoints and state, by field.
fn paths(plan: &Plan) -> Vec<(String, &Path)> {
    use crate::graph::spec::{SinkSpec, SourceSpec, StreamSpec, TableSpec};
    let mut found = Vec::new();
    for (name, source) in &plan.sources {
        if let SourceSpec::Directory { path, .. } | SourceSpec::Scripted { path, .. } = source {
            found.push((format!("sources.{name}.path"), path.as_path()));
        }
    }
    for (name, sink) in &plan.sinks {
        match sink {
            SinkSpec::Files { prefix, .. } => found.push((format!("sinks.{name}.prefix"), prefix.as_path())),
            SinkSpec::Jsonl { path, .. } => found.push((format!("sinks.{name}.path"), path.as_path())),
            _ => {}
        }
    }
    for (name, table) in &plan.tables {
        if let TableSpec::File { path, .. } = table {
            found.push((format!("tables.{name}.path"), path.as_path()));
        }
    }
    for (name, stream) in &plan.streams {
        if let StreamSpec::UpdateStateByKey { initial_state: Some(p), .. }
        | StreamSpec::MapWithState { initial_state: Some(p), .. } = stream
        {
            found.push((format!("streams.{name}.initial_state"), p.as_path()));
        }
    }
    if let Some(p) = &plan.dead_letter {
        found.push(("dead_letter.path".to_string(), p.as_path()));
    }
    found
}

/// `path` with `.` and `..` folded away, without asking the file system (the file may not exist yet).
fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// What the server keeps in a job's folder: a job's own files may not be these.
const RESERVED: [&str; 5] = ["spec.toml", "record.json", "checkpoint", "state", "models"];

/// True when `path` lies in the data dir `data` (canonical) but not in the job's own folder `home`, or
/// is one of the files the server keeps there.
fn reaches_into(path: &Path, data: &Path, home: &Path) -> bool {
    let path = normal(path);
    let path = path.canonicalize().unwrap_or(path);
    let home = normal(home);
    let reserved = RESERVED.iter().any(|r| path.starts_with(home.join(r)))
        || path.file_name().is_some_and(|f| f.to_string_lossy().starts_with("record.json"));
    path.starts_with(data) && (!path.starts_with(&home) || reserved)
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
    let data = jobs_dir.parent().unwrap_or(jobs_dir);
    if let Some((field, path)) = paths(&plan).into_iter().find(|(_, p)| reaches_into(p, data, &home)) {
        return Err(ServerError::Spec(format!(
            "`{field}`: {} is in the server's data dir, outside this job's folder or among the files the server \
             keeps there: a job cannot read or write other jobs' files, the registry, or its own record, spec, \
             checkpoints and state",
            path.display()
        )));
    }
    Ok(Placed { plan, operators: operators.into_inner() })
}

/// Gives each stream in `swapped` the model an upgrade swapped in (kept in job folder `home`) in place
/// of its spec's `model` file, so a restarted job runs the model it ran before.
pub(super) fn swapped_models(
    plan: &mut Plan,
    home: &Path,
    swapped: &std::collections::BTreeSet<String>,
) -> Result<(), ServerError> {
    use crate::graph::spec::StreamSpec;
    for (name, stream) in plan.streams.iter_mut() {
        if !swapped.contains(name.as_str()) {
            continue;
        }
        let file = super::record::models_file(home, name);
        let text = std::fs::read_to_string(&file).map_err(super::io(&file))?;
        if let StreamSpec::Wasm { params, .. } = stream {
            params.insert("model".to_string(), text);
        }
    }
    Ok(())
}
