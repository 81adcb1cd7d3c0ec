//! `weir state dump`: prints a stream's keyed state as JSON lines, read straight from the state database
//! or from a checkpoint (what a job resuming from it would start with).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use weir::state::{StateDb, StateValue};

/// Commands on a job's state.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Print the keyed state of one stream as JSON lines `{"key": .., "value": .., "last_seen": ..}`,
    /// in key-group order. The job must not be running.
    Dump {
        /// The state directory (`[state] dir` of the job), or a directory holding it as `state/`; or a
        /// checkpoint (`checkpoint-<t>`), or a checkpoint directory, whose newest good checkpoint is read.
        dir: PathBuf,
        /// The stateful stream.
        #[arg(long)]
        stream: String,
    },
}

/// Runs a state command.
pub fn run(command: StateCommand) -> ExitCode {
    match command {
        StateCommand::Dump { dir, stream } => match dump(&dir, &stream) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn dump(dir: &Path, stream: &str) -> anyhow::Result<()> {
    if dir.join("manifest.json").is_file() || !weir::checkpoint::committed(dir)?.is_empty() {
        return dump_checkpoint(dir, stream);
    }
    let nested = dir.join("state");
    let dir = if nested.is_dir() { nested.as_path() } else { dir };
    anyhow::ensure!(dir.join("conf").is_file(), "{} holds no state database", dir.display());
    let db = StateDb::open(Some(dir), 1)?;
    let streams = db.streams();
    if !streams.iter().any(|s| s == stream) {
        let held = if streams.is_empty() { "none".into() } else { streams.join(", ") };
        anyhow::bail!("no state for stream `{stream}` in {} (streams with state: {held})", dir.display());
    }
    let state = db.keyed(stream)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for g in 0..=u8::MAX {
        for entry in state.scan(g) {
            let (key, v) = entry?;
            writeln!(out, "{}", line(&key, &v))?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Dumps `stream`'s keyed state from checkpoint `dir`, or from the newest good one under it.
fn dump_checkpoint(dir: &Path, stream: &str) -> anyhow::Result<()> {
    let restored = if dir.join("manifest.json").is_file() {
        weir::checkpoint::load(dir)?
    } else {
        weir::checkpoint::latest(dir)?.ok_or_else(|| anyhow::anyhow!("no checkpoint in {}", dir.display()))?
    };
    let entries = weir::checkpoint::keyed_state(&restored, stream)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (key, v) in entries {
        writeln!(out, "{}", line(&key, &v))?;
    }
    out.flush()?;
    Ok(())
}

/// One dumped entry.
fn line(key: &[u8], v: &StateValue) -> serde_json::Value {
    serde_json::json!({ "key": String::from_utf8_lossy(key), "value": v.json(), "last_seen": v.last_seen })
}
