//! The machine's databases through their own command-line clients (not through Weir): PostgreSQL on
//! 127.0.0.1:5432 and MariaDB on 127.0.0.1:3306, database `test` on both.

use std::process::Command;

/// Runs `sql` on the `kind` (`postgres` or `mariadb`) server and returns the rows, columns joined by `|`.
pub fn sql(kind: &str, sql: &str) -> Vec<String> {
    let out = match kind {
        "postgres" => Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
            .output(),
        _ => Command::new("mariadb").args(["-h", "127.0.0.1", "-u", "root", "-N", "-B", "-e", sql, "test"]).output(),
    }
    .expect("the database client runs");
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.replace('\t', "|")).collect()
}
