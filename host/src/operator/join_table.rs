//! `join_table`: joins each keyed record with the rows of a static table that share its key, as Spark's
//! `stream.transform(rdd => rdd.join(table))`. Every worker joins its own share of the batch against the
//! same version of the table, so no exchange is needed (the table is broadcast).

use std::fmt::Write;
use std::sync::Arc;

use serde_json::Value as Json;
use weir_sdk::packed::{Batch, HAS_KEY, ValueRef};

use super::BatchOperator;
use super::dead_letter::DeadLetters;
use crate::render::value_json;
use crate::table::StaticTable;

/// The join of one stream with one table.
pub struct JoinTable {
    /// Stream name, for dead letters.
    pub name: String,
    /// The table.
    pub table: Arc<StaticTable>,
    /// Keep records without a row, with `null` for the row (`left_outer`), or drop them (`inner`).
    pub keep_unmatched: bool,
    /// Refused records.
    pub dead: Arc<DeadLetters>,
}

impl BatchOperator for JoinTable {
    /// Each record's value becomes `[value, row]`, once per matching row.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use weir::operator::{BatchOperator, join_table::JoinTable, dead_letter::DeadLetters};
    /// use weir::table::{StaticTable, TableSpec};
    /// use weir_sdk::packed::{Batch, ValueRef};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("t.jsonl");
    /// std::fs::write(&path, "{\"id\": \"a\", \"n\": 1}\n").unwrap();
    /// let spec = TableSpec::File { path, format: None, key: "id".into(), value: Some("n".into()), reload: None };
    /// let io = weir::job::Env::process().unwrap();
    /// let table = Arc::new(StaticTable::open("t", &spec, 1000, io.io()).unwrap());
    /// let dead = Arc::new(DeadLetters::open("job", None).unwrap());
    /// let mut op = JoinTable { name: "j".into(), table, keep_unmatched: true, dead };
    /// let mut b = Batch::new();
    /// b.push(Some(b"a"), ValueRef::I64(5), 0);
    /// b.push(Some(b"b"), ValueRef::I64(6), 0);
    /// let out = op.process(1000, b);
    /// assert_eq!(out.get(0).value, ValueRef::Json("[5,1]"));
    /// assert_eq!(out.get(1).value, ValueRef::Json("[6,null]"));
    /// ```
    fn process(&mut self, time: u64, input: Batch) -> Batch {
        let table = self.table.for_batch(time);
        let mut out = Batch::with_capacity(input.len(), input.len() * 16);
        let mut text = String::new();
        for i in 0..input.len() {
            let record = input.get(i);
            if input.kinds[i] & HAS_KEY == 0 {
                self.dead.record(&self.name, time, &record, &DeadLetters::unkeyed("joining with a table"));
                continue;
            }
            let rows = table.get(input.key_bytes(i));
            if rows.is_empty() && !self.keep_unmatched {
                continue;
            }
            let left = value_json(&record.value);
            let null = [Json::Null];
            for row in if rows.is_empty() { &null[..] } else { rows } {
                text.clear();
                // Compact JSON of `[left, row]` without building the pair.
                let _ = write!(text, "[{left},{row}]");
                out.push(record.key, ValueRef::Json(&text), record.time);
            }
        }
        out
    }
}
