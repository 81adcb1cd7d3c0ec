//! The `[tables.NAME]` tables of a job spec: static tables a stream joins with, loaded at job start and
//! optionally reloaded on a period.

use std::path::PathBuf;

use serde::Deserialize;

use crate::graph::spec::Millis;

/// How a table file is written.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TableFormat {
    /// Comma-separated values with a header row; column types are inferred as Spark's `inferSchema`.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// A `[tables.NAME]` table.
#[derive(Debug, Deserialize, Clone)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TableSpec {
    /// A CSV or JSON-lines file.
    File {
        /// The file, relative to the spec file.
        path: PathBuf,
        /// `csv` or `jsonl` (default: from the file's extension).
        #[serde(default)]
        format: Option<TableFormat>,
        /// The column holding each row's key.
        key: String,
        /// The column joined as the value (default: the whole row as an object).
        #[serde(default)]
        value: Option<String>,
        /// Reload the table this often (default: never).
        #[serde(default)]
        reload: Option<Millis>,
    },
    /// The rows of a PostgreSQL query.
    Postgres {
        /// Connection string, e.g. `postgres://postgres@127.0.0.1/test`.
        url: String,
        /// The query; its columns are the table's columns.
        query: String,
        /// The column holding each row's key.
        key: String,
        /// The column joined as the value (default: the whole row as an object).
        #[serde(default)]
        value: Option<String>,
        /// Reload the table this often (default: never).
        #[serde(default)]
        reload: Option<Millis>,
    },
}

impl TableSpec {
    /// The key column and the value column, if one is named.
    ///
    /// ```
    /// let t: weir::table::TableSpec = toml::from_str("kind = \"file\"\npath = \"a.csv\"\nkey = \"id\"").unwrap();
    /// assert_eq!(t.columns(), ("id", None));
    /// ```
    pub fn columns(&self) -> (&str, Option<&str>) {
        match self {
            TableSpec::File { key, value, .. } | TableSpec::Postgres { key, value, .. } => (key, value.as_deref()),
        }
    }

    /// How often the table is reloaded, in milliseconds.
    ///
    /// ```
    /// let t: weir::table::TableSpec =
    ///     toml::from_str("kind = \"file\"\npath = \"a.csv\"\nkey = \"id\"\nreload = \"10s\"").unwrap();
    /// assert_eq!(t.reload(), Some(10_000));
    /// ```
    pub fn reload(&self) -> Option<u64> {
        match self {
            TableSpec::File { reload, .. } | TableSpec::Postgres { reload, .. } => reload.map(|r| r.0),
        }
    }

    /// The format of a file table: as written, or from the extension (`.csv`, else JSON lines).
    ///
    /// ```
    /// use weir::table::{TableFormat, TableSpec};
    /// let t: TableSpec = toml::from_str("kind = \"file\"\npath = \"a.CSV\"\nkey = \"id\"").unwrap();
    /// assert_eq!(t.format(), Some(TableFormat::Csv));
    /// ```
    pub fn format(&self) -> Option<TableFormat> {
        match self {
            TableSpec::File { format: Some(f), .. } => Some(*f),
            TableSpec::File { path, .. } => {
                let csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
                Some(if csv { TableFormat::Csv } else { TableFormat::Jsonl })
            }
            TableSpec::Postgres { .. } => None,
        }
    }

    /// Where the table comes from, for messages: the file path or the query.
    pub fn origin(&self) -> String {
        match self {
            TableSpec::File { path, .. } => path.display().to_string(),
            TableSpec::Postgres { query, .. } => format!("query `{query}`"),
        }
    }
}
