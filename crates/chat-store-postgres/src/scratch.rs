//! Throwaway databases, for tests: create `<prefix><random>` on the server a URL points
//! at, hand out its URL, drop it afterwards. The conformance test and the HTTP suites use
//! this; the server itself never does.

use crate::random_u64;
use crate::rows::db;
use chat_core::StoreError;
use sqlx::{Connection, PgConnection};

/// A database made for one test run. Dropping the value does not drop the database: call
/// [`ScratchDb::drop_database`] (async) or [`ScratchDb::drop_blocking`].
#[derive(Debug, Clone)]
pub struct ScratchDb {
    server_url: String,
    name: String,
    url: String,
}

impl ScratchDb {
    /// Create `<prefix><16 random hex digits>` on the server of `server_url` (whose own
    /// database is used only to issue `CREATE DATABASE`). `prefix` must be lowercase
    /// letters, digits and `_`.
    pub async fn create(server_url: &str, prefix: &str) -> Result<ScratchDb, StoreError> {
        if prefix.is_empty()
            || !prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(StoreError::Database(format!(
                "bad database name prefix `{prefix}`"
            )));
        }
        let name = format!("{prefix}{:016x}", random_u64());
        let mut conn = PgConnection::connect(server_url).await.map_err(db)?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .map_err(db)?;
        let _ = conn.close().await;
        Ok(ScratchDb {
            url: with_database(server_url, &name),
            server_url: server_url.to_owned(),
            name,
        })
    }

    /// The URL of the new database (the server URL with its database replaced).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drop the database, ending any sessions still connected to it.
    pub async fn drop_database(&self) -> Result<(), StoreError> {
        let mut conn = PgConnection::connect(&self.server_url).await.map_err(db)?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        )))
        .execute(&mut conn)
        .await
        .map_err(db)?;
        let _ = conn.close().await;
        Ok(())
    }

    /// [`ScratchDb::drop_database`] from synchronous code (a `Drop` impl, possibly inside an
    /// async runtime): runs on a thread with its own runtime and waits for it.
    pub fn drop_blocking(&self) -> Result<(), StoreError> {
        let me = self.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| StoreError::Database(e.to_string()))?;
            rt.block_on(me.drop_database())
        })
        .join()
        .unwrap_or_else(|_| Err(StoreError::Database("drop thread panicked".into())))
    }
}

/// Drops its database when it goes out of scope (also when a test panics), unless
/// [`ScratchGuard::disarm`]ed first.
#[derive(Debug)]
pub struct ScratchGuard(Option<ScratchDb>);

impl ScratchGuard {
    pub fn new(db: ScratchDb) -> ScratchGuard {
        ScratchGuard(Some(db))
    }

    pub fn db(&self) -> Option<&ScratchDb> {
        self.0.as_ref()
    }

    /// Keep the database: hand it back instead of dropping it.
    pub fn disarm(&mut self) -> Option<ScratchDb> {
        self.0.take()
    }
}

impl Drop for ScratchGuard {
    fn drop(&mut self) {
        if let Some(db) = self.0.take()
            && let Err(e) = db.drop_blocking()
        {
            eprintln!("could not drop database {}: {e}", db.name());
        }
    }
}

/// `url` with its database (the path) replaced by `name`, keeping any query string.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let server = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "x"), "postgres://h:1/x");
        assert_ne!(random_u64(), random_u64());
    }
}
