//! Table files: CSV with a header row (column types inferred as Spark's `inferSchema`: a column whose
//! every non-empty field is an integer holds integers, else floats, else text; an empty field is null)
//! and JSON lines (one object per line).

use std::path::Path;

use serde_json::{Map, Number, Value as Json};

use super::{Table, TableError, TableFormat, TableSpec};

/// Loads the file table `name` at `path`.
pub fn load(name: &str, path: &Path, spec: &TableSpec) -> Result<Table, TableError> {
    let read_err = |source| TableError::Read { table: name.into(), path: path.into(), source };
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    let row_err =
        |line: usize, message: String| TableError::Row { table: name.into(), path: path.into(), line, message };
    let (key, value) = spec.columns();
    let mut table = Table::default();
    let rows = match spec.format() {
        Some(TableFormat::Csv) => csv_rows(&text, key, value).map_err(|(line, m)| row_err(line, m))?,
        _ => jsonl_rows(&text).map_err(|(line, m)| row_err(line, m))?,
    };
    for (line, row) in rows {
        table.add(row, key, value).map_err(|m| row_err(line, m))?;
    }
    Ok(table)
}

/// A problem at a 1-based line.
type LineError = (usize, String);

/// Rows with their 1-based lines.
type Rows = Vec<(usize, Map<String, Json>)>;

fn jsonl_rows(text: &str) -> Result<Rows, LineError> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match serde_json::from_str::<Json>(line) {
            Ok(Json::Object(row)) => rows.push((i + 1, row)),
            Ok(_) => return Err((i + 1, "a row must be a JSON object".into())),
            Err(e) => return Err((i + 1, format!("not JSON: {e}"))),
        }
    }
    Ok(rows)
}

/// What every non-empty field of a CSV column parses as.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ColumnType {
    Int,
    Float,
    Text,
}

fn field_type(field: &str) -> ColumnType {
    if field.parse::<i64>().is_ok() {
        ColumnType::Int
    } else if field.parse::<f64>().is_ok_and(f64::is_finite) {
        ColumnType::Float
    } else {
        ColumnType::Text
    }
}

fn typed(field: &str, ty: ColumnType) -> Json {
    match ty {
        _ if field.is_empty() => Json::Null,
        ColumnType::Int => field.parse::<i64>().map_or(Json::Null, Json::from),
        ColumnType::Float => field.parse::<f64>().ok().and_then(Number::from_f64).map_or(Json::Null, Json::Number),
        ColumnType::Text => Json::String(field.into()),
    }
}

fn csv_rows(text: &str, key: &str, value: Option<&str>) -> Result<Rows, LineError> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().map_err(|e| (1, e.to_string()))?.iter().map(String::from).collect();
    for column in std::iter::once(key).chain(value) {
        if !header.iter().any(|h| h == column) {
            return Err((1, format!("the header has no column `{column}` (columns: {})", header.join(", "))));
        }
    }
    let mut records = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| (e.position().map_or(0, |p| p.line() as usize), e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        records.push((line, record));
    }
    let mut types = vec![ColumnType::Int; header.len()];
    for (_, r) in &records {
        for (ty, field) in types.iter_mut().zip(r.iter()).filter(|(_, f)| !f.is_empty()) {
            *ty = (*ty).max(field_type(field));
        }
    }
    let rows = records.into_iter().map(|(line, r)| {
        let mut row = Map::new();
        for (i, column) in header.iter().enumerate() {
            let field = r.get(i).unwrap_or_default();
            // The key column keeps its text, so `007` matches a record keyed `007`.
            let v =
                if column == key && !field.is_empty() { Json::String(field.into()) } else { typed(field, types[i]) };
            row.insert(column.clone(), v);
        }
        (line, row)
    });
    Ok(rows.collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn csv_columns_are_typed_as_a_whole_and_the_key_keeps_its_text() {
        let rows = csv_rows("id,n,x,name\n007,1,1.5,a\n8,2,2,\n", "id", None).unwrap();
        assert_eq!(rows[0].1, *json!({"id": "007", "n": 1, "x": 1.5, "name": "a"}).as_object().unwrap());
        assert_eq!(rows[1].1, *json!({"id": "8", "n": 2, "x": 2.0, "name": null}).as_object().unwrap());
        assert_eq!(rows[1].0, 3);
    }

    #[test]
    fn a_missing_column_or_a_ragged_row_names_its_line() {
        let err = csv_rows("id,name\n1,a\n", "key", None).unwrap_err();
        assert_eq!(err.0, 1);
        assert!(err.1.contains("no column `key`"), "{}", err.1);
        let err = csv_rows("id,name\n1,a\n2,b,c\n", "id", None).unwrap_err();
        assert_eq!(err.0, 3, "{}", err.1);
        assert_eq!(jsonl_rows("{\"id\": 1}\n\n[1]\n").unwrap_err().0, 3);
    }
}
