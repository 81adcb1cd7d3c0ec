//! The two checkpoint file types and how they are checked. Neither is trusted on read:
//! - a part file (`*.part`): `WEIRPART`, a format byte, the payload, then the CRC-32 of everything before;
//! - a manifest (`manifest.json`): JSON, then a line `#crc32=XXXXXXXX` over the JSON.
//!
//! Both are written to a temporary name, synced, and renamed into place, so a crash leaves either the
//! old file or the new one, never half of one.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::CheckpointError;

const MAGIC: &[u8; 8] = b"WEIRPART";
const FORMAT: u8 = 1;
const CRC_LINE: &str = "\n#crc32=";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io { path: path.to_path_buf(), source }
}

/// Writes `bytes` to `path` atomically and durably: temp file, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Makes a rename or a new file in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<(), CheckpointError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// A part file's bytes around `payload`, and the CRC recorded for it.
///
/// ```
/// let (bytes, crc) = weir::checkpoint::file::encode_part(b"state");
/// assert_eq!(weir::checkpoint::file::decode_part(std::path::Path::new("p"), &bytes).unwrap(), b"state");
/// let mut flipped = bytes.clone();
/// flipped[10] ^= 1;
/// assert!(weir::checkpoint::file::decode_part(std::path::Path::new("p"), &flipped).is_err());
/// assert_ne!(crc, 0);
/// ```
pub fn encode_part(payload: &[u8]) -> (Vec<u8>, u32) {
    let mut out = Vec::with_capacity(payload.len() + 13);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    (out, crc)
}

/// The payload of part file `path` read as `bytes`, after checking its header and CRC.
pub fn decode_part<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a [u8], CheckpointError> {
    let corrupt = |why: &str| CheckpointError::Corrupt { path: path.to_path_buf(), reason: why.to_string() };
    if bytes.len() < MAGIC.len() + 5 {
        return Err(corrupt("truncated: shorter than its header and checksum"));
    }
    let (body, tail) = bytes.split_at(bytes.len() - 4);
    if &body[..MAGIC.len()] != MAGIC {
        return Err(corrupt("not a Weir checkpoint part (bad header)"));
    }
    if body[MAGIC.len()] != FORMAT {
        return Err(corrupt(&format!("part format {} is not {FORMAT}", body[MAGIC.len()])));
    }
    let stored = u32::from_le_bytes(tail.try_into().expect("4 bytes"));
    if crc32fast::hash(body) != stored {
        return Err(corrupt("checksum mismatch (truncated or damaged)"));
    }
    Ok(&body[MAGIC.len() + 1..])
}

/// Reads part file `path`, checks it against the length and CRC its manifest recorded, and returns
/// its payload.
pub fn read_part(path: &Path, len: u64, crc: u32) -> Result<Vec<u8>, CheckpointError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    if bytes.len() as u64 != len {
        let reason = format!("{} bytes, the manifest recorded {len}", bytes.len());
        return Err(CheckpointError::Corrupt { path: path.to_path_buf(), reason });
    }
    let payload = decode_part(path, &bytes)?;
    let body_crc = crc32fast::hash(&bytes[..bytes.len() - 4]);
    if body_crc != crc {
        let reason = "checksum differs from the manifest's".to_string();
        return Err(CheckpointError::Corrupt { path: path.to_path_buf(), reason });
    }
    Ok(payload.to_vec())
}

/// A manifest's text: the JSON, then its CRC line.
///
/// ```
/// let text = weir::checkpoint::file::seal_json("{\"a\":1}");
/// assert_eq!(weir::checkpoint::file::open_json(std::path::Path::new("m"), &text).unwrap(), "{\"a\":1}");
/// assert!(weir::checkpoint::file::open_json(std::path::Path::new("m"), &text.replace('1', "2")).is_err());
/// ```
pub fn seal_json(json: &str) -> String {
    format!("{json}{CRC_LINE}{:08x}\n", crc32fast::hash(json.as_bytes()))
}

/// The JSON of a sealed manifest, after checking its CRC line.
pub fn open_json<'a>(path: &Path, text: &'a str) -> Result<&'a str, CheckpointError> {
    let corrupt = |why: &str| CheckpointError::Corrupt { path: path.to_path_buf(), reason: why.to_string() };
    let Some(at) = text.rfind(CRC_LINE) else { return Err(corrupt("no checksum line (truncated)")) };
    let (json, line) = (&text[..at], text[at + CRC_LINE.len()..].trim_end());
    let stored = u32::from_str_radix(line, 16).map_err(|_| corrupt("unreadable checksum line"))?;
    if crc32fast::hash(json.as_bytes()) != stored {
        return Err(corrupt("checksum mismatch (truncated or damaged)"));
    }
    Ok(json)
}

/// The directory of the checkpoint for batch `time`.
pub fn checkpoint_dir(root: &Path, time: u64) -> PathBuf {
    root.join(format!("checkpoint-{time:020}"))
}

/// The batch time of a checkpoint directory name, if it is one.
pub fn checkpoint_time(name: &str) -> Option<u64> {
    name.strip_prefix("checkpoint-")?.parse().ok()
}
