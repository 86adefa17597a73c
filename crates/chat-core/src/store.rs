//! The one storage trait. SQLite implements it now; PostgreSQL and MariaDB join later.
//! Each implementation holds all of its SQL; none of it leaks out of its crate.
//!
//! Contract shared by every implementation:
//! - Every change to a chat (a message, a status change, an assignment, a read position)
//!   is written in one transaction together with its [`StoredEvent`], which takes the
//!   chat's next sequence number. Events are what the realtime hub publishes.
//! - Rules are not the store's: `update_chat` and `send_message` take a `rule` from
//!   [`crate::policy`] and call it on the chat *as locked inside the transaction*, so two
//!   racing requests can never both pass a check that only one of them should.

use crate::SenderType;
use crate::actor::{AccountRole, Actor};
use crate::attachment::Attachment;
use crate::error::ChatError;
use crate::hosttoken::HostProfile;
use crate::ids::*;
use crate::model::*;
use crate::routing::RoutingSettings;
use crate::webhook::{Delivery, DeliveryCount, DeliveryOutcome, NewDelivery};
use crate::write::WriteQueue;
use async_trait::async_trait;
use thiserror::Error;
use time::OffsetDateTime;

/// Why a store call failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The rule passed in refused the change.
    #[error(transparent)]
    Rule(#[from] ChatError),
    /// A unique key was already taken (for example an account email).
    #[error("{0} already exists")]
    Duplicate(&'static str),
    /// The store found something it cannot work with (a row it cannot read, a broken
    /// invariant); the text is for logs, never for clients.
    #[error("database error: {0}")]
    Database(String),
    /// The database or its driver failed. Keeps the driver's error as its source; the
    /// text is for logs, never for clients.
    #[error("database error: {source}")]
    Backend {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
        /// A serialization failure, deadlock, lock timeout or busy database: running the
        /// same transaction again can succeed.
        retryable: bool,
    },
}

impl StoreError {
    /// A driver error, with whether running the transaction again can help.
    pub fn backend(
        source: impl std::error::Error + Send + Sync + 'static,
        retryable: bool,
    ) -> Self {
        StoreError::Backend {
            source: Box::new(source),
            retryable,
        }
    }

    /// Can the same transaction succeed if it is run again?
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Backend {
                retryable: true,
                ..
            }
        )
    }
}

/// Whether a database connection should skip TLS: the server is on this machine (a
/// loopback address, `localhost` or a socket path) and the URL says nothing about TLS.
/// TLS to a local server protects nothing, and through the driver it costs a delayed-ACK
/// wait (about 40 ms) on every statement that is written as more than one TLS record
/// (the driver does not set `TCP_NODELAY`): measured, it cut PostgreSQL's write rate to a
/// quarter. A URL that names `sslmode`/`ssl-mode` keeps exactly what it asks for.
pub fn plain_on_loopback(url: &str, host: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    if lower.contains("sslmode") || lower.contains("ssl-mode") || lower.contains("ssl_mode") {
        return false;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host.starts_with('/')
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// How long a node's staff-presence records stay after the node stopped refreshing them,
/// before the next writer removes them (readers already ignore them by their own `since`).
pub const PRESENCE_KEEP: time::Duration = time::Duration::minutes(5);

/// A decision taken on the chat as locked inside the transaction.
pub use crate::write::Rule as ChatRule;

/// Accounts, sign-in sessions, guests, notification preferences and socket tickets.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Create an account; `Duplicate("account")` when the email is taken in that role.
    async fn create_account(
        &self,
        new: &NewAccount,
        now: OffsetDateTime,
    ) -> Result<Account, StoreError>;
    /// The account and its password hash, by email.
    async fn account_by_email(
        &self,
        role: AccountRole,
        email: &str,
    ) -> Result<Option<(Account, String)>, StoreError>;
    async fn account(&self, role: AccountRole, id: i64) -> Result<Option<Account>, StoreError>;
    /// Accounts of one role or all, newest first.
    async fn list_accounts(&self, role: Option<AccountRole>) -> Result<Vec<Account>, StoreError>;
    /// Activate or deactivate. Deactivating ends the account's login sessions.
    async fn set_account_active(
        &self,
        role: AccountRole,
        id: i64,
        active: bool,
        now: OffsetDateTime,
    ) -> Result<Option<Account>, StoreError>;
    async fn create_session(
        &self,
        token_hash: &str,
        role: AccountRole,
        account_id: i64,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// The active account behind a session that has not expired.
    async fn session_account(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Account>, StoreError>;
    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;
    async fn create_guest(
        &self,
        token_hash: &str,
        name: Option<&str>,
        email: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Guest, StoreError>;
    /// The guest behind a token, expired or not (the caller decides).
    async fn guest_by_token(&self, token_hash: &str) -> Result<Option<Guest>, StoreError>;
    async fn guest(&self, id: GuestId) -> Result<Option<Guest>, StoreError>;
    /// Give a guest a new token (a resume link was used): the old token stops working.
    /// Counts as activity. False when there is no such guest or it has expired.
    async fn rotate_guest_token(
        &self,
        id: GuestId,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Record whether the guest wants the transcript by email when a chat closes.
    async fn set_guest_transcript(&self, id: GuestId, wanted: bool) -> Result<(), StoreError>;
    /// Record activity, so the session does not expire.
    async fn touch_guest(&self, id: GuestId, now: OffsetDateTime) -> Result<(), StoreError>;
    /// Guests not yet expired whose last activity is before `cutoff`.
    async fn guests_inactive_since(
        &self,
        cutoff: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<GuestId>, StoreError>;
    async fn preferences(&self, role: AccountRole, id: i64) -> Result<Preferences, StoreError>;
    async fn set_preferences(
        &self,
        role: AccountRole,
        id: i64,
        prefs: &Preferences,
        now: OffsetDateTime,
    ) -> Result<Preferences, StoreError>;
    /// Store a single-use ticket standing for a session (`kind` is `session` or `guest`).
    async fn create_ws_ticket(
        &self,
        ticket_hash: &str,
        kind: &str,
        session_hash: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Use up a ticket: its `(kind, session_hash)` if it exists and has not expired.
    async fn take_ws_ticket(
        &self,
        ticket_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(String, String)>, StoreError>;
}

/// Reading chats, messages, unread counts and the event log.
#[async_trait]
pub trait ChatReads: Send + Sync {
    async fn chat(&self, id: ChatId) -> Result<Option<Chat>, StoreError>;
    /// Several chats at once, in no particular order; unknown ids are left out. The
    /// background planners read a whole batch of events' chats this way.
    async fn chats(&self, ids: &[ChatId]) -> Result<Vec<Chat>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            out.extend(self.chat(id).await?);
        }
        Ok(out)
    }
    /// One chat with names and the reader's unread count.
    async fn chat_summary(
        &self,
        id: ChatId,
        reader: &Actor,
    ) -> Result<Option<ChatSummary>, StoreError>;
    /// Chats in `scope` matching `filter`, most recently updated first.
    async fn list_chats(
        &self,
        scope: ChatScope,
        filter: &ChatFilter,
        reader: &Actor,
    ) -> Result<Vec<ChatSummary>, StoreError>;
    /// A page of a chat's messages, oldest first within the page.
    async fn messages(&self, chat: ChatId, page: Page) -> Result<Vec<Message>, StoreError>;
    /// Unread messages per chat in scope, for this reader (chats with none are left out).
    /// A reader's own messages and system messages are never unread.
    async fn unread_counts(
        &self,
        scope: ChatScope,
        reader: &Actor,
    ) -> Result<Vec<(ChatId, i64)>, StoreError>;
    /// Stored events after `after_event_id`, in order, at most `limit`.
    async fn events_after(
        &self,
        after_event_id: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// Stored events after `after_event_id` that `scope` may see (by the visibility
    /// written with each event), in order, at most `limit`. What a resuming socket replays.
    async fn events_visible_after(
        &self,
        scope: ChatScope,
        after_event_id: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// Unread counts (as `unread_counts`) and the newest event id, read in one snapshot:
    /// the counts include exactly the events up to that id.
    async fn unread_snapshot(
        &self,
        scope: ChatScope,
        reader: &Actor,
    ) -> Result<(i64, Vec<(ChatId, i64)>), StoreError>;
    /// The newest event id (0 when none).
    async fn last_event_id(&self) -> Result<i64, StoreError>;
}

/// The background jobs' cursors and the missed-message email outbox.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// A background job's position in the event log (`None` when it never ran).
    async fn job_cursor(&self, name: &str) -> Result<Option<i64>, StoreError>;
    async fn set_job_cursor(
        &self,
        name: &str,
        last_event_id: i64,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Queue emails, in one transaction: each unless one of the same kind is already
    /// pending or being sent for its recipient and chat (a burst becomes one email), or
    /// this very one was queued before (re-planning after a restart is harmless). Planners
    /// on several nodes take turns. Returns how many rows were added.
    async fn enqueue_emails(
        &self,
        emails: &[NewEmail],
        now: OffsetDateTime,
    ) -> Result<usize, StoreError>;
    /// [`JobStore::enqueue_emails`] for one email: whether its row was added.
    async fn enqueue_email(
        &self,
        email: &NewEmail,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(self
            .enqueue_emails(std::slice::from_ref(email), now)
            .await?
            == 1)
    }
    /// Claim up to `limit` emails that are due: pending ones whose time has come, and ones
    /// left `sending` by a process that died (their lease ran out). Claimed rows are
    /// `sending` until `lease_until`.
    async fn claim_due_emails(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<OutboxEmail>, StoreError>;
    /// What `reader` has not read in `chat`, from `from` on: not their own, not system
    /// messages, after their read position. Oldest first, at most `limit`.
    async fn unread_for(
        &self,
        chat: ChatId,
        reader: &Actor,
        from: MessageId,
        limit: i64,
    ) -> Result<Vec<Message>, StoreError>;
    /// Record how a claimed email ended.
    async fn finish_email(
        &self,
        id: i64,
        outcome: &EmailOutcome,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Outbox rows, newest first, optionally of one status.
    async fn list_emails(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OutboxEmail>, StoreError>;
    /// How many outbox rows are in each status (`pending`, `sending`, `sent`, ...), for
    /// `/metrics`.
    async fn email_counts(&self) -> Result<Vec<(String, i64)>, StoreError>;
}

/// The host site: people it signs in, used token ids, server-to-server API keys.
#[async_trait]
pub trait HostStore: Send + Sync {
    /// Create or refresh the account the host site identifies as `(role, host_id)`: the
    /// first time a new account without a password (`source: host`), later its name, email
    /// and avatar. Never matches by email or name: a password account with the same email
    /// is a different person. Leaves `active` as it is.
    async fn upsert_host_account(
        &self,
        role: AccountRole,
        host_id: &str,
        profile: &HostProfile,
        now: OffsetDateTime,
    ) -> Result<Account, StoreError>;
    /// The account the host site identifies as `(role, host_id)`, if it signed in before.
    async fn account_by_host_id(
        &self,
        role: AccountRole,
        host_id: &str,
    ) -> Result<Option<Account>, StoreError>;
    /// Spend a host token's `jti`: true the first time, false when it was used before (a
    /// replay). Kept until `expires_at`; ids expired before `now` are forgotten on the way.
    async fn use_token_id(
        &self,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    async fn create_api_key(
        &self,
        new: &NewApiKey,
        now: OffsetDateTime,
    ) -> Result<ApiKey, StoreError>;
    /// The key with this hash, revoked or not (the caller decides).
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError>;
    /// Every key, newest first.
    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError>;
    /// Revoke a key (idempotent); `None` when there is no such key.
    async fn revoke_api_key(
        &self,
        id: i64,
        now: OffsetDateTime,
    ) -> Result<Option<ApiKey>, StoreError>;
}

/// What the admins' reports count (the arithmetic: [`crate::reports`]).
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// One [`ChatFacts`](crate::reports::ChatFacts) per chat started in `[from, to)`, by id.
    async fn report_facts(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<crate::reports::ChatFacts>, StoreError>;
    /// The system lines of the chats started in `[from, to)` that tell of a chat taken
    /// from a silent worker: (chat, line, when).
    async fn silence_lines(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<(ChatId, String, OffsetDateTime)>, StoreError>;
}

/// The queue and its settings (the rules: [`crate::routing`]).
#[async_trait]
pub trait RoutingStore: Send + Sync {
    /// The routing settings (the defaults when an admin never set them).
    async fn routing_settings(&self) -> Result<RoutingSettings, StoreError>;
    async fn set_routing_settings(
        &self,
        settings: &RoutingSettings,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// The queue: chats with no worker, `pending` or `open`, oldest first, at most `limit`.
    async fn waiting_chats(&self, limit: i64) -> Result<Vec<Chat>, StoreError>;
    /// Chats whose worker has left a customer's message unanswered since before `cutoff`
    /// (counted from the chat's latest system line when that is later), `pending` or
    /// `open`, by id, at most `limit` (see [`crate::routing::on_silence`]).
    async fn silent_chats(
        &self,
        cutoff: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Chat>, StoreError>;
    /// Open (not closed) chats per worker who has any.
    async fn open_chats_per_worker(&self) -> Result<Vec<(WorkerId, i64)>, StoreError>;
}

/// Canned replies: the team's and each staff member's own. The rules of who may see and
/// change which are [`crate::policy::may_use_canned`] and `may_manage_canned`.
#[async_trait]
pub trait CannedReplyStore: Send + Sync {
    /// The team's replies and `owner`'s own, by shortcut (team first on a tie).
    async fn canned_replies(&self, owner: &Actor) -> Result<Vec<CannedReply>, StoreError>;
    async fn canned_reply(&self, id: i64) -> Result<Option<CannedReply>, StoreError>;
    /// Add a reply: the team's (`owner` `None`) or a staff member's own.
    /// `Duplicate("shortcut")` when its owner already has one with this shortcut.
    async fn create_canned_reply(
        &self,
        owner: Option<&Actor>,
        shortcut: &str,
        text: &str,
        now: OffsetDateTime,
    ) -> Result<CannedReply, StoreError>;
    /// Change a reply's shortcut and text; `None` when there is no such reply.
    async fn update_canned_reply(
        &self,
        id: i64,
        shortcut: &str,
        text: &str,
        now: OffsetDateTime,
    ) -> Result<Option<CannedReply>, StoreError>;
    /// Delete a reply; false when there was none.
    async fn delete_canned_reply(&self, id: i64) -> Result<bool, StoreError>;
}

/// Uploaded files: their records (`tbl_chat_attachments`). The bytes are kept by the
/// binary's file storage, on disk or through [`BlobStore`].
#[async_trait]
pub trait AttachmentStore: Send + Sync {
    /// Keep an upload's record. A record with the same uploader and client id wins: it is
    /// returned instead (a retried upload is the same file).
    async fn insert_attachment(&self, a: &Attachment) -> Result<Attachment, StoreError>;
    async fn attachment(&self, id: &str) -> Result<Option<Attachment>, StoreError>;
    async fn attachments(&self, ids: &[String]) -> Result<Vec<Attachment>, StoreError>;
    async fn attachment_by_client_id(
        &self,
        uploader_type: SenderType,
        uploader_id: i64,
        client_id: &str,
    ) -> Result<Option<Attachment>, StoreError>;
    /// Bytes uploaded by one account since `since` (the daily quota).
    async fn uploaded_bytes_since(
        &self,
        uploader_type: SenderType,
        uploader_id: i64,
        since: OffsetDateTime,
    ) -> Result<i64, StoreError>;
    /// Uploads never sent, made before `before` (to be removed).
    async fn unsent_attachments(
        &self,
        before: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Attachment>, StoreError>;
    /// Remove the records of these uploads that are still unsent (one a message took in the
    /// meantime stays); returns the content addresses (file and thumbnail) no remaining
    /// record uses, whose bytes may now go.
    async fn delete_unsent_attachments(&self, ids: &[String]) -> Result<Vec<String>, StoreError>;
}

/// Bytes kept in the database itself, in numbered chunks under a content address, so that
/// several nodes serve every file without a shared disk (PostgreSQL and MariaDB).
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Write chunk `n` of `key` (writing it again is harmless).
    async fn put_chunk(&self, key: &str, n: i64, bytes: &[u8]) -> Result<(), StoreError>;
    /// Chunk `n` of `key`, if kept.
    async fn chunk(&self, key: &str, n: i64) -> Result<Option<Vec<u8>>, StoreError>;
    /// How many chunks `key` has.
    async fn chunk_count(&self, key: &str) -> Result<i64, StoreError>;
    async fn delete_blob(&self, key: &str) -> Result<(), StoreError>;
}

/// The webhook outbox and its delivery log.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// The chat as it was before event `seq`: the payload of its newest `chat.created` or
    /// `chat.updated` event with a smaller `seq` (what a `chat.updated` changed from).
    async fn chat_state_before(&self, chat: ChatId, seq: i64) -> Result<Option<Chat>, StoreError>;
    /// Queue deliveries, skipping any whose `(endpoint, event_key)` is already queued, so
    /// re-planning after a restart or on a second node adds nothing. Returns how many
    /// were added.
    async fn enqueue_webhooks(
        &self,
        deliveries: &[NewDelivery],
        now: OffsetDateTime,
    ) -> Result<usize, StoreError>;
    /// Claim up to `limit` due deliveries: pending ones whose time has come and `sending`
    /// ones whose lease ran out, but only those with no earlier row (in `(ord, id)` order)
    /// of the same endpoint and chat still to be sent — pending or sending, and tried
    /// already or due; a never-tried row that is not due yet holds nothing back. So each
    /// chat's deliveries go out in order. Claimed rows are `sending` until `lease_until`,
    /// held by `node` (this process's lasting id, see [`Store::release_webhook_claims`]).
    async fn claim_webhooks(
        &self,
        node: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Give back at once every delivery `node` still holds (`sending`, claimed by it): called
    /// when a node starts, since whatever it held before was lost with its last process (a
    /// crash mid-send). The rows are due again at `now` instead of when their lease runs out,
    /// so the chat's later events do not wait behind them. Returns how many were released.
    async fn release_webhook_claims(
        &self,
        node: &str,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError>;
    /// Record how a claimed delivery ended, if the claim that leased it until
    /// `lease_until` (the claimed row's `next_attempt_at`) still holds it; otherwise (the
    /// lease ran out and another claim took the row) change nothing.
    async fn finish_webhook(
        &self,
        id: i64,
        lease_until: OffsetDateTime,
        outcome: &DeliveryOutcome,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// The delivery log, newest first, optionally of one status and one endpoint.
    async fn list_webhooks(
        &self,
        status: Option<&str>,
        endpoint: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// How many deliveries each endpoint has in each status.
    async fn webhook_counts(&self) -> Result<Vec<DeliveryCount>, StoreError>;
    /// Put a `failed` delivery back in the queue now, with a fresh `expires_at`. False
    /// when there is no failed delivery with this id.
    async fn retry_webhook(
        &self,
        id: i64,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

/// One connection pool: connections open, idle among them, and the most it may open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    pub name: &'static str,
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

/// Several nodes on one database: waking each other, sharing staff presence. A single-node
/// store keeps the defaults (it has no other nodes).
#[async_trait]
pub trait NodeStore: Send + Sync {
    /// This node's connection pools as they are now, for `/metrics`.
    fn pool_stats(&self) -> Vec<PoolStats> {
        Vec::new()
    }
    /// Tell other nodes sharing this database that events were committed (PostgreSQL:
    /// `NOTIFY`). Called after commits, coalesced. A single-node store does nothing.
    async fn announce_events(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Resolves when another node may have committed events (PostgreSQL: `LISTEN`).
    /// Called in a loop by the hub. A single-node store never resolves; stores without a
    /// push channel rely on the hub's periodic poll of the event log.
    async fn remote_events(&self) -> Result<(), StoreError> {
        std::future::pending().await
    }
    /// Several nodes: record which staff have a panel open and not "away" on node `node`
    /// (replacing what it recorded before), so other nodes can tell customers someone is
    /// there. A single-node store keeps nothing.
    async fn publish_presence(
        &self,
        _node: &str,
        _online: &[Actor],
        _now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    /// Several nodes: staff online on nodes other than `node`, as they last recorded it,
    /// from records made at `since` or later (older ones are from nodes that went away).
    async fn presence_elsewhere(
        &self,
        _node: &str,
        _since: OffsetDateTime,
    ) -> Result<Vec<Actor>, StoreError> {
        Ok(Vec::new())
    }
}

/// Everything the server keeps: the narrow traits above, each implemented by every backend
/// in the module of the same concern, and the chat writes, which go through the node's
/// writer ([`crate::write`]) and so are written once, here.
#[async_trait]
pub trait Store:
    AccountStore
    + ChatReads
    + JobStore
    + HostStore
    + WebhookStore
    + CannedReplyStore
    + RoutingStore
    + ReportStore
    + AttachmentStore
    + NodeStore
    + 'static
{
    /// The database's own file storage, where it has one (PostgreSQL, MariaDB).
    fn blobs(&self) -> Option<&dyn BlobStore> {
        None
    }
    /// The node's writer: every write to a chat goes through it, in batches (see
    /// [`crate::write`]). The write methods below are its typed front.
    fn writer(&self) -> &WriteQueue;
    /// Start a chat (status `pending`) with its optional first message. A repeated
    /// `client_id` from the same customer returns the chat made the first time.
    async fn create_chat(
        &self,
        new: &NewChat,
        now: OffsetDateTime,
    ) -> Result<ChatStart, StoreError> {
        self.writer().start(new.clone(), now).await
    }
    /// Lock the chat, ask `rule`, apply its change and the system message, emit
    /// `chat.updated`. `NotFound` when there is no such chat.
    async fn update_chat(
        &self,
        id: ChatId,
        rule: ChatRule,
        now: OffsetDateTime,
    ) -> Result<Chat, StoreError> {
        self.writer().update(id, rule, now).await
    }
    /// Lock the chat, ask `rule` (which may change the status), store the message.
    /// A repeated `client_id` from the same sender returns the stored message and asks no rule.
    async fn send_message(
        &self,
        new: NewMessage,
        rule: ChatRule,
        now: OffsetDateTime,
    ) -> Result<(SendOutcome, Chat), StoreError> {
        self.writer().send(new, rule, now).await
    }
    /// Move the reader's position forward to `up_to` (or the newest message). Never moves
    /// backwards. Updates `is_read` of the other side's messages; emits `message.read`
    /// when the position moved.
    async fn mark_read(
        &self,
        chat: ChatId,
        reader: &Actor,
        up_to: Option<MessageId>,
        now: OffsetDateTime,
    ) -> Result<ReadPosition, StoreError> {
        self.writer().read(chat, *reader, up_to, now).await
    }
    /// Give a waiting chat to a worker (the router, or the worker taking it: `taken`), if
    /// it still waits and the worker has room (checked on the chat as locked and the
    /// worker's open chats as committed: [`crate::routing::auto_assign`]).
    async fn auto_assign_chat(
        &self,
        chat: ChatId,
        worker: WorkerId,
        worker_name: &str,
        settings: RoutingSettings,
        taken: bool,
        now: OffsetDateTime,
    ) -> Result<Chat, StoreError> {
        self.writer()
            .auto_assign(chat, worker, worker_name.to_owned(), settings, taken, now)
            .await
    }
    /// The customer rates a closed chat, once: the rating, and a system message telling
    /// the chat's story.
    async fn rate_chat(
        &self,
        rating: NewRating,
        now: OffsetDateTime,
    ) -> Result<ChatRating, StoreError> {
        self.writer().rate(rating, now).await
    }
    /// Mark a guest expired and close its chats that are not closed (each with a system
    /// message and event). Returns the chats it closed. Idempotent.
    async fn expire_guest(
        &self,
        id: GuestId,
        now: OffsetDateTime,
    ) -> Result<Vec<ChatId>, StoreError> {
        self.writer().expire_guest(id, now).await
    }
}
