//! Named columns for the database sinks: which part of a record each column of the user's table holds
//! (`key`, `value`, a field of a JSON value, the batch time or the record's event time), the SQL types they are created with, and
//! the key an upsert replaces rows by. Without `columns`, a sink writes the fixed `(batch_time, key,
//! value)` layout, which is one such mapping.

use std::collections::BTreeMap;

use weir_sdk::packed::{Batch, HAS_KEY};

use crate::graph::spec::WriteMode;
use crate::render;

/// Where a column's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// The record's key, as text.
    Key,
    /// The whole value.
    Value,
    /// A field of a JSON object value (a dotted path); NULL when missing.
    Field(Vec<String>),
    /// The batch's time (for a windowed stream, the window's end), in milliseconds.
    BatchTime,
    /// The record's event time, in milliseconds (its batch's time unless a source or operator set it).
    EventTime,
}

/// One column of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// What it holds.
    pub part: Part,
    /// Its SQL type, when the spec gives one.
    pub sql_type: Option<String>,
}

impl Column {
    /// True when the column holds JSON (a value or field without a declared type).
    pub fn is_json(&self) -> bool {
        self.sql_type.is_none() && matches!(self.part, Part::Value | Part::Field(_))
    }
}

/// A table's columns and the ones that identify a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The columns, in table order.
    pub columns: Vec<Column>,
    /// The columns an upsert replaces rows by.
    pub primary_key: Vec<String>,
}

fn column(name: &str, part: Part) -> Column {
    Column { name: name.into(), part, sql_type: None }
}

fn ident(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 63
}

impl Layout {
    /// The fixed layout `(batch_time, key, value)`, keyed by `key` for an upsert.
    pub fn fixed(mode: WriteMode) -> Layout {
        let columns =
            vec![column("batch_time", Part::BatchTime), column("key", Part::Key), column("value", Part::Value)];
        let primary_key = if mode == WriteMode::Upsert { vec!["key".into()] } else { Vec::new() };
        Layout { columns, primary_key }
    }

    /// The layout a sink's `columns`, `column_types` and `primary_key` describe, or the field at fault
    /// and why.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use weir::graph::spec::WriteMode;
    /// use weir::sink::columns::{Layout, Part};
    /// let columns = BTreeMap::from([("device".to_string(), "key".to_string()), ("clicks".to_string(), "value.n".to_string())]);
    /// let l = Layout::from_spec(&columns, &BTreeMap::new(), &[], WriteMode::Upsert).unwrap();
    /// assert_eq!(l.primary_key, ["device"]);
    /// assert_eq!(l.columns[0].part, Part::Field(vec!["n".into()]));
    /// let bad = BTreeMap::from([("x".to_string(), "kye".to_string())]);
    /// assert_eq!(Layout::from_spec(&bad, &BTreeMap::new(), &[], WriteMode::Insert).unwrap_err().0, "columns.x");
    /// ```
    pub fn from_spec(
        columns: &BTreeMap<String, String>,
        types: &BTreeMap<String, String>,
        primary_key: &[String],
        mode: WriteMode,
    ) -> Result<Layout, (String, String)> {
        let mut out = Vec::new();
        for (name, from) in columns {
            let field = format!("columns.{name}");
            if !ident(name) {
                return Err((field, "a column name is letters, digits and _, not starting with a digit".into()));
            }
            let part = match from.as_str() {
                "key" => Part::Key,
                "value" => Part::Value,
                "batch_time" => Part::BatchTime,
                "event_time" => Part::EventTime,
                f => match f.strip_prefix("value.") {
                    Some(path) if !path.is_empty() && path.split('.').all(|p| !p.is_empty()) => {
                        Part::Field(path.split('.').map(String::from).collect())
                    }
                    _ => {
                        let msg = format!(
                            "`{from}`: a column holds `key`, `value`, `value.<field>`, `batch_time` or `event_time`"
                        );
                        return Err((field, msg));
                    }
                },
            };
            out.push(Column { name: name.clone(), part, sql_type: None });
        }
        for (name, ty) in types {
            let Some(c) = out.iter_mut().find(|c| &c.name == name) else {
                return Err((format!("column_types.{name}"), format!("no column `{name}` in `columns`")));
            };
            let ok = |ch: char| ch.is_ascii_alphanumeric() || " (),_".contains(ch);
            if ty.trim().is_empty() || !ty.chars().all(ok) {
                return Err((
                    format!("column_types.{name}"),
                    format!("`{ty}` is not an SQL type, e.g. BIGINT or VARCHAR(64)"),
                ));
            }
            c.sql_type = Some(ty.clone());
        }
        let primary_key: Vec<String> = if primary_key.is_empty() {
            out.iter().filter(|c| c.part == Part::Key).map(|c| c.name.clone()).collect()
        } else {
            primary_key.to_vec()
        };
        if let Some(missing) = primary_key.iter().find(|k| !out.iter().any(|c| &&c.name == k)) {
            return Err(("primary_key".into(), format!("no column `{missing}` in `columns`")));
        }
        if mode == WriteMode::Upsert && primary_key.is_empty() {
            let msg = "an upsert needs the columns that identify a row: map one to `key`, or give `primary_key`";
            return Err(("mode".into(), msg.into()));
        }
        if mode == WriteMode::Replace && !out.iter().any(|c| c.part == Part::BatchTime) {
            let msg = "`replace` deletes the rows of the batch's time: map a column to `batch_time`";
            return Err(("mode".into(), msg.into()));
        }
        Ok(Layout { columns: out, primary_key })
    }

    /// The column holding the batch time, if any.
    pub fn time_column(&self) -> Option<&str> {
        self.columns.iter().find(|c| c.part == Part::BatchTime).map(|c| c.name.as_str())
    }

    /// True when the layout keeps a record's key.
    pub fn keyed(&self) -> bool {
        self.columns.iter().any(|c| c.part == Part::Key)
    }

    /// The rows of `records` in `order` at batch `time`, one vector of texts per column (NULL as
    /// `None`): JSON text for JSON columns, plain text otherwise. With an upsert, only the last row
    /// of each primary key is kept (a statement may touch a row once), wherever in `order` its
    /// records are.
    pub fn rows(&self, records: &Batch, order: &[usize], mode: WriteMode, time: u64) -> Vec<Vec<Option<String>>> {
        let cols = self.all_rows(records, order, time);
        if mode != WriteMode::Upsert {
            return cols;
        }
        let pk: Vec<usize> =
            self.primary_key.iter().filter_map(|k| self.columns.iter().position(|c| &c.name == k)).collect();
        let identity = |row: usize| pk.iter().map(|&c| cols[c][row].clone()).collect::<Vec<_>>();
        let last: std::collections::HashMap<Vec<Option<String>>, usize> =
            (0..order.len()).map(|row| (identity(row), row)).collect();
        let keep: Vec<bool> = (0..order.len()).map(|row| last[&identity(row)] == row).collect();
        cols.into_iter().map(|col| col.into_iter().zip(&keep).filter(|(_, k)| **k).map(|(v, _)| v).collect()).collect()
    }

    /// Every record of `records` in `order` as a row, column by column.
    fn all_rows(&self, records: &Batch, order: &[usize], time: u64) -> Vec<Vec<Option<String>>> {
        let mut cols: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(order.len()); self.columns.len()];
        for &i in order {
            let r = records.get(i);
            let keyed = records.kinds[i] & HAS_KEY != 0;
            for (c, out) in self.columns.iter().zip(cols.iter_mut()) {
                out.push(match &c.part {
                    Part::Key => keyed.then(|| render::lossy(records.key_bytes(i)).into_owned()),
                    Part::BatchTime => Some(time.to_string()),
                    Part::EventTime => Some(records.event_times[i].to_string()),
                    Part::Value if c.is_json() => Some(render::value_json_text(&r.value)),
                    Part::Value => plain(&render::value_json(&r.value)),
                    Part::Field(path) => {
                        let v = render::value_json(&r.value);
                        let found = path.iter().try_fold(&v, |v, p| v.get(p));
                        match found {
                            None | Some(serde_json::Value::Null) => None,
                            Some(f) if c.is_json() => Some(f.to_string()),
                            Some(f) => plain(f),
                        }
                    }
                });
            }
        }
        cols
    }
}

/// A JSON value as a typed column takes it: text unquoted, numbers and booleans as written.
fn plain(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use weir_sdk::packed::{Batch, ValueRef};

    use super::{Layout, Part, WriteMode, column};

    #[test]
    fn an_upsert_keeps_the_last_row_of_each_primary_key_wherever_it_is() {
        // Two windows of `a`, not next to each other (a `top` per event time writes window by window).
        let mut b = Batch::new();
        b.push(Some(b"a"), ValueRef::I64(1), 1000);
        b.push(Some(b"b"), ValueRef::I64(2), 1000);
        b.push(Some(b"a"), ValueRef::I64(3), 2000);
        let columns = vec![column("k", Part::Key), column("start", Part::EventTime), column("v", Part::Value)];
        let by =
            |pk: &[&str]| Layout { columns: columns.clone(), primary_key: pk.iter().map(|s| s.to_string()).collect() };
        let some = |s: &str| Some(s.to_string());
        let rows = by(&["k", "start"]).rows(&b, &[0, 1, 2], WriteMode::Upsert, 5000);
        assert_eq!(rows[2], [some("1"), some("2"), some("3")], "one row per key and window: none dropped");
        let rows = by(&["k"]).rows(&b, &[0, 1, 2], WriteMode::Upsert, 5000);
        assert_eq!(rows[0], [some("b"), some("a")], "one row per key, its last record winning");
        assert_eq!(rows[2], [some("2"), some("3")]);
        assert_eq!(by(&["k"]).rows(&b, &[0, 1, 2], WriteMode::Insert, 5000)[0].len(), 3);
    }
}
