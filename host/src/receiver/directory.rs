//! Directory source: each new file in a directory is read once, as Spark's `textFileStream`. Writers must
//! make files appear by atomic rename; hidden files (`.name`) and `*.tmp` / `*._COPYING_` are skipped.
//! In a cluster each process reads only the files whose names hash to it (`Peers::owns_file`).

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Outbox, SourceEvent};
use crate::checkpoint::file::{open_json, seal_json, write_atomic};
use crate::checkpoint::{OffsetMark, Peers, SourceOffset};

/// Directory source settings.
pub struct Config {
    /// The directory.
    pub path: PathBuf,
    /// Read files present at start too.
    pub include_existing: bool,
    /// Manual clock: files per batch.
    pub files_per_batch: usize,
    /// Manual clock: finish once every file present has been read.
    pub manual: bool,
    /// With a checkpoint: where the files present at the job's first start are recorded (see
    /// [`existing_files`]).
    pub existing_record: Option<PathBuf>,
    /// This process among the job's: it reads only the files it owns.
    pub peers: Peers,
}

/// The files present when the job first started, to skip. With a checkpoint they are recorded before
/// any is skipped and read back by a later start, so a file that came after the first start is new
/// even when the job was killed before it logged a batch.
fn existing_files(cfg: &Config) -> std::io::Result<Vec<OsString>> {
    let Some(record) = &cfg.existing_record else { return ready_files(cfg) };
    match std::fs::read_to_string(record) {
        Ok(text) => {
            let json = open_json(record, &text).map_err(std::io::Error::other)?;
            let names: Vec<String> = serde_json::from_str(json).map_err(std::io::Error::other)?;
            return Ok(names.into_iter().map(OsString::from).collect());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let files = ready_files(cfg)?;
    let names: Vec<String> = files.iter().map(|f| f.to_string_lossy().into_owned()).collect();
    std::fs::create_dir_all(record.parent().unwrap_or(Path::new(".")))?;
    let json = serde_json::to_string(&names).map_err(std::io::Error::other)?;
    write_atomic(record, seal_json(&json).as_bytes()).map_err(std::io::Error::other)?;
    Ok(files)
}

/// The files of the directory this process reads, by name.
fn ready_files(cfg: &Config) -> std::io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&cfg.path)? {
        let entry = entry?;
        let name = entry.file_name();
        let s = name.to_string_lossy();
        if s.starts_with('.') || s.ends_with(".tmp") || s.ends_with("._COPYING_") || !entry.file_type()?.is_file() {
            continue;
        }
        if !cfg.peers.owns_file(&s) {
            continue;
        }
        names.push(name);
    }
    names.sort();
    Ok(names)
}

/// Runs until the job stops (realtime), every file has been read (manual clock), or the job drains: then
/// the files already there are read, and the source finishes. A resumed job skips the files `start`
/// lists as read and continues each file it was in from the byte it had reached; first, it reads again
/// what the batches logged before the crash held, ending each at its logged offset (`cuts`).
pub async fn run(name: String, cfg: Config, start: SourceOffset, cuts: Vec<SourceOffset>, out: Outbox) {
    // One read buffer for every file: its pages are faulted in once, not once per file.
    let mut bytes = Vec::new();
    let fresh_start = start == SourceOffset::Start;
    let Some(start) = replay(&name, &cfg.path, start, &cuts, &mut bytes, &out).await else { return };
    let mut seen: HashSet<OsString> = HashSet::new();
    let mut resume: HashMap<OsString, usize> = start.positions().map(|(f, p)| (f.into(), p as usize)).collect();
    match start.files_done() {
        Some(done) => seen.extend(done.iter().map(OsString::from)),
        // With logged batches, the files present at the first start are known from the log.
        None if !cfg.include_existing && fresh_start && cuts.is_empty() => {
            let existing = match existing_files(&cfg) {
                Ok(files) => files,
                Err(e) => {
                    let reason = format!("source `{name}`: cannot record the files present at the start: {e}");
                    out.send(SourceEvent::Failed(reason)).await;
                    return;
                }
            };
            for file in existing {
                // Recorded, so a resumed job does not take them for new files.
                if !out.send(SourceEvent::Mark(OffsetMark::FileSkipped(file.to_string_lossy().into()))).await {
                    return;
                }
                seen.insert(file);
            }
        }
        None => {}
    }
    let mut in_unit = 0;
    let mut last_pass = false;
    loop {
        let files = match ready_files(&cfg) {
            Ok(f) if forget_gone(&mut seen, &f, &out).await => f,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(source = %name, "cannot list {}: {e}", cfg.path.display());
                Vec::new()
            }
        };
        let fresh: Vec<OsString> = files.into_iter().filter(|f| !seen.contains(f)).collect();
        for file in &fresh {
            seen.insert(file.clone());
            let path = cfg.path.join(file);
            bytes.clear();
            let from = resume.remove(file).unwrap_or(0);
            match read_into(&path, &mut bytes).await {
                Ok(()) => {
                    if !send_lines(&file.to_string_lossy(), &bytes, from, &out).await {
                        return;
                    }
                }
                Err(e) => tracing::warn!(source = %name, "cannot read {}: {e}", path.display()),
            }
            in_unit += 1;
            if cfg.manual && in_unit == cfg.files_per_batch {
                in_unit = 0;
                if !out.send(SourceEvent::UnitEnd).await {
                    return;
                }
            }
        }
        if (cfg.manual && fresh.is_empty()) || last_pass {
            if cfg.manual && in_unit > 0 {
                out.send(SourceEvent::UnitEnd).await;
            }
            out.send(SourceEvent::Finished).await;
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = out.drained() => last_pass = true,
        }
    }
}

/// Forgets the files read earlier that have left the directory (`listed`), so the offsets list only
/// what is still there. False when the job is stopping.
async fn forget_gone(seen: &mut HashSet<OsString>, listed: &[OsString], out: &Outbox) -> bool {
    let present: HashSet<&OsString> = listed.iter().collect();
    let gone: Vec<OsString> = seen.iter().filter(|f| !present.contains(f)).cloned().collect();
    for file in gone {
        seen.remove(&file);
        if !out.send(SourceEvent::Mark(OffsetMark::FileGone(file.to_string_lossy().into()))).await {
            return false;
        }
    }
    true
}

/// Reads again, batch by batch, the files the batches logged before a crash held (`cuts`: each batch's
/// end offset), from `at`, so each batch ends exactly at its logged offset. Returns where it ended;
/// `None` when the job is stopping.
async fn replay(
    name: &str,
    dir: &Path,
    mut at: SourceOffset,
    cuts: &[SourceOffset],
    bytes: &mut Vec<u8>,
    out: &Outbox,
) -> Option<SourceOffset> {
    for cut in cuts {
        let Some(CutReads { gone, skipped, reads }) = cut_reads(&at, cut) else { continue };
        // Forgotten first, so the offset never lists more than the logged one.
        for file in gone {
            let mark = OffsetMark::FileGone(file);
            out.send(SourceEvent::Mark(mark.clone())).await.then_some(())?;
            at.apply(mark);
        }
        for file in skipped {
            let mark = OffsetMark::FileSkipped(file);
            out.send(SourceEvent::Mark(mark.clone())).await.then_some(())?;
            at.apply(mark);
        }
        for (file, end) in reads {
            let from = at.position_of(&file).map_or(0, |p| p as usize);
            bytes.clear();
            if let Err(e) = read_into(&dir.join(&file), bytes).await {
                tracing::warn!(source = %name, "cannot read {file} again: {e}");
                continue;
            }
            let end = end.map_or(bytes.len(), |e| (e as usize).min(bytes.len()));
            let finished = cut.position_of(&file).is_none();
            for mark in resend(&file, &bytes[..end], from, finished, out).await? {
                at.apply(mark);
            }
        }
    }
    Some(at)
}

/// What reaching `cut` from `at` takes: files to forget, files to mark skipped, then files to read up to
/// a byte (`None`: to the end). `None` when `cut` is not a directory offset.
struct CutReads {
    gone: Vec<String>,
    skipped: Vec<String>,
    reads: Vec<(String, Option<u64>)>,
}

fn cut_reads(at: &SourceOffset, cut: &SourceOffset) -> Option<CutReads> {
    let (done, skipped) = (cut.files_done()?, cut.files_skipped()?);
    let had = at.files_done().cloned().unwrap_or_default();
    // The files being read when the last batch was cut come first, as they did then.
    let mut finish: Vec<&String> = done.difference(&had).filter(|f| !skipped.contains(*f)).collect();
    finish.sort_by_key(|f| at.position_of(f).is_none());
    let mut reads: Vec<(String, Option<u64>)> = finish.into_iter().map(|f| (f.clone(), None)).collect();
    reads.extend(cut.positions().filter(|(f, _)| !had.contains(*f)).map(|(f, p)| (f.to_string(), Some(p))));
    let gone = had.difference(done).cloned().collect();
    Some(CutReads { gone, skipped: skipped.difference(&had).cloned().collect(), reads })
}

/// Sends `bytes[from..]` of `file` again (or only its position when there is nothing new), and marks the
/// file done when `finished`. Returns the marks sent, `None` when the job is stopping.
async fn resend(file: &str, bytes: &[u8], from: usize, finished: bool, out: &Outbox) -> Option<Vec<OffsetMark>> {
    let end = bytes.len();
    let sent = match end > from {
        true => super::send_lines(bytes, from, FILE_CHUNK_LINES, |p| OffsetMark::FileAt(file.into(), p), out).await,
        false => out.send(SourceEvent::Mark(OffsetMark::FileAt(file.into(), end as u64))).await,
    };
    sent.then_some(())?;
    let mut marks = vec![OffsetMark::FileAt(file.into(), end as u64)];
    if finished {
        out.send(SourceEvent::Mark(OffsetMark::FileDone(file.into()))).await.then_some(())?;
        marks.push(OffsetMark::FileDone(file.into()));
    }
    Some(marks)
}

/// Lines per chunk of a file: nearly every file goes out as one chunk, so a batch of whole files is
/// shared among the workers without copying (a share that is exactly one chunk moves as it is), and a
/// file falls into one batch, as with Spark's `textFileStream`. Huge files still go in pieces.
const FILE_CHUNK_LINES: usize = 1 << 20;

/// Reads the whole file at `path` into `buf` on a blocking thread. `tokio::fs` would read it in 2 MiB
/// pieces, each through a buffer of its own and copied again into `buf`.
async fn read_into(path: &Path, buf: &mut Vec<u8>) -> std::io::Result<()> {
    use std::io::Read;
    let (path, mut owned) = (path.to_path_buf(), std::mem::take(buf));
    let read = tokio::task::spawn_blocking(move || {
        let r = std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut owned));
        (r, owned)
    });
    let (r, owned) = read.await.map_err(std::io::Error::other)?;
    *buf = owned;
    r.map(|_| ())
}

/// Sends the lines of `file` from byte `from` on, each chunk followed by the byte it reached, then
/// marks the file read.
async fn send_lines(file: &str, bytes: &[u8], from: usize, out: &Outbox) -> bool {
    super::send_lines(bytes, from, FILE_CHUNK_LINES, |pos| OffsetMark::FileAt(file.into(), pos), out).await
        && out.send(SourceEvent::Mark(OffsetMark::FileDone(file.into()))).await
}
