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

mod accounts;
mod chats;
mod host;
mod nodes;
mod outbox;
mod rows;
pub mod scratch;
mod webhooks;
mod write;

use chat_core::hosttoken::HostProfile;
use chat_core::model::*;
use chat_core::webhook::{Delivery, DeliveryCount, DeliveryOutcome, NewDelivery};
use chat_core::{AccountRole, Actor, ChatId, GuestId, MessageId, Store, StoreError};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use time::OffsetDateTime;

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
    async fn create_account(
        &self,
        new: &NewAccount,
        now: OffsetDateTime,
    ) -> Result<Account, StoreError> {
        accounts::create_account(self, new, now).await
    }
    async fn account_by_email(
        &self,
        role: AccountRole,
        email: &str,
    ) -> Result<Option<(Account, String)>, StoreError> {
        accounts::account_by_email(self, role, email).await
    }
    async fn account(&self, role: AccountRole, id: i64) -> Result<Option<Account>, StoreError> {
        accounts::account(&self.pool, role, id).await
    }
    async fn list_accounts(&self, role: Option<AccountRole>) -> Result<Vec<Account>, StoreError> {
        accounts::list_accounts(self, role).await
    }
    async fn set_account_active(
        &self,
        role: AccountRole,
        id: i64,
        active: bool,
        now: OffsetDateTime,
    ) -> Result<Option<Account>, StoreError> {
        accounts::set_account_active(self, role, id, active, now).await
    }
    async fn create_session(
        &self,
        token_hash: &str,
        role: AccountRole,
        account_id: i64,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        accounts::create_session(self, token_hash, role, account_id, expires_at, now).await
    }
    async fn session_account(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Account>, StoreError> {
        accounts::session_account(self, token_hash, now).await
    }
    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        accounts::delete_session(self, token_hash).await
    }
    async fn create_guest(
        &self,
        token_hash: &str,
        name: Option<&str>,
        email: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Guest, StoreError> {
        accounts::create_guest(self, token_hash, name, email, now).await
    }
    async fn guest_by_token(&self, token_hash: &str) -> Result<Option<Guest>, StoreError> {
        accounts::guest_by_token(self, token_hash).await
    }
    async fn guest(&self, id: GuestId) -> Result<Option<Guest>, StoreError> {
        accounts::guest(self, id).await
    }
    async fn rotate_guest_token(
        &self,
        id: GuestId,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        accounts::rotate_guest_token(self, id, token_hash, now).await
    }
    async fn set_guest_transcript(&self, id: GuestId, wanted: bool) -> Result<(), StoreError> {
        accounts::set_guest_transcript(self, id, wanted).await
    }
    async fn touch_guest(&self, id: GuestId, now: OffsetDateTime) -> Result<(), StoreError> {
        accounts::touch_guest(self, id, now).await
    }
    async fn guests_inactive_since(
        &self,
        cutoff: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<GuestId>, StoreError> {
        accounts::guests_inactive_since(self, cutoff, limit).await
    }
    async fn chat(&self, id: ChatId) -> Result<Option<Chat>, StoreError> {
        chats::chat(&self.pool, id).await
    }
    async fn chat_summary(
        &self,
        id: ChatId,
        reader: &Actor,
    ) -> Result<Option<ChatSummary>, StoreError> {
        chats::chat_summary(self, id, reader).await
    }
    async fn list_chats(
        &self,
        scope: ChatScope,
        filter: &ChatFilter,
        reader: &Actor,
    ) -> Result<Vec<ChatSummary>, StoreError> {
        chats::list_chats(self, scope, filter, reader).await
    }
    async fn messages(&self, chat: ChatId, page: Page) -> Result<Vec<Message>, StoreError> {
        chats::messages(self, chat, page).await
    }
    async fn unread_counts(
        &self,
        scope: ChatScope,
        reader: &Actor,
    ) -> Result<Vec<(ChatId, i64)>, StoreError> {
        chats::unread_counts(self, scope, reader).await
    }
    async fn preferences(&self, role: AccountRole, id: i64) -> Result<Preferences, StoreError> {
        accounts::preferences(self, role, id).await
    }
    async fn set_preferences(
        &self,
        role: AccountRole,
        id: i64,
        prefs: &Preferences,
        now: OffsetDateTime,
    ) -> Result<Preferences, StoreError> {
        accounts::set_preferences(self, role, id, prefs, now).await
    }
    async fn events_after(
        &self,
        after_event_id: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        chats::events_after(self, after_event_id, limit).await
    }
    async fn events_visible_after(
        &self,
        scope: ChatScope,
        after_event_id: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        chats::events_visible_after(self, scope, after_event_id, limit).await
    }
    async fn unread_snapshot(
        &self,
        scope: ChatScope,
        reader: &Actor,
    ) -> Result<(i64, Vec<(ChatId, i64)>), StoreError> {
        chats::unread_snapshot(self, scope, reader).await
    }
    async fn create_ws_ticket(
        &self,
        ticket_hash: &str,
        kind: &str,
        session_hash: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        accounts::create_ws_ticket(self, ticket_hash, kind, session_hash, expires_at, now).await
    }
    async fn take_ws_ticket(
        &self,
        ticket_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(String, String)>, StoreError> {
        accounts::take_ws_ticket(self, ticket_hash, now).await
    }
    async fn job_cursor(&self, name: &str) -> Result<Option<i64>, StoreError> {
        outbox::job_cursor(self, name).await
    }
    async fn set_job_cursor(
        &self,
        name: &str,
        last_event_id: i64,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        outbox::set_job_cursor(self, name, last_event_id, now).await
    }
    async fn enqueue_email(
        &self,
        email: &NewEmail,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        outbox::enqueue_email(self, email, now).await
    }
    async fn claim_due_emails(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<OutboxEmail>, StoreError> {
        outbox::claim_due_emails(self, now, lease_until, limit).await
    }
    async fn unread_for(
        &self,
        chat: ChatId,
        reader: &Actor,
        from: MessageId,
        limit: i64,
    ) -> Result<Vec<Message>, StoreError> {
        outbox::unread_for(self, chat, reader, from, limit).await
    }
    async fn finish_email(
        &self,
        id: i64,
        outcome: &EmailOutcome,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        outbox::finish_email(self, id, outcome, now).await
    }
    async fn list_emails(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OutboxEmail>, StoreError> {
        outbox::list_emails(self, status, limit).await
    }
    async fn upsert_host_account(
        &self,
        role: AccountRole,
        host_id: &str,
        profile: &HostProfile,
        now: OffsetDateTime,
    ) -> Result<Account, StoreError> {
        host::upsert_host_account(self, role, host_id, profile, now).await
    }
    async fn account_by_host_id(
        &self,
        role: AccountRole,
        host_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        host::account_by_host_id(self, role, host_id).await
    }
    async fn use_token_id(
        &self,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        host::use_token_id(self, jti, expires_at, now).await
    }
    async fn create_api_key(
        &self,
        new: &NewApiKey,
        now: OffsetDateTime,
    ) -> Result<ApiKey, StoreError> {
        host::create_api_key(self, new, now).await
    }
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        host::api_key_by_hash(self, key_hash).await
    }
    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        host::list_api_keys(self).await
    }
    async fn revoke_api_key(
        &self,
        id: i64,
        now: OffsetDateTime,
    ) -> Result<Option<ApiKey>, StoreError> {
        host::revoke_api_key(self, id, now).await
    }
    async fn last_event_id(&self) -> Result<i64, StoreError> {
        chats::last_event_id(self).await
    }
    async fn chat_state_before(&self, chat: ChatId, seq: i64) -> Result<Option<Chat>, StoreError> {
        webhooks::chat_state_before(self, chat, seq).await
    }
    async fn enqueue_webhooks(
        &self,
        deliveries: &[NewDelivery],
        now: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        webhooks::enqueue_webhooks(self, deliveries, now).await
    }
    async fn claim_webhooks(
        &self,
        node: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        webhooks::claim_webhooks(self, node, now, lease_until, limit).await
    }
    async fn release_webhook_claims(
        &self,
        node: &str,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        webhooks::release_webhook_claims(self, node, now).await
    }
    async fn finish_webhook(
        &self,
        id: i64,
        lease_until: OffsetDateTime,
        outcome: &DeliveryOutcome,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        webhooks::finish_webhook(self, id, lease_until, outcome, now).await
    }
    async fn list_webhooks(
        &self,
        status: Option<&str>,
        endpoint: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        webhooks::list_webhooks(self, status, endpoint, limit).await
    }
    async fn webhook_counts(&self) -> Result<Vec<DeliveryCount>, StoreError> {
        webhooks::webhook_counts(self).await
    }
    async fn retry_webhook(
        &self,
        id: i64,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        webhooks::retry_webhook(self, id, expires_at, now).await
    }
    async fn announce_events(&self) -> Result<(), StoreError> {
        nodes::announce_events(self).await
    }
    async fn remote_events(&self) -> Result<(), StoreError> {
        nodes::remote_events(self).await
    }
    async fn publish_presence(
        &self,
        node: &str,
        online: &[Actor],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        nodes::publish_presence(self, node, online, now).await
    }
    async fn presence_elsewhere(
        &self,
        node: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<Actor>, StoreError> {
        nodes::presence_elsewhere(self, node, since).await
    }
}
