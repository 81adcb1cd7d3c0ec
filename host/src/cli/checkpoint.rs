//! `weir checkpoint ls`: the committed checkpoints of a job, newest first, each checked as a resuming
//! job would check it (manifest and part CRCs), so an operator sees which one `weir run` will resume
//! from before running it — Flink's `list` of savepoints, for a checkpoint directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use weir::checkpoint::{self, BatchLog, Manifest, SourceOffset};

/// Commands on a job's checkpoints.
#[derive(Debug, Subcommand)]
pub enum CheckpointCommand {
    /// List the committed checkpoints, newest first: batch time, whether it checks out (and which file
    /// does not), the state it holds, where each source resumes, and the realtime batches logged after
    /// it. The first good one is the one `weir run` resumes from. Exit code 1 when every one is damaged.
    Ls {
        /// The checkpoint directory (`[checkpoint] dir` of the job).
        dir: PathBuf,
        /// One JSON object per checkpoint instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a checkpoint command.
pub fn run(command: CheckpointCommand) -> ExitCode {
    let CheckpointCommand::Ls { dir, json } = command;
    match list(&dir, json) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the listing; false when there are checkpoints and none is usable.
fn list(root: &Path, as_json: bool) -> anyhow::Result<bool> {
    anyhow::ensure!(root.is_dir(), "{} is not a directory", root.display());
    let found = checkpoint::committed(root)?;
    let mut out = std::io::stdout().lock();
    if found.is_empty() && !as_json {
        writeln!(out, "no committed checkpoints in {}", root.display())?;
    }
    let mut resumes = None;
    for (time, dir) in &found {
        let loaded = checkpoint::load(dir);
        let ok = loaded.is_ok();
        let here = ok && resumes.is_none();
        if here {
            resumes = Some(*time);
        }
        let logged = match (&loaded, here) {
            (Ok(r), true) => BatchLog::new(root).after(*time, &r.manifest.offsets, &r.manifest.pending)?.len(),
            _ => 0,
        };
        let (manifest, error) = match loaded {
            Ok(r) => (Some(r.manifest), None),
            // A damaged part still leaves the manifest readable: show what it says.
            Err(e) => (Manifest::read(dir).ok(), Some(e.to_string())),
        };
        if as_json {
            let line = json!({
                "time": time, "dir": dir, "ok": ok, "error": error, "resume": here,
                "state": manifest.as_ref().map(|m| &m.state), "keys": manifest.as_ref().map(|m| &m.keys),
                "offsets": manifest.as_ref().map(|m| &m.offsets), "pending": manifest.as_ref().map(|m| &m.pending),
                "bytes": manifest.as_ref().map(|m| m.parts.iter().map(|p| p.len).sum::<u64>()),
                "logged_after": logged,
            });
            writeln!(out, "{line}")?;
        } else {
            writeln!(out, "{}", describe(*time, dir, manifest.as_ref(), error.as_deref(), here, logged))?;
        }
    }
    Ok(found.is_empty() || resumes.is_some())
}

/// One checkpoint as text.
fn describe(time: u64, dir: &Path, m: Option<&Manifest>, error: Option<&str>, here: bool, logged: usize) -> String {
    let status = match (error, here) {
        (Some(e), _) => format!("DAMAGED: {e}"),
        (None, true) => "ok, `weir run` resumes here".to_string(),
        (None, false) => "ok".to_string(),
    };
    let mut text = format!("batch {time} ms  {status}\n  {}", dir.display());
    if let Some(m) = m {
        let bytes: u64 = m.parts.iter().map(|p| p.len).sum();
        let state: Vec<&str> = m.state.keys().map(String::as_str).collect();
        text += &format!(
            "\n  job `{}` on {} worker(s), state of {} ({} part file(s), {bytes} bytes)",
            m.job,
            m.workers,
            if state.is_empty() { "no stream".to_string() } else { state.join(", ") },
            m.parts.len()
        );
        for (source, at) in &m.offsets {
            text += &format!("\n  source `{source}` resumes after {}", offset(at));
        }
    }
    if here && logged > 0 {
        text += &format!("\n  {logged} realtime batches logged after it are cut again on resume");
    }
    text
}

/// A source offset in words.
fn offset(at: &SourceOffset) -> String {
    match at {
        SourceOffset::Start => "nothing (the start)".into(),
        SourceOffset::Units(n) => format!("{n} lines"),
        SourceOffset::Log(n) => format!("byte {n} of its write-ahead log"),
        SourceOffset::Own(v) => format!("its own offset {v}"),
        SourceOffset::Files { done, .. } => {
            let at: String = at.positions().map(|(f, p)| format!(", and byte {p} of {f}")).collect();
            format!("{} files{at}", done.len())
        }
    }
}
