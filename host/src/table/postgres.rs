//! Tables from a PostgreSQL query, run on the job environment's I/O runtime from the thread that loads
//! it (the job's at start, a worker's when the table is reloaded between batches). Column types map to JSON: booleans, integers, floats, text and json(b); any
//! other type is refused, naming the column, so the query can cast it.

use serde_json::{Map, Value as Json};
use tokio_postgres::Row;
use tokio_postgres::types::Type;

use super::{Table, TableError, TableSpec};
use crate::pg::{self, message};

/// Runs `query` on the server at `url` and keys its rows.
pub fn load(
    name: &str,
    url: &str,
    query: &str,
    spec: &TableSpec,
    io: &tokio::runtime::Handle,
) -> Result<Table, TableError> {
    let err = |message: String| TableError::Query { table: name.into(), message };
    let (key, value) = spec.columns();
    io.block_on(async {
        let client = pg::connect(url).await.map_err(|e| err(format!("cannot connect: {}", message(&e))))?;
        let statement = client.prepare(query).await.map_err(|e| err(format!("query `{query}`: {}", message(&e))))?;
        let names: Vec<&str> = statement.columns().iter().map(|c| c.name()).collect();
        if let Some(missing) = std::iter::once(key).chain(value).find(|c| !names.contains(c)) {
            return Err(err(format!("query `{query}` has no column `{missing}` (columns: {})", names.join(", "))));
        }
        let rows = client.query(&statement, &[]).await.map_err(|e| err(format!("query `{query}`: {}", message(&e))))?;
        let mut table = Table::default();
        for row in &rows {
            table.add(to_json(row).map_err(err)?, key, value).map_err(err)?;
        }
        Ok(table)
    })
}

fn to_json(row: &Row) -> Result<Map<String, Json>, String> {
    let mut out = Map::new();
    for (i, column) in row.columns().iter().enumerate() {
        let get_err = |e: tokio_postgres::Error| format!("column `{}`: {e}", column.name());
        let ty = column.type_();
        let v = match *ty {
            Type::BOOL => row.try_get::<_, Option<bool>>(i).map_err(get_err)?.map(Json::from),
            Type::INT2 => row.try_get::<_, Option<i16>>(i).map_err(get_err)?.map(Json::from),
            Type::INT4 => row.try_get::<_, Option<i32>>(i).map_err(get_err)?.map(Json::from),
            Type::INT8 => row.try_get::<_, Option<i64>>(i).map_err(get_err)?.map(Json::from),
            Type::FLOAT4 => row.try_get::<_, Option<f32>>(i).map_err(get_err)?.map(|f| Json::from(f as f64)),
            Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).map_err(get_err)?.map(Json::from),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
                row.try_get::<_, Option<String>>(i).map_err(get_err)?.map(Json::from)
            }
            Type::JSON | Type::JSONB => row.try_get::<_, Option<Json>>(i).map_err(get_err)?,
            _ => {
                let name = column.name();
                return Err(format!(
                    "column `{name}` has type {ty}, which a table cannot hold; cast it in the query (e.g. `{name}::text`)"
                ));
            }
        };
        out.insert(column.name().to_string(), v.unwrap_or(Json::Null));
    }
    Ok(out)
}
