//! A loaded table: rows by key. Every loader hands rows over as JSON objects; the key column's text is
//! the key, so `7` in a file matches a record keyed `7`.

use std::collections::HashMap;

use serde_json::{Map, Value as Json};

/// The rows of a table by key; a key may have several rows (each one joins).
#[derive(Debug, Default)]
pub struct Table {
    by_key: HashMap<Vec<u8>, Vec<Json>>,
    rows: usize,
}

/// The key text of a column value; `None` for null, which joins with nothing (as in SQL).
fn key_text(v: &Json) -> Option<String> {
    match v {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl Table {
    /// Adds one row: keyed by column `key`, valued by column `value` or the whole row. A row without
    /// the key column is refused with the reason.
    ///
    /// ```
    /// use serde_json::json;
    /// let mut t = weir::table::Table::default();
    /// let row = |v: serde_json::Value| v.as_object().unwrap().clone();
    /// t.add(row(json!({"id": 7, "name": "x"})), "id", None).unwrap();
    /// t.add(row(json!({"id": null})), "id", None).unwrap();
    /// assert!(t.add(row(json!({"name": "y"})), "id", None).is_err());
    /// assert_eq!(t.get(b"7"), &[json!({"id": 7, "name": "x"})]);
    /// assert_eq!((t.rows(), t.keys()), (1, 1));
    /// ```
    pub fn add(&mut self, mut row: Map<String, Json>, key: &str, value: Option<&str>) -> Result<(), String> {
        let Some(k) = row.get(key) else {
            let columns: Vec<&str> = row.keys().map(String::as_str).collect();
            return Err(format!("no column `{key}` (columns: {})", columns.join(", ")));
        };
        let Some(k) = key_text(k) else { return Ok(()) };
        let v = match value {
            Some(column) => row.remove(column).unwrap_or(Json::Null),
            None => Json::Object(row),
        };
        self.by_key.entry(k.into_bytes()).or_default().push(v);
        self.rows += 1;
        Ok(())
    }

    /// The rows with key `key`, in the order loaded.
    pub fn get(&self, key: &[u8]) -> &[Json] {
        self.by_key.get(key).map_or(&[], Vec::as_slice)
    }

    /// Rows held (rows with a null key are not).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Distinct keys.
    pub fn keys(&self) -> usize {
        self.by_key.len()
    }
}
