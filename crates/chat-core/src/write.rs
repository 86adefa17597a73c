//! The write path's rules, once: what a change to a chat writes.
//!
//! A store locks the chats a batch of commands touches, hands them to [`apply`], and
//! [`apply`] decides in memory — asking each command's rule on the chat *as locked*, in
//! order — which messages, events and chat states to write. The store only runs the SQL
//! for those rows ([`WriteTx`]): no store knows the sequence numbering, the event kinds,
//! the system sender or the status machine.
//!
//! - Every change to a chat takes the chat's next `seq`: a message, a `chat.updated`, a
//!   `message.read`. Sequence numbers have no gaps.
//! - A message stores `message.created`; a rule's change ([`ChatChange`]) adds the system
//!   message that tells the chat's story and a `chat.updated` with the chat as it now is.
//! - Each event carries who may see it *at that moment* (the chat's worker, customer, and
//!   the worker it moved away from), which is what the realtime hub routes by. A private
//!   note's event is the staff's only: it names no customer.
//! - A command refused by its rule changes nothing and answers only its own caller.
//! - A message whose `client_id` its sender used before in that chat is a retry: the stored
//!   message is the answer, and no rule is asked.

use crate::ChatStatus;
use crate::actor::{Actor, SenderType};
use crate::error::ChatError;
use crate::ids::{ChatId, GuestId, MessageId, UserId, WorkerId};
use crate::model::{
    Chat, ChatChange, ChatRating, ChatStart, Message, NewChat, NewRating, ReadPosition, SendOutcome,
};
use crate::store::StoreError;
use async_trait::async_trait;
use serde::Serialize;
use std::collections::HashMap;
use time::OffsetDateTime;

/// The name system messages are sent under.
pub const SYSTEM_SENDER_NAME: &str = "Nati Chat";

/// What an event in the log is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    ChatCreated,
    ChatUpdated,
    MessageCreated,
    MessageRead,
}

impl EventKind {
    pub const ALL: [EventKind; 4] = [
        EventKind::ChatCreated,
        EventKind::ChatUpdated,
        EventKind::MessageCreated,
        EventKind::MessageRead,
    ];

    /// The name stored in the log and sent to clients as the frame's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ChatCreated => "chat.created",
            EventKind::ChatUpdated => "chat.updated",
            EventKind::MessageCreated => "message.created",
            EventKind::MessageRead => "message.read",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The sender types whose messages a reader's reading marks read (`is_read`): staff read
/// the customer's messages, customers read the staff's.
pub fn other_side(reader: &Actor) -> [SenderType; 2] {
    if reader.is_customer() {
        [SenderType::Admin, SenderType::Worker]
    } else {
        [SenderType::User, SenderType::Guest]
    }
}

/// A decision taken on the chat as locked inside the transaction. Owned, so a command can
/// wait in a node's write queue.
pub type Rule = Box<dyn Fn(&Chat) -> Result<ChatChange, ChatError> + Send + Sync>;

/// One write to a chat, as queued for the node's writer.
pub enum WriteCommand {
    /// Store a message; the rule may change the chat (a customer writing reopens it).
    Send {
        new: crate::model::NewMessage,
        rule: Rule,
        now: OffsetDateTime,
    },
    /// Change the chat (assign, close, escalate, ...) as the rule decides.
    Update {
        chat_id: ChatId,
        rule: Rule,
        now: OffsetDateTime,
    },
    /// Start a chat (status `pending`) with its optional first message. A repeated
    /// `client_id` from the same customer returns the chat made the first time.
    Start { new: NewChat, now: OffsetDateTime },
    /// Move a reader's position forward to `up_to` (or the newest message); never back.
    Read {
        chat_id: ChatId,
        reader: Actor,
        up_to: Option<MessageId>,
        now: OffsetDateTime,
    },
    /// A guest's session expired: mark it so and close its chats that are not closed.
    ExpireGuest { guest: GuestId, now: OffsetDateTime },
    /// The customer rates the closed chat, once ([`crate::policy::may_rate`]); the chat's
    /// story says so in a system message.
    Rate {
        rating: NewRating,
        now: OffsetDateTime,
    },
    /// Give a waiting chat to a worker with room ([`crate::routing::auto_assign`]).
    AutoAssign {
        chat_id: ChatId,
        worker: WorkerId,
        worker_name: String,
        settings: crate::routing::RoutingSettings,
        /// The worker took it themselves ("Take") rather than the router giving it.
        taken: bool,
        now: OffsetDateTime,
    },
}

impl WriteCommand {
    /// The command's name, for spans and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            WriteCommand::Send { .. } => "send",
            WriteCommand::Update { .. } => "update",
            WriteCommand::Start { .. } => "start",
            WriteCommand::Read { .. } => "read",
            WriteCommand::ExpireGuest { .. } => "expire_guest",
            WriteCommand::Rate { .. } => "rate",
            WriteCommand::AutoAssign { .. } => "auto_assign",
        }
    }

    /// The chat this command locks, when it names one.
    pub fn chat_id(&self) -> Option<ChatId> {
        match self {
            WriteCommand::Send { new, .. } => Some(new.chat_id),
            WriteCommand::Update { chat_id, .. } | WriteCommand::Read { chat_id, .. } => {
                Some(*chat_id)
            }
            WriteCommand::Rate { rating, .. } => Some(rating.chat_id),
            WriteCommand::AutoAssign { chat_id, .. } => Some(*chat_id),
            WriteCommand::Start { .. } | WriteCommand::ExpireGuest { .. } => None,
        }
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    /// The message (new or the stored original of a retry) and the chat after it.
    Sent(SendOutcome, Chat),
    /// The chat after the change.
    Updated(Chat),
    /// A chat started (or found again by its client id).
    Started(ChatStart),
    /// The reader's position after the read.
    Read(ReadPosition),
    /// The chats an expired guest's session closed.
    Expired(Vec<ChatId>),
    /// The rating as stored.
    Rated(ChatRating),
}

/// A message row to insert. `sender_id: None` with `SenderType::System` is the chat's own
/// story.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageRow {
    pub chat_id: ChatId,
    pub seq: i64,
    pub sender_type: SenderType,
    pub sender_id: Option<i64>,
    pub sender_name: String,
    pub message: String,
    pub is_read: bool,
    pub client_id: Option<String>,
    #[serde(skip)]
    pub created_at: OffsetDateTime,
    pub is_private: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::attachment::AttachmentMeta>,
}

impl MessageRow {
    /// The stored message, once the database gave it its id.
    pub fn stored(&self, id: MessageId) -> Message {
        Message {
            message_id: id,
            chat_id: self.chat_id,
            seq: self.seq,
            sender_type: self.sender_type,
            sender_id: self.sender_id,
            sender_name: self.sender_name.clone(),
            message: self.message.clone(),
            is_read: self.is_read,
            client_id: self.client_id.clone(),
            created_at: self.created_at,
            is_private: self.is_private,
            attachments: self.attachments.clone(),
        }
    }

    /// The files as stored in the `attachments` column: a JSON list, or empty for none.
    pub fn attachments_column(&self) -> Option<String> {
        crate::rows::attachments_column(&self.attachments)
    }
}

/// Who may see an event, as the chat was when it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Visibility {
    pub worker_id: Option<WorkerId>,
    /// The worker the chat moved away from with this event (so they hear of it).
    pub previous_worker_id: Option<WorkerId>,
    pub user_id: Option<UserId>,
    pub guest_id: Option<GuestId>,
}

impl Visibility {
    fn of(chat: &Chat, previous_worker_id: Option<WorkerId>) -> Self {
        Visibility {
            worker_id: chat.worker_id,
            previous_worker_id,
            user_id: chat.user_id,
            guest_id: chat.guest_id,
        }
    }

    /// The same, without the customer: for what only the staff may see.
    fn staff_only(self) -> Self {
        Visibility {
            user_id: None,
            guest_id: None,
            ..self
        }
    }
}

/// An event row to append to the log. The database gives it its `event_id`, in the order
/// the rows are inserted.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub chat_id: ChatId,
    pub seq: i64,
    pub kind: EventKind,
    /// The payload as JSON text.
    pub payload: String,
    pub visibility: Visibility,
    pub created_at: OffsetDateTime,
}

/// The key that makes a sender's retries idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey {
    pub chat_id: ChatId,
    pub sender_type: SenderType,
    pub sender_id: i64,
    pub client_id: String,
}

impl ClientKey {
    fn of(m: &Message) -> Option<ClientKey> {
        Some(ClientKey {
            chat_id: m.chat_id,
            sender_type: m.sender_type,
            sender_id: m.sender_id?,
            client_id: m.client_id.clone()?,
        })
    }
}

/// The SQL a backend runs for the write path, inside one open transaction. Nothing here
/// decides anything: [`apply`] and [`Plan`] do.
#[async_trait]
pub trait WriteTx: Send {
    /// Read these chats, locked for the rest of the transaction where the database has
    /// row locks (`FOR UPDATE`), in `chat_id` order. Unknown ids are left out.
    async fn lock_chats(&mut self, ids: &[ChatId]) -> Result<Vec<Chat>, StoreError>;
    /// The stored messages with these keys (retries of messages sent before).
    async fn find_client_ids(&mut self, keys: &[ClientKey]) -> Result<Vec<Message>, StoreError>;
    /// Insert the messages; their new ids, in the same order as `rows`.
    async fn insert_messages(&mut self, rows: &[MessageRow]) -> Result<Vec<MessageId>, StoreError>;
    /// The uploads these messages carry are sent, in the same transaction as the messages
    /// (`(attachment id, in a private note)`): a stored message's files are never swept
    /// as unsent, and a refused message leaves its uploads as they were. Privacy follows
    /// [`crate::attachment::private_after`], applied in the same statement.
    async fn mark_files_sent(&mut self, files: &[(String, bool)]) -> Result<(), StoreError>;
    /// Append the events in this order (their event ids increase in this order).
    async fn insert_events(&mut self, rows: &[EventRow]) -> Result<(), StoreError>;
    /// Write these chats' mutable columns back: admin, worker, assigned_by, status,
    /// last_seq, updated_at, last_message_at.
    async fn save_chats(&mut self, chats: &[Chat]) -> Result<(), StoreError>;

    // ---- starting chats --------------------------------------------------------------
    /// The chat this customer started with this client id, if any.
    async fn started_chat(
        &mut self,
        customer: &Actor,
        client_id: &str,
    ) -> Result<Option<ChatId>, StoreError>;
    /// A chat's first message from its customer (the one a start carried), if any.
    async fn first_customer_message(&mut self, chat: ChatId)
    -> Result<Option<Message>, StoreError>;
    /// Insert a new chat row: status `pending`, `last_seq` 0, created and updated `now`,
    /// with the start's client id. A unique-key race on the client id (another node
    /// started the same chat) is a retryable error: the retry finds that chat.
    async fn insert_chat(&mut self, new: &NewChat, now: OffsetDateTime)
    -> Result<Chat, StoreError>;

    // ---- read positions --------------------------------------------------------------
    /// The newest message id in the chat (0 when it has none).
    async fn newest_message(&mut self, chat: ChatId) -> Result<MessageId, StoreError>;
    /// Whether the message exists in this chat.
    async fn has_message(&mut self, chat: ChatId, id: MessageId) -> Result<bool, StoreError>;
    /// The reader's stored position and when it was set.
    async fn read_position(
        &mut self,
        chat: ChatId,
        reader: &Actor,
    ) -> Result<Option<(MessageId, OffsetDateTime)>, StoreError>;
    /// Store the reader's position (insert or replace).
    async fn save_read_position(&mut self, position: &ReadPosition) -> Result<(), StoreError>;
    /// Set `is_read` on the messages up to `up_to` sent by these sender types.
    async fn mark_messages_read(
        &mut self,
        chat: ChatId,
        up_to: MessageId,
        senders: [SenderType; 2],
    ) -> Result<(), StoreError>;

    // ---- automatic assignment -------------------------------------------------------
    /// The worker's open (not closed) chats as committed, read under a lock that keeps
    /// another transaction from assigning to the same worker until this one ends.
    async fn worker_open_chats(&mut self, worker: WorkerId) -> Result<i64, StoreError>;

    // ---- ratings ---------------------------------------------------------------------
    /// Store a chat's rating unless it has one: false when it had (nothing is written).
    async fn insert_rating(&mut self, rating: &ChatRating) -> Result<bool, StoreError>;

    // ---- guests ----------------------------------------------------------------------
    /// Mark the guest's session expired at `now` (if it is not already), and return its
    /// chats that are not closed, in id order.
    async fn expire_guest_session(
        &mut self,
        guest: GuestId,
        now: OffsetDateTime,
    ) -> Result<Vec<ChatId>, StoreError>;
}

/// What to write for a set of changes, built in memory on the locked chats.
#[derive(Debug, Default)]
pub struct Plan {
    messages: Vec<MessageRow>,
    events: Vec<PendingEvent>,
}

#[derive(Debug)]
struct PendingEvent {
    row: EventRow,
    /// The payload is this planned message (serialised once its id is known).
    message: Option<usize>,
}

/// Times as every backend stores them: whole microseconds. A plan's rows carry exactly
/// what a later read returns.
pub fn stored_time(t: OffsetDateTime) -> OffsetDateTime {
    let micros = t.nanosecond() / 1_000 * 1_000;
    t.replace_nanosecond(micros).unwrap_or(t)
}

fn json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Database(format!("serialising an event: {e}")))
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.events.is_empty()
    }

    fn next_seq(chat: &mut Chat) -> i64 {
        chat.last_seq += 1;
        chat.last_seq
    }

    fn event(
        &mut self,
        chat: &Chat,
        kind: EventKind,
        payload: String,
        message: Option<usize>,
        previous_worker: Option<WorkerId>,
        now: OffsetDateTime,
    ) {
        let visibility = Visibility::of(chat, previous_worker);
        let private = message.is_some_and(|i| self.messages[i].is_private);
        self.events.push(PendingEvent {
            row: EventRow {
                chat_id: chat.chat_id,
                seq: chat.last_seq,
                kind,
                payload,
                visibility: if private {
                    visibility.staff_only()
                } else {
                    visibility
                },
                created_at: now,
            },
            message,
        });
    }

    /// A message in `chat` (`sender: None` is a system message) and its `message.created`.
    /// Returns the planned message's index (see [`Plan::write`]). Moves no timestamps.
    /// A private note is born read: nobody's unread count waits on it.
    pub fn message(
        &mut self,
        chat: &mut Chat,
        sender: Option<(&Actor, &str)>,
        text: &str,
        client_id: Option<&str>,
        private: bool,
        now: OffsetDateTime,
    ) -> usize {
        let now = stored_time(now);
        let seq = Self::next_seq(chat);
        let (sender_type, sender_id, sender_name, is_read) = match sender {
            Some((a, name)) => (a.sender_type(), Some(a.raw_id()), name.to_owned(), private),
            None => (
                SenderType::System,
                None,
                SYSTEM_SENDER_NAME.to_owned(),
                true,
            ),
        };
        self.messages.push(MessageRow {
            chat_id: chat.chat_id,
            seq,
            sender_type,
            sender_id,
            sender_name,
            message: text.to_owned(),
            is_read,
            client_id: client_id.map(str::to_owned),
            created_at: now,
            is_private: private,
            attachments: Vec::new(),
        });
        let index = self.messages.len() - 1;
        self.event(
            chat,
            EventKind::MessageCreated,
            String::new(),
            Some(index),
            None,
            now,
        );
        index
    }

    /// Apply a rule's change: the new state, the system message telling the story (if
    /// any) and a `chat.updated` carrying the chat as it now is. False when the change is
    /// empty (nothing is written).
    pub fn change(
        &mut self,
        chat: &mut Chat,
        change: &ChatChange,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        if change.is_empty() {
            return Ok(false);
        }
        let now = stored_time(now);
        let previous_worker = chat.worker_id;
        if let Some(s) = change.status {
            chat.status = s;
        }
        if let Some(w) = change.worker_id {
            chat.worker_id = w;
            if w.is_none() {
                chat.assigned_by = None;
            }
        }
        if let Some(a) = change.assigned_by {
            chat.assigned_by = Some(a);
        }
        if let Some(a) = change.admin_id {
            chat.admin_id = Some(a);
        }
        chat.updated_at = now;
        if let Some(note) = &change.note {
            self.message(chat, None, note, None, false, now);
        }
        if let Some(p) = &change.private_note {
            self.message(
                chat,
                Some((&p.author, &p.author_name)),
                &p.text,
                None,
                true,
                now,
            );
        }
        Self::next_seq(chat);
        let moved = (previous_worker != chat.worker_id)
            .then_some(previous_worker)
            .flatten();
        let payload = json(&*chat)?;
        self.event(chat, EventKind::ChatUpdated, payload, None, moved, now);
        Ok(true)
    }

    /// A new chat's `chat.created` (the chat as inserted, `last_seq` 0) and the customer's
    /// first message, if any.
    pub fn created(
        &mut self,
        chat: &mut Chat,
        new: &NewChat,
        now: OffsetDateTime,
    ) -> Result<Option<usize>, StoreError> {
        let now = stored_time(now);
        Self::next_seq(chat);
        let payload = json(&*chat)?;
        self.event(chat, EventKind::ChatCreated, payload, None, None, now);
        let first = new.first_message.as_deref().map(|text| {
            let i = self.message(
                chat,
                Some((&new.customer, &new.customer_name)),
                text,
                None,
                false,
                now,
            );
            chat.last_message_at = Some(now);
            i
        });
        Ok(first)
    }

    /// A reader's position moved: `message.read`. A read is not activity: `updated_at`
    /// stays, so reading never reorders a list.
    pub fn read(
        &mut self,
        chat: &mut Chat,
        position: &ReadPosition,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let now = stored_time(now);
        Self::next_seq(chat);
        let payload = json(position)?;
        self.event(chat, EventKind::MessageRead, payload, None, None, now);
        Ok(())
    }

    /// Insert the planned messages, then the events in plan order. Returns the stored
    /// messages by planned index.
    pub async fn write<T: WriteTx + ?Sized>(self, tx: &mut T) -> Result<Vec<Message>, StoreError> {
        let messages = if self.messages.is_empty() {
            Vec::new()
        } else {
            let ids = tx.insert_messages(&self.messages).await?;
            if ids.len() != self.messages.len() {
                return Err(StoreError::Database(format!(
                    "inserted {} messages but got {} ids back",
                    self.messages.len(),
                    ids.len()
                )));
            }
            let files: Vec<(String, bool)> = self
                .messages
                .iter()
                .flat_map(|m| m.attachments.iter().map(|a| (a.id.clone(), m.is_private)))
                .collect();
            if !files.is_empty() {
                tx.mark_files_sent(&files).await?;
            }
            self.messages
                .iter()
                .zip(ids)
                .map(|(row, id)| row.stored(id))
                .collect()
        };
        if !self.events.is_empty() {
            let mut rows = Vec::with_capacity(self.events.len());
            for e in self.events {
                let mut row = e.row;
                if let Some(i) = e.message {
                    row.payload = json(&messages[i])?;
                }
                rows.push(row);
            }
            tx.insert_events(&rows).await?;
        }
        Ok(messages)
    }
}

/// What one command came to, before the messages have ids.
enum Pending {
    Refused(ChatError),
    Retry(Message, Chat),
    RetryInBatch(usize, Chat),
    Created(usize, Chat),
    Updated(Chat),
    Started(Chat, Option<usize>),
    StartedBefore(ChatStart),
    Read(ReadPosition),
    Expired(Vec<ChatId>),
    Rated(ChatRating),
}

/// The change that closes a chat whose guest's session expired.
fn guest_expired() -> ChatChange {
    ChatChange {
        status: Some(ChatStatus::Closed),
        note: Some("The guest's session expired; the chat is closed".into()),
        ..ChatChange::default()
    }
}

/// Run a batch of commands inside the caller's open transaction: lock their chats, find
/// retried client ids, ask each rule in order on the chat as the commands before it left
/// it, and write everything with a handful of statements. The outer error is the
/// database's (the caller rolls back); the inner ones are refusals, each for its own
/// command only.
pub async fn apply<T: WriteTx + ?Sized>(
    tx: &mut T,
    cmds: &[WriteCommand],
) -> Result<Vec<Result<WriteOutcome, ChatError>>, StoreError> {
    // Expiring guests first: the chats they close are locked with the others.
    let mut expiring: HashMap<usize, Vec<ChatId>> = HashMap::new();
    for (i, cmd) in cmds.iter().enumerate() {
        if let WriteCommand::ExpireGuest { guest, now } = cmd {
            let open = tx.expire_guest_session(*guest, stored_time(*now)).await?;
            expiring.insert(i, open);
        }
    }
    let mut ids: Vec<ChatId> = cmds.iter().filter_map(WriteCommand::chat_id).collect();
    ids.extend(expiring.values().flatten().copied());
    ids.sort_unstable_by_key(|c| c.0);
    ids.dedup();
    let mut chats: HashMap<ChatId, Chat> = if ids.is_empty() {
        HashMap::new()
    } else {
        tx.lock_chats(&ids)
            .await?
            .into_iter()
            .map(|c| (c.chat_id, c))
            .collect()
    };
    let keys: Vec<ClientKey> = cmds
        .iter()
        .filter_map(|c| match c {
            WriteCommand::Send { new, .. } if chats.contains_key(&new.chat_id) => Some(ClientKey {
                chat_id: new.chat_id,
                sender_type: new.sender.sender_type(),
                sender_id: new.sender.raw_id(),
                client_id: new.client_id.clone()?,
            }),
            _ => None,
        })
        .collect();
    let stored: HashMap<ClientKey, Message> = if keys.is_empty() {
        HashMap::new()
    } else {
        tx.find_client_ids(&keys)
            .await?
            .into_iter()
            .filter_map(|m| ClientKey::of(&m).map(|k| (k, m)))
            .collect()
    };

    let mut plan = Plan::default();
    let mut in_batch: HashMap<ClientKey, usize> = HashMap::new();
    // Chats given to each worker earlier in this batch (not yet in the table).
    let mut given: HashMap<WorkerId, i64> = HashMap::new();
    let mut changed: Vec<ChatId> = Vec::new();
    let mut pending = Vec::with_capacity(cmds.len());
    for (i, cmd) in cmds.iter().enumerate() {
        let p = match cmd {
            WriteCommand::Send { new, rule, now } => {
                let Some(chat) = chats.get_mut(&new.chat_id) else {
                    pending.push(Pending::Refused(ChatError::NotFound("chat")));
                    continue;
                };
                let now = stored_time(*now);
                let key = new.client_id.clone().map(|client_id| ClientKey {
                    chat_id: new.chat_id,
                    sender_type: new.sender.sender_type(),
                    sender_id: new.sender.raw_id(),
                    client_id,
                });
                if let Some(k) = &key {
                    if let Some(m) = stored.get(k) {
                        pending.push(Pending::Retry(m.clone(), chat.clone()));
                        continue;
                    }
                    if let Some(&i) = in_batch.get(k) {
                        pending.push(Pending::RetryInBatch(i, chat.clone()));
                        continue;
                    }
                }
                // Written once here, whatever rule the caller handed in: only the staff
                // write private notes.
                if new.private && !crate::policy::sees_private_notes(&new.sender) {
                    pending.push(Pending::Refused(ChatError::forbidden(
                        "only staff write private notes",
                    )));
                    continue;
                }
                let change = match rule(chat) {
                    Ok(c) => c,
                    Err(e) => {
                        pending.push(Pending::Refused(e));
                        continue;
                    }
                };
                let i = plan.message(
                    chat,
                    Some((&new.sender, &new.sender_name)),
                    &new.text,
                    new.client_id.as_deref(),
                    new.private,
                    now,
                );
                plan.messages[i].attachments = new.attachments.clone();
                // A private note is not activity the customer could see: the chat keeps
                // its place in every list.
                if !new.private {
                    chat.last_message_at = Some(now);
                    chat.updated_at = now;
                }
                plan.change(chat, &change, now)?;
                if let Some(k) = key {
                    in_batch.insert(k, i);
                }
                touched(&mut changed, chat.chat_id);
                Pending::Created(i, chat.clone())
            }
            WriteCommand::Update { chat_id, rule, now } => {
                let Some(chat) = chats.get_mut(chat_id) else {
                    pending.push(Pending::Refused(ChatError::NotFound("chat")));
                    continue;
                };
                match rule(chat) {
                    Ok(change) => {
                        if plan.change(chat, &change, *now)? {
                            touched(&mut changed, chat.chat_id);
                        }
                        Pending::Updated(chat.clone())
                    }
                    Err(e) => Pending::Refused(e),
                }
            }
            WriteCommand::Start { new, now } => {
                if !new.customer.is_customer() {
                    pending.push(Pending::Refused(ChatError::forbidden(
                        "only customers start chats",
                    )));
                    continue;
                }
                let earlier = match &new.client_id {
                    Some(cid) => tx.started_chat(&new.customer, cid).await?,
                    None => None,
                };
                match earlier {
                    Some(id) => {
                        let chat = match chats.get(&id) {
                            Some(c) => c.clone(),
                            None => tx
                                .lock_chats(&[id])
                                .await?
                                .pop()
                                .ok_or(StoreError::Rule(ChatError::NotFound("chat")))?,
                        };
                        let first = tx.first_customer_message(id).await?;
                        Pending::StartedBefore(ChatStart {
                            chat,
                            first_message: first,
                            created: false,
                        })
                    }
                    None => {
                        let now = stored_time(*now);
                        let mut chat = tx.insert_chat(new, now).await?;
                        let first = plan.created(&mut chat, new, now)?;
                        touched(&mut changed, chat.chat_id);
                        chats.insert(chat.chat_id, chat.clone());
                        Pending::Started(chat, first)
                    }
                }
            }
            WriteCommand::Read {
                chat_id,
                reader,
                up_to,
                now,
            } => {
                let Some(chat) = chats.get_mut(chat_id) else {
                    pending.push(Pending::Refused(ChatError::NotFound("chat")));
                    continue;
                };
                let now = stored_time(*now);
                let target = match up_to {
                    None => tx.newest_message(*chat_id).await?,
                    Some(m) if tx.has_message(*chat_id, *m).await? => *m,
                    Some(_) => {
                        pending.push(Pending::Refused(ChatError::NotFound("message")));
                        continue;
                    }
                };
                let position = |id: MessageId, at: OffsetDateTime| ReadPosition {
                    chat_id: *chat_id,
                    reader_type: reader.sender_type(),
                    reader_id: reader.raw_id(),
                    last_read_message_id: id,
                    updated_at: at,
                };
                let (current, at) = tx
                    .read_position(*chat_id, reader)
                    .await?
                    .unwrap_or((MessageId(0), now));
                match read_target(current, target) {
                    None => Pending::Read(position(current, at)),
                    Some(target) => {
                        let pos = position(target, now);
                        tx.save_read_position(&pos).await?;
                        tx.mark_messages_read(*chat_id, target, other_side(reader))
                            .await?;
                        plan.read(chat, &pos, now)?;
                        touched(&mut changed, chat.chat_id);
                        Pending::Read(pos)
                    }
                }
            }
            WriteCommand::AutoAssign {
                chat_id,
                worker,
                worker_name,
                settings,
                taken,
                now,
            } => {
                let Some(chat) = chats.get_mut(chat_id) else {
                    pending.push(Pending::Refused(ChatError::NotFound("chat")));
                    continue;
                };
                let open =
                    tx.worker_open_chats(*worker).await? + given.get(worker).copied().unwrap_or(0);
                match crate::routing::auto_assign(
                    chat,
                    *worker,
                    worker_name,
                    open,
                    settings,
                    *taken,
                ) {
                    Ok(change) => {
                        plan.change(chat, &change, *now)?;
                        *given.entry(*worker).or_default() += 1;
                        touched(&mut changed, chat.chat_id);
                        Pending::Updated(chat.clone())
                    }
                    Err(e) => Pending::Refused(e),
                }
            }
            WriteCommand::Rate { rating, now } => {
                let Some(chat) = chats.get_mut(&rating.chat_id) else {
                    pending.push(Pending::Refused(ChatError::NotFound("chat")));
                    continue;
                };
                if let Err(e) = crate::policy::may_rate(&rating.rater, chat) {
                    pending.push(Pending::Refused(e));
                    continue;
                }
                let now = stored_time(*now);
                let stored = ChatRating {
                    chat_id: chat.chat_id,
                    stars: rating.stars,
                    comment: rating.comment.clone(),
                    rater_type: rating.rater.sender_type(),
                    rater_id: rating.rater.raw_id(),
                    created_at: now,
                };
                if !tx.insert_rating(&stored).await? {
                    pending.push(Pending::Refused(ChatError::conflict(
                        "this chat has already been rated",
                    )));
                    continue;
                }
                let line = rating_line(&rating.rater_name, rating.stars, &rating.comment);
                plan.message(chat, None, &line, None, false, now);
                touched(&mut changed, chat.chat_id);
                Pending::Rated(stored)
            }
            WriteCommand::ExpireGuest { now, .. } => {
                let mut closed = Vec::new();
                for id in expiring.get(&i).into_iter().flatten() {
                    let Some(chat) = chats.get_mut(id) else {
                        continue;
                    };
                    if chat.status != ChatStatus::Closed
                        && plan.change(chat, &guest_expired(), *now)?
                    {
                        touched(&mut changed, chat.chat_id);
                        closed.push(chat.chat_id);
                    }
                }
                Pending::Expired(closed)
            }
        };
        pending.push(p);
    }
    let messages = plan.write(tx).await?;
    if !changed.is_empty() {
        let to_save: Vec<Chat> = changed
            .iter()
            .filter_map(|id| chats.get(id).cloned())
            .collect();
        tx.save_chats(&to_save).await?;
    }
    Ok(pending
        .into_iter()
        .map(|p| match p {
            Pending::Refused(e) => Err(e),
            Pending::Retry(m, c) => Ok(WriteOutcome::Sent(SendOutcome::Duplicate(m), c)),
            Pending::RetryInBatch(i, c) => Ok(WriteOutcome::Sent(
                SendOutcome::Duplicate(messages[i].clone()),
                c,
            )),
            Pending::Created(i, c) => Ok(WriteOutcome::Sent(
                SendOutcome::Created(messages[i].clone()),
                c,
            )),
            Pending::Updated(c) => Ok(WriteOutcome::Updated(c)),
            Pending::Started(chat, first) => Ok(WriteOutcome::Started(ChatStart {
                first_message: first.and_then(|i| messages.get(i).cloned()),
                chat,
                created: true,
            })),
            Pending::StartedBefore(start) => Ok(WriteOutcome::Started(start)),
            Pending::Read(pos) => Ok(WriteOutcome::Read(pos)),
            Pending::Expired(ids) => Ok(WriteOutcome::Expired(ids)),
            Pending::Rated(r) => Ok(WriteOutcome::Rated(r)),
        })
        .collect())
}

/// The system line a rating adds to the chat's story.
pub fn rating_line(name: &str, stars: i64, comment: &str) -> String {
    if comment.is_empty() {
        format!("{name} rated the chat {stars} of 5")
    } else {
        format!("{name} rated the chat {stars} of 5: “{comment}”")
    }
}

fn touched(changed: &mut Vec<ChatId>, id: ChatId) {
    if !changed.contains(&id) {
        changed.push(id);
    }
}

/// Where a reader's position goes, or `None` when it would not move forward.
pub fn read_target(current: MessageId, target: MessageId) -> Option<MessageId> {
    (target.0 > current.0).then_some(target)
}

mod queue;
pub use queue::{BatchExecutor, WriteQueue};

#[cfg(test)]
mod tests;
