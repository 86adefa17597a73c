//! Throwaway databases, for tests: create `<prefix><random>` on the server a URL points
//! at, hand out its URL, drop it afterwards. The same shape as the PostgreSQL store's, so
//! that the HTTP suites take either. The server itself never uses this.

use crate::rows::db;
use crate::schema::{OWN_COLLATION, identifier};
use chat_core::StoreError;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// A database made for one test run. Dropping the value does not drop the database: call
/// [`ScratchDb::drop_database`] (async) or [`ScratchDb::drop_blocking`], or hold a
/// [`ScratchGuard`].
#[derive(Debug, Clone)]
pub struct ScratchDb {
    server_url: String,
    name: String,
    url: String,
}

fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

/// The server of `url`, entered through `information_schema`, which every server has.
fn server(url: &str) -> Result<sqlx::mysql::MySqlConnectOptions, StoreError> {
    Ok(crate::connect_options(url)?.database("information_schema"))
}

impl ScratchDb {
    /// Create `<prefix><16 random hex digits>` (utf8mb4) on the server of `server_url`
    /// (`mysql://` or `mariadb://`; its own database need not exist).
    pub async fn create(server_url: &str, prefix: &str) -> Result<ScratchDb, StoreError> {
        let name = identifier("database name", &format!("{prefix}{:016x}", random_u64()))?;
        let mut conn = server(server_url)?.connect().await.map_err(db)?;
        sqlx::query(AssertSqlSafe(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE {OWN_COLLATION}"
        )))
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

    /// Drop the database, ending any sessions still connected to it first (a test server's
    /// pool may still hold a transaction, whose locks would make `DROP DATABASE` wait).
    pub async fn drop_database(&self) -> Result<(), StoreError> {
        let mut conn = server(&self.server_url)?.connect().await.map_err(db)?;
        let sessions: Vec<i64> = sqlx::query_scalar(
            "SELECT CAST(ID AS SIGNED) FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()",
        )
        .bind(&self.name)
        .fetch_all(&mut conn)
        .await
        .map_err(db)?;
        for id in sessions {
            // Gone already is fine: it was ending anyway.
            let _ = sqlx::query(AssertSqlSafe(format!("KILL CONNECTION {id}")))
                .execute(&mut conn)
                .await;
        }
        sqlx::query("SET SESSION lock_wait_timeout = 60")
            .execute(&mut conn)
            .await
            .map_err(db)?;
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS `{}`",
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
    let authority_start = base.find("://").map_or(0, |i| i + 3);
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
            with_database("mysql://root@127.0.0.1:3306/test", "x"),
            "mysql://root@127.0.0.1:3306/x"
        );
        assert_eq!(
            with_database("mariadb://u:p@h/db?ssl-mode=disabled", "x"),
            "mariadb://u:p@h/x?ssl-mode=disabled"
        );
        assert_eq!(with_database("mysql://h:1", "x"), "mysql://h:1/x");
        assert_ne!(random_u64(), random_u64());
    }
}
