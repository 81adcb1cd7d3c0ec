//! A receiver whose input cannot be read again (a socket, MQTT) keeps what it takes in its write-ahead
//! log ([`super::wal`]) before handing it over: this opens the log of a resumed job and replays it, and
//! logs each chunk before it goes to the batcher.

use std::path::PathBuf;

use weir_sdk::packed::Batch;

use super::wal::{Replayed, Wal};
use super::{Outbox, SourceEvent};
use crate::checkpoint::{OffsetMark, SourceOffset};

/// Where a source's write-ahead log is, and what a resumed job replays from it.
pub struct Replay {
    /// The log's folder.
    pub dir: PathBuf,
    /// The log position the resumed job starts from.
    pub from: u64,
    /// Log positions where batches logged before the crash ended: the log must hold them intact.
    pub cuts: Vec<u64>,
}

impl Replay {
    /// The log in `dir` of a source resuming at `start`, with the batches logged before a crash ending
    /// at `cuts`.
    pub fn new(dir: PathBuf, start: &SourceOffset, cuts: &[SourceOffset]) -> Replay {
        Replay { dir, from: start.units(), cuts: cuts.iter().map(SourceOffset::units).collect() }
    }

    /// Opens the log and hands over what it holds from the resumed position. `None` when the job is
    /// stopping, or when the log is damaged (the source has then failed, naming `source`).
    pub async fn open(self, source: &str, out: &Outbox) -> Option<Wal> {
        match Wal::open(&self.dir, self.from, self.cuts.last().copied().unwrap_or(self.from)) {
            Ok((wal, replay)) => {
                if !replay.bytes.is_empty() {
                    tracing::info!(source = %source, bytes = replay.bytes.len(), "replaying the write-ahead log");
                }
                replay_log(&replay, out).await.then_some(wal)
            }
            Err(e) => {
                out.send(SourceEvent::Failed(format!("source `{source}`: {e}"))).await;
                None
            }
        }
    }
}

/// Hands over what the log held, one record at a time, each marked with its log position: batches were
/// cut only at record ends, so each batch logged before the crash ends exactly at one of them.
async fn replay_log(replay: &Replayed, out: &Outbox) -> bool {
    let out = &out.clone().with_lines(out.lines().as_logged());
    let mut done = 0;
    for &(end, pos) in &replay.records {
        if !super::send_lines(&replay.bytes[done..end], 0, usize::MAX, |_| OffsetMark::Log(pos), out).await {
            return false;
        }
        done = end;
    }
    true
}

/// Logs `chunk` (with a log), then hands it and the log position over; false when the job is stopping or
/// the log cannot be written (the source then fails: data it cannot log is not taken).
pub async fn hand_over(chunk: Batch, wal: &mut Option<Wal>, out: &Outbox) -> bool {
    let Some(w) = wal.as_mut() else { return out.send(SourceEvent::Data(chunk)).await };
    match w.append(&chunk) {
        Ok(pos) => out.send(SourceEvent::Marked(chunk, OffsetMark::Log(pos))).await,
        Err(e) => {
            out.send(SourceEvent::Failed(format!("cannot write the write-ahead log: {e}"))).await;
            false
        }
    }
}
