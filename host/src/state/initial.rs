//! Initial state from a JSON-lines file, as Spark's `initialRDD`: one key per line, written
//! `{"key": "hello", "value": 1}` or `["hello", 1]`.

use std::path::Path;

use serde_json::Value as Json;
use weir_sdk::packed::Batch;

use super::StateError;
use crate::receiver::scripted::push_value;

/// Reads the initial state in `path` as a batch of keyed records, refusing the file at its first bad line.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("init.jsonl");
/// std::fs::write(&path, "{\"key\": \"hello\", \"value\": 1}\n[\"world\", 2]\n").unwrap();
/// let b = weir::state::load_initial(&path).unwrap();
/// assert_eq!(b.len(), 2);
/// assert_eq!(b.key_bytes(1), b"world");
/// std::fs::write(&path, "[\"a\"]\n").unwrap();
/// assert!(weir::state::load_initial(&path).unwrap_err().to_string().contains(":1:"));
/// ```
pub fn load_initial(path: &Path) -> Result<Batch, StateError> {
    let err = |line: usize, message: String| StateError::Initial { path: path.to_path_buf(), line, message };
    let text = std::fs::read_to_string(path).map_err(|e| err(0, e.to_string()))?;
    let mut batch = Batch::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let item: Json = serde_json::from_str(line).map_err(|e| err(i + 1, format!("not JSON: {e}")))?;
        let (key, value) = match &item {
            Json::Object(o) => (o.get("key"), o.get("value")),
            Json::Array(a) if a.len() == 2 => (a.first(), a.get(1)),
            _ => (None, None),
        };
        let key = match key {
            Some(Json::String(s)) => s.clone(),
            Some(Json::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        match value {
            Some(v) if !key.is_empty() => push_value(&mut batch, Some(key.as_bytes()), v, 0),
            _ => return Err(err(i + 1, "write {\"key\": .., \"value\": ..} or [key, value]".into())),
        }
    }
    Ok(batch)
}
