//! The records the store hands back and takes in. Serialisable, so the HTTP edge and the
//! realtime events show exactly these shapes.

use crate::actor::{AccountRole, Actor, SenderType};
use crate::ids::*;
use crate::status::ChatStatus;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A row of `tbl_chats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Chat {
    pub chat_id: ChatId,
    /// The customer, when a logged-in user started the chat.
    pub user_id: Option<UserId>,
    /// The customer, when an anonymous guest started the chat.
    pub guest_id: Option<GuestId>,
    /// The admin who has taken part (first admin to answer or act), if any.
    pub admin_id: Option<AdminId>,
    /// The worker the chat is assigned to.
    pub worker_id: Option<WorkerId>,
    /// The admin who made the current assignment.
    pub assigned_by: Option<AdminId>,
    pub status: ChatStatus,
    /// What the customer asked about ("Brake noise", ...). May be empty.
    pub topic: String,
    /// The chat's event sequence: every stored event in this chat has a higher number than
    /// the one before it.
    pub last_seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_message_at: Option<OffsetDateTime>,
}

impl Chat {
    /// The chat's customer as an actor.
    pub fn customer(&self) -> Option<Actor> {
        match (self.user_id, self.guest_id) {
            (Some(u), _) => Some(Actor::User(u)),
            (None, Some(g)) => Some(Actor::Guest(g)),
            _ => None,
        }
    }
}

/// A chat as shown in lists and details: the row plus names and the asker's unread count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatSummary {
    #[serde(flatten)]
    pub chat: Chat,
    /// `user` or `guest`.
    pub customer_type: SenderType,
    pub customer_name: String,
    pub customer_email: Option<String>,
    /// True for a logged-in user, false for an anonymous guest.
    pub customer_verified: bool,
    /// The host site's id of the customer when the host signed them in (verified by the
    /// host); null for a password account or a guest.
    #[serde(default)]
    pub customer_host_id: Option<String>,
    pub worker_name: Option<String>,
    /// The newest message's text (first 200 characters), for list previews: the newest
    /// message someone wrote, not a system line. A message of files only is previewed by
    /// what it holds ("📎 2 photos", [`crate::attachment::preview`]).
    pub last_message: Option<String>,
    /// Whether that message is the asker's own (a preview shows "You: ").
    #[serde(default)]
    pub last_message_mine: bool,
    /// Messages in this chat the asker has not read.
    pub unread: i64,
    /// The customer's rating (1-5 stars) once given; null before.
    #[serde(default)]
    pub rating: Option<i64>,
}

/// A row of `tbl_chat_messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub message_id: MessageId,
    pub chat_id: ChatId,
    /// The chat event sequence number of this message.
    pub seq: i64,
    pub sender_type: SenderType,
    /// Id in the sender's own table; null for system messages.
    pub sender_id: Option<i64>,
    /// The sender's name as it was when the message was sent.
    pub sender_name: String,
    /// Exactly as sent. Never HTML.
    pub message: String,
    /// Read by the other side: for a customer's message, some staff member has read it; for
    /// a staff message, the customer has read it. System messages are always read.
    pub is_read: bool,
    /// The sender's own id for this message, which makes retries idempotent.
    pub client_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// A private note: written by staff for staff (admins and the chat's worker). It never
    /// reaches the customer: not their history, sockets, unread counts, emails or
    /// webhooks.
    #[serde(default)]
    pub is_private: bool,
    /// The files sent with it (the text is then a caption, and may be empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::attachment::AttachmentMeta>,
}

/// An account of `tbl_user`, `tbl_admin` or `tbl_worker`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Account {
    pub role: AccountRole,
    pub id: i64,
    pub email: String,
    pub name: String,
    pub avatar_url: Option<String>,
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The host site's id for this person, when the host signs them in
    /// (`POST /api/auth/host`); null for an account with a password.
    pub host_id: Option<String>,
    /// `host`: verified by the host site (no password); `password`: signs in with one.
    pub source: AccountSource,
}

impl Account {
    pub fn actor(&self) -> Actor {
        self.role.actor(self.id)
    }
}

/// Where an account's identity comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountSource {
    /// The host site vouched for it with a signed token.
    Host,
    /// Created by an admin or the CLI; signs in with a password.
    Password,
}

impl AccountSource {
    /// `Host` when the account has a host id.
    pub fn of(host_id: &Option<String>) -> Self {
        if host_id.is_some() {
            AccountSource::Host
        } else {
            AccountSource::Password
        }
    }
}

/// What a server-to-server API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum ApiScope {
    /// Read any person's unread counts.
    #[serde(rename = "unread:read")]
    UnreadRead,
    /// Read any person's recent chats.
    #[serde(rename = "chats:read")]
    ChatsRead,
    /// Create, refresh and deactivate accounts by host id.
    #[serde(rename = "accounts:write")]
    AccountsWrite,
}

impl ApiScope {
    pub const ALL: [ApiScope; 3] = [
        ApiScope::UnreadRead,
        ApiScope::ChatsRead,
        ApiScope::AccountsWrite,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::UnreadRead => "unread:read",
            ApiScope::ChatsRead => "chats:read",
            ApiScope::AccountsWrite => "accounts:write",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        ApiScope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl std::str::FromStr for ApiScope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ApiScope::parse(s).ok_or_else(|| {
            format!("unknown scope `{s}` (expected unread:read, chats:read or accounts:write)")
        })
    }
}

/// Scopes as stored: space-separated.
pub fn scopes_to_text(scopes: &[ApiScope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Scopes from their stored text; unknown words are dropped (never granted).
pub fn scopes_from_text(text: &str) -> Vec<ApiScope> {
    text.split_whitespace()
        .filter_map(ApiScope::parse)
        .collect()
}

/// A reply kept for reuse: typing `/shortcut` in a staff panel's message box offers it,
/// with `{customer_name}` and `{worker_name}` filled in (docs/support-guide.md). Team
/// replies are every staff member's and admins keep them; personal ones are their owner's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CannedReply {
    pub id: i64,
    /// Typed after `/`: 1-32 lowercase letters, digits, `-` or `_` (`tyres`).
    #[schema(example = "tyres")]
    pub shortcut: String,
    /// The reply, stored as written; placeholders are filled in by the panel.
    #[schema(example = "Hello {customer_name}, your tyres are ready. {worker_name}")]
    pub text: String,
    /// A team reply (true) or the signed-in staff member's own (false).
    pub shared: bool,
    /// The staff member a personal reply belongs to; `None` for team replies.
    #[serde(skip)]
    #[schema(ignore)]
    pub owner: Option<Actor>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A server-to-server API key (never the key itself: that is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    pub id: i64,
    /// What the key is for ("shop back end").
    pub name: String,
    /// The key's first characters, to recognise it (`nk_Ab12`).
    pub prefix: String,
    pub scopes: Vec<ApiScope>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Set once revoked; a revoked key never works again.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// What it takes to store a new API key.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    /// SHA-256 of the key, hex.
    pub key_hash: String,
    pub prefix: String,
    pub scopes: Vec<ApiScope>,
}

/// What it takes to create an account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub role: AccountRole,
    pub email: String,
    pub name: String,
    pub password_hash: String,
}

/// A row of `tbl_guest_sessions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Guest {
    pub guest_id: GuestId,
    pub name: Option<String>,
    pub email: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
    /// Set once the session has expired; an expired session is never valid again.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expired_at: Option<OffsetDateTime>,
    /// The guest asked for the transcript by email when a chat closes.
    #[serde(default)]
    pub wants_transcript: bool,
}

impl Guest {
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(n) if !n.is_empty() => n.clone(),
            _ => format!("Guest #{}", self.guest_id),
        }
    }
}

/// A new chat, started by a customer.
#[derive(Debug, Clone)]
pub struct NewChat {
    pub customer: Actor,
    pub customer_name: String,
    pub topic: String,
    /// The first message, if the customer wrote one.
    pub first_message: Option<String>,
    /// Makes a retried start idempotent: the same customer and client id give the same chat.
    pub client_id: Option<String>,
}

/// What `create_chat` did.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatStart {
    pub chat: Chat,
    pub first_message: Option<Message>,
    /// False when a retried `client_id` returned the chat made the first time.
    pub created: bool,
}

/// A new message.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub chat_id: ChatId,
    pub sender: Actor,
    pub sender_name: String,
    pub text: String,
    pub client_id: Option<String>,
    /// A private note for the staff (see [`Message::is_private`]).
    pub private: bool,
    /// Files uploaded for this chat by the sender (checked by
    /// [`crate::attachment::attach`]).
    pub attachments: Vec<crate::attachment::AttachmentMeta>,
}

/// A customer's rating of a closed chat: 1 to 5 stars and a comment, once per chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatRating {
    pub chat_id: ChatId,
    /// 1 to 5.
    #[schema(minimum = 1, maximum = 5)]
    pub stars: i64,
    /// As written, trimmed; empty when none.
    pub comment: String,
    /// `user` or `guest`.
    pub rater_type: SenderType,
    pub rater_id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A rating to store, as the customer gave it (validated).
#[derive(Debug, Clone)]
pub struct NewRating {
    pub chat_id: ChatId,
    pub rater: Actor,
    pub rater_name: String,
    pub stars: i64,
    pub comment: String,
}

/// What `send_message` did.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// Stored now.
    Created(Message),
    /// The same sender had already sent this client id: the stored message, unchanged.
    Duplicate(Message),
}

impl SendOutcome {
    pub fn message(&self) -> &Message {
        match self {
            SendOutcome::Created(m) | SendOutcome::Duplicate(m) => m,
        }
    }
}

/// What a rule decides to change in a chat; stored atomically with a system message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatChange {
    pub status: Option<ChatStatus>,
    /// `Some(None)` unassigns.
    pub worker_id: Option<Option<WorkerId>>,
    pub assigned_by: Option<AdminId>,
    pub admin_id: Option<AdminId>,
    /// The chat's own story: becomes a `system` message.
    pub note: Option<String>,
    /// Said by the actor for the staff only: becomes a private note after the system
    /// message (the reason given with "Need admin").
    pub private_note: Option<PrivateNote>,
}

/// A private note a change writes, as its author.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivateNote {
    pub author: Actor,
    pub author_name: String,
    pub text: String,
}

impl ChatChange {
    pub fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.worker_id.is_none()
            && self.assigned_by.is_none()
            && self.admin_id.is_none()
            && self.note.is_none()
            && self.private_note.is_none()
    }
}

/// Which part of a chat's history to read. Newest page first by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Only messages with a smaller id (older).
    pub before: Option<MessageId>,
    /// Only messages with a larger id (newer). Wins over `before` for ordering: with
    /// `after`, the page is the oldest messages after it.
    pub after: Option<MessageId>,
    pub limit: i64,
    /// Include private notes: for staff only ([`crate::policy::sees_private_notes`]).
    pub private_notes: bool,
}

/// The chats an actor may list: the policy's answer in a form a store can query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatScope {
    All,
    Worker(WorkerId),
    User(UserId),
    Guest(GuestId),
}

/// Admin filters on the chat list (others get them too, within their scope).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatFilter {
    pub status: Option<ChatStatus>,
    pub worker_id: Option<WorkerId>,
    /// Only chats with no worker.
    pub unassigned: bool,
    pub user_id: Option<UserId>,
    pub guest_id: Option<GuestId>,
    /// Case-insensitive search in customer name and email, topic and message text.
    pub query: Option<String>,
    /// Only chats updated before this chat's position in the list (keyset pagination).
    pub before_updated: Option<(OffsetDateTime, ChatId)>,
    pub limit: i64,
}

/// A reader's position in a chat: everything up to this message is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReadPosition {
    pub chat_id: ChatId,
    pub reader_type: SenderType,
    pub reader_id: i64,
    pub last_read_message_id: MessageId,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Which chats an admin wants email about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AdminEmailScope {
    All,
    Unassigned,
    Escalated,
    None,
}

impl AdminEmailScope {
    pub fn as_str(self) -> &'static str {
        match self {
            AdminEmailScope::All => "all",
            AdminEmailScope::Unassigned => "unassigned",
            AdminEmailScope::Escalated => "escalated",
            AdminEmailScope::None => "none",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "all" => AdminEmailScope::All,
            "unassigned" => AdminEmailScope::Unassigned,
            "escalated" => AdminEmailScope::Escalated,
            "none" => AdminEmailScope::None,
            _ => return None,
        })
    }
}

/// An account's notification preferences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// Email me about messages I have not read in time.
    pub email_enabled: bool,
    /// How long a message may stay unread before it is emailed, in seconds.
    #[schema(minimum = 0, maximum = 604800)]
    pub email_delay_secs: i64,
    /// Admins only: which chats to be emailed about.
    pub admin_scope: AdminEmailScope,
    /// Play a sound for new messages in the panels.
    pub sound_enabled: bool,
    /// Show browser notifications.
    pub browser_notifications: bool,
    /// No email between these hours (0-23, in `time_zone`); both null for none.
    #[schema(minimum = 0, maximum = 23)]
    pub quiet_start_hour: Option<i32>,
    #[schema(minimum = 0, maximum = 23)]
    pub quiet_end_hour: Option<i32>,
    /// The account's time zone, an IANA name such as "Europe/Berlin": quiet hours are its
    /// local hours (daylight saving included). "UTC" unless set.
    #[serde(default = "utc_zone")]
    #[schema(max_length = 64, example = "Europe/Berlin")]
    pub time_zone: String,
}

fn utc_zone() -> String {
    "UTC".to_owned()
}

impl Preferences {
    /// The defaults for a role, before the account changes anything.
    pub fn defaults_for(role: AccountRole) -> Self {
        Preferences {
            email_enabled: true,
            email_delay_secs: 600,
            admin_scope: match role {
                AccountRole::Admin => AdminEmailScope::Unassigned,
                _ => AdminEmailScope::None,
            },
            sound_enabled: false,
            browser_notifications: false,
            quiet_start_hour: None,
            quiet_end_hour: None,
            time_zone: utc_zone(),
        }
    }
}

/// One stored event, the unit the realtime hub fans out and clients resume from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StoredEvent {
    /// Global, increasing in commit order.
    pub event_id: i64,
    pub chat_id: ChatId,
    /// Per chat, increasing without gaps.
    pub seq: i64,
    /// `chat.created`, `chat.updated`, `message.created`, `message.read`.
    pub kind: String,
    pub payload: serde_json::Value,
    /// Visibility at the time of the event: the chat's worker, customer and the previous
    /// worker (so a worker hears that a chat moved away from them).
    pub worker_id: Option<WorkerId>,
    pub previous_worker_id: Option<WorkerId>,
    pub user_id: Option<UserId>,
    pub guest_id: Option<GuestId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What an outbox email is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EmailKind {
    /// Messages left unread past the recipient's delay.
    Missed,
    /// The whole conversation, sent to a guest who asked for it when the chat closed.
    Transcript,
}

impl EmailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailKind::Missed => "missed",
            EmailKind::Transcript => "transcript",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "missed" => Some(EmailKind::Missed),
            "transcript" => Some(EmailKind::Transcript),
            _ => None,
        }
    }
}

/// An email to queue: one recipient, one chat, starting at one unread message (for a
/// transcript: the newest message when the chat closed).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEmail {
    pub kind: EmailKind,
    pub recipient: Actor,
    pub chat_id: ChatId,
    pub first_message_id: MessageId,
    pub due_at: OffsetDateTime,
}

/// What "one open email" is counted by: kind, recipient type, recipient id, chat — as the
/// outbox's columns hold them.
pub type OpenEmailKey = (&'static str, &'static str, i64, i64);

impl NewEmail {
    /// Its [`OpenEmailKey`]: at most one pending or sending row per key.
    pub fn open_key(&self) -> OpenEmailKey {
        (
            self.kind.as_str(),
            self.recipient.sender_type().as_str(),
            self.recipient.raw_id(),
            self.chat_id.0,
        )
    }

    /// The first email of each open key, in order: a burst inside one batch becomes one
    /// email, as it does across batches.
    pub fn first_of_each(emails: &[NewEmail]) -> Vec<&NewEmail> {
        let mut seen = std::collections::HashSet::new();
        emails
            .iter()
            .filter(|e| seen.insert(e.open_key()))
            .collect()
    }
}

/// A row of the email outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OutboxEmail {
    pub id: i64,
    pub kind: EmailKind,
    /// `user`, `admin`, `worker` or `guest`.
    pub recipient_type: SenderType,
    pub recipient_id: i64,
    pub chat_id: ChatId,
    pub first_message_id: MessageId,
    /// The newest message the sent email covered.
    pub last_message_id: Option<MessageId>,
    /// `pending`, `sending`, `sent`, `cancelled` (read in time, or email turned off) or
    /// `failed` (gave up after the last retry).
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// Recipient, chat and last message covered: the same email is never sent twice.
    pub idempotency_key: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
}

impl OutboxEmail {
    pub fn recipient(&self) -> Option<Actor> {
        Actor::from_parts(self.recipient_type.as_str(), self.recipient_id)
    }
}

/// How an attempt to send an outbox email ended.
#[derive(Debug, Clone, PartialEq)]
pub enum EmailOutcome {
    Sent {
        last_message_id: MessageId,
        idempotency_key: String,
    },
    /// Nothing to send (read in time, email off, no address).
    Cancelled(String),
    /// Try again at this time.
    Retry { at: OffsetDateTime, error: String },
    /// Postponed without counting an attempt (quiet hours).
    Postpone(OffsetDateTime),
    /// Gave up.
    Failed(String),
}
