//! The write-ahead log of a receiver whose input cannot be read again (the socket), as Spark's
//! `receiver.writeAheadLog`: every chunk of lines is appended to the log before it is handed to the
//! batcher, and the batcher records the log position with each checkpoint. A resumed job replays the log
//! from that position, so nothing received is lost to a crash.
//!
//! The log is a series of segment files `<start position, 20 digits>.log` holding lines, each ended by
//! `\n`; a position counts bytes from the start of the log. Segments wholly before every kept
//! checkpoint are deleted ([`prune`]).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use weir_sdk::packed::Batch;

/// A new segment is started once the current one holds this much.
const SEGMENT_BYTES: u64 = 64 << 20;

/// Segments of the log in `dir`, by start position.
pub fn segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    if !dir.exists() {
        return Ok(found);
    }
    for e in std::fs::read_dir(dir)? {
        let path = e?.path();
        let start = path.file_name().and_then(|n| n.to_str()?.strip_suffix(".log")?.parse().ok());
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

/// An open log, appending at its end.
pub struct Wal {
    dir: PathBuf,
    file: File,
    segment_start: u64,
    end: u64,
}

impl Wal {
    /// Opens the log in `dir` (creating it) and reads what it holds from position `from` on, to replay.
    /// A last line cut short by a crash is dropped: it was never handed over.
    pub fn open(dir: &Path, from: u64) -> std::io::Result<(Wal, Vec<u8>)> {
        std::fs::create_dir_all(dir)?;
        let mut segs = segments(dir)?;
        if segs.is_empty() {
            let path = dir.join(format!("{from:020}.log"));
            File::create(&path)?;
            segs.push((from, path));
        }
        let mut replay = Vec::new();
        for (i, (start, path)) in segs.iter().enumerate() {
            let len = std::fs::metadata(path)?.len();
            let end = segs.get(i + 1).map_or(start + len, |n| n.0);
            if end <= from {
                continue;
            }
            let mut f = File::open(path)?;
            f.seek(SeekFrom::Start(from.saturating_sub(*start)))?;
            f.read_to_end(&mut replay)?;
        }
        let whole = replay.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let torn = (replay.len() - whole) as u64;
        replay.truncate(whole);
        let (segment_start, path) = segs.pop().expect("at least one segment");
        let file = OpenOptions::new().write(true).open(&path)?;
        let len = file.metadata()?.len() - torn;
        file.set_len(len)?;
        let mut wal = Wal { dir: dir.to_path_buf(), file, segment_start, end: segment_start + len };
        wal.file.seek(SeekFrom::End(0))?;
        Ok((wal, replay))
    }

    /// Appends the lines of `chunk`; returns the log position after them.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let (mut wal, replay) = weir::receiver::wal::Wal::open(dir.path(), 0).unwrap();
    /// assert!(replay.is_empty());
    /// let mut chunk = weir_sdk::packed::Batch::new();
    /// chunk.push(None, weir_sdk::packed::ValueRef::Text("a b"), 0);
    /// assert_eq!(wal.append(&chunk).unwrap(), 4);
    /// let (_, replay) = weir::receiver::wal::Wal::open(dir.path(), 0).unwrap();
    /// assert_eq!(replay, b"a b\n");
    /// ```
    pub fn append(&mut self, chunk: &Batch) -> std::io::Result<u64> {
        if self.end - self.segment_start >= SEGMENT_BYTES {
            self.segment_start = self.end;
            self.file = File::create(self.dir.join(format!("{:020}.log", self.end)))?;
        }
        let mut bytes = Vec::with_capacity(chunk.values.len() + chunk.len());
        for i in 0..chunk.len() {
            bytes.extend_from_slice(chunk.value_bytes(i));
            bytes.push(b'\n');
        }
        self.file.write_all(&bytes)?;
        self.end += bytes.len() as u64;
        Ok(self.end)
    }
}
