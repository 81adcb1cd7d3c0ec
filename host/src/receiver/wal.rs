//! The write-ahead log of a receiver whose input cannot be read again (the socket), as Spark's
//! `receiver.writeAheadLog`: every chunk of lines is appended to the log before it is handed to the
//! batcher, and the batcher records the log position with each checkpoint. A resumed job replays the log
//! from that position, so nothing received is lost to a crash.
//!
//! The log is a series of segment files `<start position, 20 digits>.wal` holding records: the payload's
//! length (u32, little-endian), the CRC-32 of the payload, then the payload, lines each ended by `\n`. A
//! position counts bytes from the start of the log; batches end only at record ends. Nothing is taken on
//! trust when the log is read back: a record the batches already cut (or the checkpoint) need that is
//! missing, cut short or damaged refuses the replay with the position named; a damaged tail past them
//! (received, never in a batch) is dropped with a warning saying how much. Segments wholly before every
//! kept checkpoint are deleted ([`prune`]). The log is written, not synced: it survives the process
//! being killed, not the machine losing power.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;
use weir_sdk::packed::Batch;

/// A new segment is started once the current one holds this much.
const SEGMENT_BYTES: u64 = 64 << 20;
/// Bytes before each record's payload: its length and CRC.
const HEADER: usize = 8;

/// Why a write-ahead log cannot be replayed or written.
#[derive(Debug, Error)]
pub enum WalError {
    /// A file could not be read or written.
    #[error("write-ahead log {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The log lacks, or holds damaged, records that a checkpoint or a logged batch needs.
    #[error("write-ahead log {dir} is damaged: {reason}; the lines it held are lost, so the job is refused")]
    Damaged {
        /// The log's folder.
        dir: PathBuf,
        /// What is missing or damaged, with positions.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WalError + '_ {
    move |source| WalError::Io { path: path.to_path_buf(), source }
}

/// Segments of the log in `dir`, by start position.
pub fn segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    if !dir.exists() {
        return Ok(found);
    }
    for e in std::fs::read_dir(dir)? {
        let path = e?.path();
        let start = path.file_name().and_then(|n| n.to_str()?.strip_suffix(".wal")?.parse().ok());
        if let Some(start) = start {
            found.push((start, path));
        }
    }
    found.sort();
    Ok(found)
}

/// Deletes the segments that end at or before `floor`, the oldest position a kept checkpoint needs.
pub fn prune(dir: &Path, floor: u64) -> std::io::Result<()> {
    let segs = segments(dir)?;
    for pair in segs.windows(2) {
        if pair[1].0 <= floor {
            std::fs::remove_file(&pair[0].1)?;
        }
    }
    Ok(())
}

/// What a resumed job hands over again: the records from the resumed position on.
#[derive(Debug, Default)]
pub struct Replayed {
    /// The records' payloads, one after another.
    pub bytes: Vec<u8>,
    /// Each record's end in `bytes` and its log position after it.
    pub records: Vec<(usize, u64)>,
}

/// An open log, appending at its end.
pub struct Wal {
    dir: PathBuf,
    file: File,
    segment_start: u64,
    end: u64,
}

impl Wal {
    /// Opens the log in `dir` (creating it) and reads its records from position `from` on, to replay.
    /// `needed`: the position up to which batches were cut (the checkpoint's, or the last logged
    /// batch's); the log must hold every record up to it intact.
    pub fn open(dir: &Path, from: u64, needed: u64) -> Result<(Wal, Replayed), WalError> {
        let damaged = |reason: String| WalError::Damaged { dir: dir.to_path_buf(), reason };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        if let Some(old) = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .flatten()
            .find(|e| e.path().extension().is_some_and(|x| x == "log"))
        {
            let reason =
                format!("{} is in the format of an older weir, which this one cannot check", old.path().display());
            return Err(damaged(reason));
        }
        let mut segs = segments(dir).map_err(io(dir))?;
        let needed = needed.max(from);
        match segs.first() {
            None if needed > 0 => {
                return Err(damaged(format!("it holds no segment, and batches need it up to position {needed}")));
            }
            None => {
                let path = dir.join(format!("{from:020}.wal"));
                File::create(&path).map_err(io(&path))?;
                segs.push((from, path));
            }
            Some((start, path)) if *start > from => {
                return Err(damaged(format!(
                    "{} starts at position {start}; the checkpoint resumes at {from}",
                    path.display()
                )));
            }
            Some(_) => {}
        }
        let mut replay = Replayed::default();
        let first =
            segs.iter().rposition(|(start, _)| *start <= from).expect("the first segment starts at or before `from`");
        // Where the log stops being whole: the segment and position of the first record that is not.
        let mut end = None;
        for i in first..segs.len() {
            let (start, path) = &segs[i];
            let bytes = std::fs::read(path).map_err(io(path))?;
            let seg_end = start + bytes.len() as u64;
            let mut at = from.saturating_sub(*start) as usize;
            let mut problem = None;
            while at < bytes.len() {
                match record(&bytes[at..]) {
                    Ok(payload) => {
                        replay.bytes.extend_from_slice(payload);
                        at += HEADER + payload.len();
                        replay.records.push((replay.bytes.len(), start + at as u64));
                    }
                    Err(why) => {
                        problem = Some((start + at as u64, why.to_string()));
                        break;
                    }
                }
            }
            if let Some((next, _)) = segs.get(i + 1).filter(|(next, _)| problem.is_none() && *next != seg_end) {
                problem = Some((seg_end, format!("followed by a gap: the next segment starts at {next}")));
            }
            let Some((pos, why)) = problem else { continue };
            let place = format!("the log at position {pos} ({}) is {why}", path.display());
            if pos < needed {
                return Err(damaged(format!("{place}, and batches need it up to position {needed}")));
            }
            let lost = seg_end.saturating_sub(pos) + segs[i + 1..].iter().map(|(_, p)| len(p)).sum::<u64>();
            tracing::warn!(
                "{place}: dropping the last {lost} bytes of the log, lines received but never put in a batch"
            );
            end = Some((i, pos));
            break;
        }
        let (last, end) = end.unwrap_or((segs.len() - 1, segs.last().map_or(from, |(s, p)| s + len(p))));
        if end < needed {
            return Err(damaged(format!("it ends at position {end}, and batches need it up to {needed}")));
        }
        for (_, path) in segs.drain(last + 1..) {
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
        let (segment_start, path) = segs.pop().expect("at least one segment");
        let file = OpenOptions::new().write(true).open(&path).map_err(io(&path))?;
        file.set_len(end - segment_start).map_err(io(&path))?;
        let mut wal = Wal { dir: dir.to_path_buf(), file, segment_start, end };
        wal.file.seek(SeekFrom::End(0)).map_err(io(&path))?;
        Ok((wal, replay))
    }

    /// Appends the lines of `chunk` as one record; returns the log position after it.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let (mut wal, replay) = weir::receiver::wal::Wal::open(dir.path(), 0, 0).unwrap();
    /// assert!(replay.bytes.is_empty());
    /// let mut chunk = weir_sdk::packed::Batch::new();
    /// chunk.push(None, weir_sdk::packed::ValueRef::Text("a b"), 0);
    /// assert_eq!(wal.append(&chunk).unwrap(), 12);
    /// let (_, replay) = weir::receiver::wal::Wal::open(dir.path(), 0, 12).unwrap();
    /// assert_eq!((replay.bytes.as_slice(), replay.records.as_slice()), (&b"a b\n"[..], &[(4, 12)][..]));
    /// let refused = weir::receiver::wal::Wal::open(dir.path(), 0, 24).err().unwrap().to_string();
    /// assert!(refused.contains("it ends at position 12, and batches need it up to 24"), "{refused}");
    /// ```
    pub fn append(&mut self, chunk: &Batch) -> Result<u64, WalError> {
        if self.end - self.segment_start >= SEGMENT_BYTES {
            let path = self.dir.join(format!("{:020}.wal", self.end));
            self.segment_start = self.end;
            self.file = File::create(&path).map_err(io(&path))?;
        }
        let mut bytes = vec![0; HEADER];
        for i in 0..chunk.len() {
            bytes.extend_from_slice(chunk.value_bytes(i));
            bytes.push(b'\n');
        }
        let payload = (bytes.len() - HEADER) as u32;
        let crc = crc32fast::hash(&bytes[HEADER..]);
        bytes[..4].copy_from_slice(&payload.to_le_bytes());
        bytes[4..HEADER].copy_from_slice(&crc.to_le_bytes());
        self.file.write_all(&bytes).map_err(io(&self.dir))?;
        self.end += bytes.len() as u64;
        Ok(self.end)
    }
}

fn len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The payload of the record at the start of `bytes`, or what is wrong with it.
fn record(bytes: &[u8]) -> Result<&[u8], &'static str> {
    let Some((header, rest)) = bytes.split_first_chunk::<HEADER>() else { return Err("cut short") };
    let size = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
    let payload = rest.get(..size).ok_or("cut short")?;
    if crc32fast::hash(payload) != crc {
        return Err("damaged (checksum mismatch)");
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use weir_sdk::packed::{Batch, ValueRef};

    use super::Wal;

    /// A log of three records of `lines` lines each; returns its folder and the position after each.
    fn log(lines: usize) -> (tempfile::TempDir, Vec<u64>) {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), 0, 0).unwrap();
        let ends = (0..3)
            .map(|r| {
                let mut chunk = Batch::new();
                (0..lines).for_each(|i| chunk.push(None, ValueRef::Text(&format!("r{r} l{i}")), 0));
                wal.append(&chunk).unwrap()
            })
            .collect();
        (dir, ends)
    }

    fn segment(dir: &std::path::Path) -> std::path::PathBuf {
        dir.join(format!("{:020}.wal", 0))
    }

    fn flip(dir: &std::path::Path, at: u64) {
        let mut bytes = std::fs::read(segment(dir)).unwrap();
        bytes[at as usize] ^= 1;
        std::fs::write(segment(dir), bytes).unwrap();
    }

    #[test]
    fn damage_below_what_batches_need_is_refused_naming_the_position() {
        let (dir, ends) = log(4);
        flip(dir.path(), ends[0] + 10);
        let e = Wal::open(dir.path(), 0, ends[1]).err().expect("refused").to_string();
        assert!(e.contains(&format!("position {}", ends[0])) && e.contains("checksum"), "{e}");
        // Replaying from past the damage does not need it.
        let (_, replay) = Wal::open(dir.path(), ends[1], ends[1]).unwrap();
        assert_eq!(replay.records.len(), 1);
    }

    #[test]
    fn a_damaged_tail_past_every_batch_is_dropped_and_appending_goes_on_from_there() {
        let (dir, ends) = log(4);
        flip(dir.path(), ends[1] + 3);
        let (mut wal, replay) = Wal::open(dir.path(), 0, ends[0]).unwrap();
        assert_eq!(replay.records.iter().map(|r| r.1).collect::<Vec<_>>(), &ends[..2]);
        assert_eq!(std::fs::metadata(segment(dir.path())).unwrap().len(), ends[1]);
        let mut chunk = Batch::new();
        chunk.push(None, ValueRef::Text("after"), 0);
        let end = wal.append(&chunk).unwrap();
        let (_, replay) = Wal::open(dir.path(), ends[1], end).unwrap();
        assert_eq!(replay.bytes, b"after\n");
    }

    #[test]
    fn a_log_shorter_than_the_checkpoint_or_missing_is_refused() {
        let (dir, ends) = log(4);
        let f = std::fs::OpenOptions::new().write(true).open(segment(dir.path())).unwrap();
        f.set_len(ends[1] - 5).unwrap();
        let e = Wal::open(dir.path(), ends[0], ends[2]).err().expect("refused").to_string();
        assert!(e.contains("cut short") && e.contains(&format!("up to position {}", ends[2])), "{e}");
        std::fs::remove_file(segment(dir.path())).unwrap();
        let e = Wal::open(dir.path(), ends[0], ends[0]).err().expect("refused").to_string();
        assert!(e.contains("holds no segment"), "{e}");
    }

    #[test]
    fn a_gap_between_segments_is_found() {
        let (dir, ends) = log(4);
        // A second segment that starts past the end of the first: the bytes between are gone.
        std::fs::write(dir.path().join(format!("{:020}.wal", ends[2] + 100)), b"").unwrap();
        let e = Wal::open(dir.path(), 0, ends[2] + 100).err().expect("refused").to_string();
        assert!(e.contains("followed by a gap"), "{e}");
    }
}
