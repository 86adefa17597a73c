//! Nati Chat storage on an embedded SQLite file.
//!
//! One writer connection (SQLite has one writer anyway; in-process queuing beats
//! `SQLITE_BUSY`) and a small pool of read-only connections, WAL journal, foreign keys on.
//! All SQL of this backend is in this crate: accounts and sessions in [`accounts`], chats,
//! messages, read positions and events in [`chats`].
#![forbid(unsafe_code)]

pub mod backup;
pub mod bench_seed;
mod outbox;
mod rows;
mod sql;
mod write;

chat_store_sql::account_store!(SqliteStore);
chat_store_sql::canned_reply_store!(SqliteStore);
chat_store_sql::routing_store!(SqliteStore);
chat_store_sql::attachment_store!(SqliteStore);
chat_store_sql::report_store!(SqliteStore);
chat_store_sql::chat_reads!(SqliteStore);
chat_store_sql::host_store!(SqliteStore);
chat_store_sql::job_store!(SqliteStore);
chat_store_sql::webhook_store!(SqliteStore);

use chat_core::{Store, StoreError};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

/// Migrations of this backend, applied at start and by `nati-chat migrate`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The most commands one write transaction takes.
const MAX_BATCH: usize = 512;

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    /// The single writer: every write transaction queues here.
    pub(crate) writer: SqlitePool,
    /// Readers see committed data (WAL) without waiting for the writer.
    pub(crate) reader: SqlitePool,
    /// The node's writer: every chat write (messages, assignments, status changes, starts,
    /// reads) queues here and shares transactions and commits, on a connection of its own
    /// (see [`write`]).
    pub(crate) queue: chat_core::write::WriteQueue,
}

/// How to open the file.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// `FULL` (default) syncs every commit: nothing acknowledged is lost even on power
    /// loss. `NORMAL` survives process crashes but not power loss.
    pub synchronous_full: bool,
    pub readers: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous_full: true,
            readers: 4,
        }
    }
}

impl SqliteStore {
    /// Open (creating if missing) the database at `url` (`sqlite://path`) and apply
    /// pending migrations.
    pub async fn open(url: &str, opts: &SqliteOptions) -> Result<Self, StoreError> {
        let base = SqliteConnectOptions::from_str(url)
            .map_err(rows::db)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if opts.synchronous_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(base.clone())
            .await
            .map_err(rows::db)?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(opts.readers.max(1))
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(base.clone().read_only(true))
            .await
            .map_err(rows::db)?;
        let path = base.get_filename().to_owned();
        let full = opts.synchronous_full;
        let queue = chat_core::write::WriteQueue::spawn(
            move || async move { write::SqliteExecutor::open(&path, full) },
            MAX_BATCH,
        )
        .await?;
        Ok(SqliteStore {
            writer,
            reader,
            queue,
        })
    }

    /// Apply pending migrations without opening a store (the `migrate` command).
    pub async fn migrate(url: &str) -> Result<(), StoreError> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(rows::db)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .map_err(rows::db)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?;
        pool.close().await;
        Ok(())
    }

    /// Begin a write transaction on the pool's writer connection. `IMMEDIATE`: it takes
    /// the write lock at once, waiting (busy timeout) while the chat writer holds it, so a
    /// read inside it can never be overtaken by the other connection's commit.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(rows::db)
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn writer(&self) -> &chat_core::write::WriteQueue {
        &self.queue
    }
}

/// One node: nothing to tell, nobody to hear from (the defaults).
#[async_trait::async_trait]
impl chat_core::store::NodeStore for SqliteStore {
    fn pool_stats(&self) -> Vec<chat_core::store::PoolStats> {
        use chat_core::store::PoolStats;
        vec![
            PoolStats {
                name: "writer",
                open: self.writer.size(),
                idle: u32::try_from(self.writer.num_idle()).unwrap_or(u32::MAX),
                max: self.writer.options().get_max_connections(),
            },
            PoolStats {
                name: "reader",
                open: self.reader.size(),
                idle: u32::try_from(self.reader.num_idle()).unwrap_or(u32::MAX),
                max: self.reader.options().get_max_connections(),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_core::AccountRole;
    use chat_core::prelude::*;

    #[tokio::test]
    async fn conformance_story_on_a_real_sqlite_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("chat.db").display());
        let store = SqliteStore::open(
            &url,
            &SqliteOptions {
                synchronous_full: false,
                readers: 2,
            },
        )
        .await
        .expect("open");
        chat_core::conformance::run(&store).await;
        // Reopening applies no migration twice and keeps the data.
        store.close().await;
        let again = SqliteStore::open(&url, &SqliteOptions::default())
            .await
            .expect("reopen");
        assert!(again.last_event_id().await.expect("events") > 0);
    }

    /// Many writers, pollers and claimers at once (chat-core's concurrency checks).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrency_on_a_real_sqlite_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("chat.db").display());
        let store = SqliteStore::open(&url, &SqliteOptions::default())
            .await
            .expect("open");
        chat_core::conformance_concurrency::run(std::sync::Arc::new(store)).await;
    }

    #[tokio::test]
    async fn host_identity_story_after_migrating_existing_accounts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("chat.db").display());
        // A database from before migration 4, with an account and a chat pointing at it.
        {
            let old = sqlx::migrate::Migrator::with_migrations(
                MIGRATOR.iter().filter(|m| m.version < 4).cloned().collect(),
            );
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(
                    SqliteConnectOptions::from_str(&url)
                        .expect("url")
                        .create_if_missing(true)
                        .foreign_keys(true),
                )
                .await
                .expect("connect");
            old.run(&pool).await.expect("migrations 1-3");
            sqlx::query(
                "INSERT INTO tbl_user (id, email, name, password_hash, created_at, updated_at) \
                 VALUES (7, 'old@x.test', 'Old', 'x', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'); \
                 INSERT INTO tbl_chats (user_id, created_at, updated_at) \
                 VALUES (7, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')",
            )
            .execute(&pool)
            .await
            .expect("old rows");
            pool.close().await;
        }
        let store = SqliteStore::open(&url, &SqliteOptions::default())
            .await
            .expect("open");
        let kept = store
            .account(AccountRole::User, 7)
            .await
            .expect("account")
            .expect("kept");
        assert_eq!(
            (kept.email.as_str(), kept.host_id.as_deref()),
            ("old@x.test", None)
        );
        let broken: Vec<sqlx::sqlite::SqliteRow> = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&store.writer)
            .await
            .expect("fk check");
        assert!(broken.is_empty(), "foreign keys intact after the rebuild");
        chat_core::conformance::host_identity(&store).await;
        // Foreign keys are back on after the table rebuild of migration 4.
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&store.writer)
            .await
            .expect("pragma");
        assert_eq!(fk, 1);
    }
}
