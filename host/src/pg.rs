//! What the PostgreSQL clients (static tables in `table/postgres.rs`, the sink in `sink/postgres.rs`)
//! share: connecting with the connection driven on the caller's runtime, and the server's own message
//! for an error.

use tokio_postgres::{Client, NoTls};

/// Connects to `url` and spawns the connection's driver on the current runtime; it ends when the
/// client is dropped or the runtime stops.
pub async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// The server's own message when there is one (`Display` alone says only "db error").
pub fn message(e: &tokio_postgres::Error) -> String {
    e.as_db_error().map_or_else(|| e.to_string(), |db| db.message().to_string())
}

/// Whether `e` means the server could not be reached or dropped the connection, which is worth waiting
/// for, rather than that it refused what was asked: no server error at all (I/O, a closed connection),
/// a connection exception (SQLSTATE class 08) or an operator intervention such as a shutdown (class 57).
pub fn unreachable(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        Some(code) => code.code().starts_with("08") || code.code().starts_with("57"),
        None => e.is_closed() || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}
