//! Nati Chat storage on PostgreSQL.
//!
//! One connection pool; every write is one transaction. All SQL of this backend is in this
//! crate: accounts, sessions, guests, preferences and socket tickets in [`accounts`];
//! chats, messages, read positions and the event log in [`chats`]; the email outbox in
//! [`outbox`]. The migrations (`migrations/`) keep the same tables, columns, constraints
//! and indexes as the SQLite backend's, in PostgreSQL's types, and are applied on open.
//!
//! # Concurrency
//!
//! Where SQLite relies on its single writer, this store locks:
//!
//! - **The chat row.** Every write to a chat starts with `SELECT ... FOR UPDATE` on its
//!   row, so the rule passed to `update_chat`/`send_message` is asked about the chat as
//!   locked, and the chat's `seq` is taken without gaps or duplicates. `expire_guest`
//!   locks all the guest's chats at once, in id order. Planning an email locks the chat
//!   too, so a recipient has at most one pending email per chat.
//! - **The event log.** Event ids come from an identity sequence, and a sequence hands out
//!   numbers *before* commit: with two writers, event 11 could commit before event 10, and
//!   a reader of `events_after(9)` would see 11, move its cursor past 10 and never see it.
//!   So every transaction that inserts events takes one transaction-scoped advisory lock,
//!   `pg_advisory_xact_lock(EVENT_LOG_LOCK)`, after its chat row locks and right before
//!   its first insert (for `send_message`, before the message, so message ids are ordered
//!   the same way). PostgreSQL releases the lock only after the commit is visible, so the
//!   next event writer takes its ids after all smaller ids are committed: event ids are
//!   assigned and committed in the same order, and a reader never sees a hole that fills in
//!   later. The price: event-writing transactions run one at a time (each is a few short
//!   statements; other writes and all reads are not affected). The lock is always the last
//!   one such a transaction takes, so it cannot deadlock with the row locks.
//! - **Snapshots.** `unread_snapshot` reads in one `REPEATABLE READ READ ONLY`
//!   transaction, so its newest event id and its counts come from one snapshot.
//! - **Unique keys.** Upserts use `ON CONFLICT`; a taken account email is
//!   `StoreError::Duplicate`; two racing chat starts with the same client id make one chat.
//! - **Outbox claims** use `FOR UPDATE SKIP LOCKED`, so two claimers never take one row.
//!
//! # Several nodes
//!
//! Servers sharing one database tell each other about new events with `NOTIFY` on the
//! channel [`EVENTS_CHANNEL`] (`announce_events`, payload: the sending store's node id) and
//! hear them with `LISTEN` (`remote_events`, which ignores its own node's notifications).
//! The listener holds one connection of the pool while the hub runs.
#![forbid(unsafe_code)]

mod blobs;
mod chats;
mod nodes;
mod outbox;
mod rows;
pub mod scratch;
mod sql;
mod write;

chat_store_sql::account_store!(PgStore);
chat_store_sql::canned_reply_store!(PgStore);
chat_store_sql::routing_store!(PgStore);
chat_store_sql::attachment_store!(PgStore);
chat_store_sql::report_store!(PgStore);
chat_store_sql::chat_reads!(PgStore);
chat_store_sql::host_store!(PgStore);
chat_store_sql::job_store!(PgStore);
chat_store_sql::webhook_store!(PgStore);

use chat_core::{Store, StoreError};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

pub use chats::EVENT_LOG_LOCK;
pub use nodes::EVENTS_CHANNEL;

/// 64 random bits without a dependency: the standard library's randomly keyed hasher,
/// fed with the time, the process and a counter.
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

/// Migrations of this backend, applied at start and by `nati-chat migrate`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    pub(crate) node: std::sync::Arc<nodes::Node>,
    /// The node's writer: chat writes queue here and share transactions (see
    /// `chat_core::write`).
    pub(crate) queue: chat_core::write::WriteQueue,
}

/// The most commands one write transaction takes.
const MAX_BATCH: usize = 512;

/// How to connect.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections in the pool, at most.
    pub max_connections: u32,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 10,
        }
    }
}

impl PgStore {
    /// Connect to `url` (`postgres://user:password@host:port/database`) and apply pending
    /// migrations. The database must exist.
    pub async fn open(url: &str, opts: &PgOptions) -> Result<Self, StoreError> {
        let mut connect = PgConnectOptions::from_str(url)
            .map_err(rows::db)?
            .application_name("nati-chat");
        if chat_core::store::plain_on_loopback(url, connect.get_host()) {
            connect = connect.ssl_mode(sqlx::postgres::PgSslMode::Disable);
        }
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .connect_with(connect.clone())
            .await
            .map_err(rows::db)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?;
        // The writer's own connection, made on the writer's thread: it never waits for a
        // pooled one behind readers, nor for the server's runtime to poll it.
        let queue = chat_core::write::WriteQueue::spawn(
            move || async move {
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .connect_with(connect)
                    .await
                    .map_err(rows::db)?;
                Ok(write::PgExecutor { pool })
            },
            MAX_BATCH,
        )
        .await?;
        Ok(PgStore {
            pool,
            node: std::sync::Arc::new(nodes::Node::new()),
            queue,
        })
    }

    /// Apply pending migrations without opening a store.
    pub async fn migrate(url: &str) -> Result<(), StoreError> {
        let store = PgStore::open(url, &PgOptions { max_connections: 1 }).await?;
        store.close().await;
        Ok(())
    }

    pub async fn close(&self) {
        // A listener waiting in `remote_events` is woken by the pool's close event and
        // gives its connection back; an idle one is dropped here.
        self.node.drop_idle_listener();
        self.pool.close().await;
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    fn writer(&self) -> &chat_core::write::WriteQueue {
        &self.queue
    }

    fn blobs(&self) -> Option<&dyn chat_core::store::BlobStore> {
        Some(self)
    }
}
