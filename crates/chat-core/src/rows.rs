//! From a result row to a model, once for every backend.
//!
//! Each store reads its driver's rows through [`Columns`] (a handful of typed getters by
//! column name: how the driver stores integers, flags, times and JSON is the store's
//! business) and calls these mappers, which know the column names and the models. A
//! column added to a table is mapped here, not three times.

use crate::ids::*;
use crate::model::*;
use crate::webhook::{Delivery, EventType};
use crate::{AccountRole, Actor, ChatStatus, SenderType, StoreError};
use time::OffsetDateTime;

/// One result row, by column name. Integers come as `i64` whatever their width or sign
/// in the database; a missing value is `None`.
pub trait Columns {
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn opt_flag(&self, col: &str) -> Result<Option<bool>, StoreError>;
    fn opt_time(&self, col: &str) -> Result<Option<OffsetDateTime>, StoreError>;

    /// A JSON column; by default stored as text.
    fn json(&self, col: &str) -> Result<serde_json::Value, StoreError> {
        serde_json::from_str(&self.text(col)?)
            .map_err(|e| StoreError::Database(format!("{col}: {e}")))
    }
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        self.opt_int(col)?.ok_or_else(|| null(col))
    }
    fn text(&self, col: &str) -> Result<String, StoreError> {
        self.opt_text(col)?.ok_or_else(|| null(col))
    }
    fn flag(&self, col: &str) -> Result<bool, StoreError> {
        self.opt_flag(col)?.ok_or_else(|| null(col))
    }
    fn time(&self, col: &str) -> Result<OffsetDateTime, StoreError> {
        self.opt_time(col)?.ok_or_else(|| null(col))
    }
}

fn null(col: &str) -> StoreError {
    StoreError::Database(format!("{col} is NULL"))
}

fn bad(what: &str, value: &str) -> StoreError {
    StoreError::Database(format!("bad {what} {value}"))
}

pub fn account(row: &impl Columns, role: AccountRole) -> Result<Account, StoreError> {
    let host_id = row.opt_text("host_subject")?;
    Ok(Account {
        role,
        id: row.int("id")?,
        email: row.text("email")?,
        name: row.text("name")?,
        avatar_url: row.opt_text("avatar_url")?,
        active: row.flag("active")?,
        created_at: row.time("created_at")?,
        source: AccountSource::of(&host_id),
        host_id,
    })
}

pub fn guest(row: &impl Columns) -> Result<Guest, StoreError> {
    Ok(Guest {
        guest_id: GuestId(row.int("guest_id")?),
        name: row.opt_text("name")?,
        email: row.opt_text("email")?,
        created_at: row.time("created_at")?,
        last_seen_at: row.time("last_seen_at")?,
        expired_at: row.opt_time("expired_at")?,
        wants_transcript: row.flag("wants_transcript")?,
    })
}

/// The columns [`chat`] reads, in table order, for `SELECT {CHAT_COLUMNS} FROM tbl_chats`.
pub const CHAT_COLUMNS: &str = "chat_id, user_id, guest_id, admin_id, worker_id, assigned_by, status, topic, \
    last_seq, created_at, updated_at, last_message_at";

pub fn chat(row: &impl Columns) -> Result<Chat, StoreError> {
    let status = row.text("status")?;
    Ok(Chat {
        chat_id: ChatId(row.int("chat_id")?),
        user_id: row.opt_int("user_id")?.map(UserId),
        guest_id: row.opt_int("guest_id")?.map(GuestId),
        admin_id: row.opt_int("admin_id")?.map(AdminId),
        worker_id: row.opt_int("worker_id")?.map(WorkerId),
        assigned_by: row.opt_int("assigned_by")?.map(AdminId),
        status: status.parse::<ChatStatus>().map_err(StoreError::Database)?,
        topic: row.text("topic")?,
        last_seq: row.int("last_seq")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
        last_message_at: row.opt_time("last_message_at")?,
    })
}

/// A chat with the summary select's extra columns (names, newest message, unread count).
pub fn summary(row: &impl Columns) -> Result<ChatSummary, StoreError> {
    let chat = chat(row)?;
    let verified = chat.user_id.is_some();
    let customer_name = match row.opt_text("customer_name")? {
        Some(n) if !n.is_empty() => n,
        _ => match chat.guest_id {
            Some(g) => format!("Guest #{g}"),
            None => String::new(),
        },
    };
    Ok(ChatSummary {
        customer_type: if verified {
            SenderType::User
        } else {
            SenderType::Guest
        },
        customer_name,
        customer_email: row.opt_text("customer_email")?,
        customer_verified: verified,
        customer_host_id: row.opt_text("customer_host_id")?,
        worker_name: row.opt_text("worker_name")?,
        last_message: match row.opt_text("last_message")? {
            Some(text) if text.is_empty() => Some(crate::attachment::preview(
                &text,
                &attachments(row.opt_text("last_message_files")?.as_deref())?,
            )),
            other => other,
        },
        last_message_mine: row.flag("last_message_mine")?,
        unread: row.int("unread")?,
        rating: row.opt_int("rating")?,
        chat,
    })
}

pub fn message(row: &impl Columns) -> Result<Message, StoreError> {
    let st = row.text("sender_type")?;
    Ok(Message {
        message_id: MessageId(row.int("message_id")?),
        chat_id: ChatId(row.int("chat_id")?),
        seq: row.int("seq")?,
        sender_type: SenderType::parse(&st).ok_or_else(|| bad("sender_type", &st))?,
        sender_id: row.opt_int("sender_id")?,
        sender_name: row.text("sender_name")?,
        message: row.text("message")?,
        is_read: row.flag("is_read")?,
        client_id: row.opt_text("client_id")?,
        created_at: row.time("created_at")?,
        is_private: row.flag("is_private")?,
        attachments: attachments(row.opt_text("attachments")?.as_deref())?,
    })
}

/// The `attachments` column of a message: a JSON list of
/// [`AttachmentMeta`](crate::attachment::AttachmentMeta), or empty.
pub fn attachments(
    col: Option<&str>,
) -> Result<Vec<crate::attachment::AttachmentMeta>, StoreError> {
    match col {
        None | Some("") => Ok(Vec::new()),
        Some(s) => {
            serde_json::from_str(s).map_err(|e| StoreError::Database(format!("attachments: {e}")))
        }
    }
}

/// What [`attachments`] reads back.
pub fn attachments_column(files: &[crate::attachment::AttachmentMeta]) -> Option<String> {
    if files.is_empty() {
        None
    } else {
        serde_json::to_string(files).ok()
    }
}

/// One row of `tbl_chat_attachments`.
pub fn attachment(row: &impl Columns) -> Result<crate::attachment::Attachment, StoreError> {
    use crate::attachment::{Attachment, AttachmentKind, AttachmentMeta};
    let kind = row.text("kind")?;
    let ut = row.text("uploader_type")?;
    Ok(Attachment {
        meta: AttachmentMeta {
            id: row.text("attachment_id")?,
            kind: AttachmentKind::parse(&kind).ok_or_else(|| bad("attachment kind", &kind))?,
            mime: row.text("mime")?,
            name: row.text("name")?,
            size: row.int("size")?,
            width: row.opt_int("width")?,
            height: row.opt_int("height")?,
            thumb: row.opt_text("thumb_sha256")?.is_some(),
        },
        chat_id: ChatId(row.int("chat_id")?),
        uploader_type: SenderType::parse(&ut).ok_or_else(|| bad("uploader_type", &ut))?,
        uploader_id: row.int("uploader_id")?,
        client_id: row.text("client_id")?,
        sha256: row.text("sha256")?,
        thumb_sha256: row.opt_text("thumb_sha256")?,
        sent: row.flag("sent")?,
        private: row.flag("is_private")?,
        created_at: row.time("created_at")?,
    })
}

/// The columns [`attachment`] reads.
pub const ATTACHMENT_COLUMNS: &str = "attachment_id, chat_id, uploader_type, uploader_id, client_id, kind, mime, name, size, \
    width, height, sha256, thumb_sha256, sent, is_private, created_at";

pub fn preferences(row: &impl Columns) -> Result<Preferences, StoreError> {
    let scope = row.text("admin_scope")?;
    let hour = |col: &str| -> Result<Option<i32>, StoreError> {
        row.opt_int(col)?
            .map(|h| i32::try_from(h).map_err(|_| bad(col, &h.to_string())))
            .transpose()
    };
    Ok(Preferences {
        email_enabled: row.flag("email_enabled")?,
        email_delay_secs: row.int("email_delay_secs")?,
        admin_scope: AdminEmailScope::parse(&scope).ok_or_else(|| bad("admin_scope", &scope))?,
        sound_enabled: row.flag("sound_enabled")?,
        browser_notifications: row.flag("browser_notifications")?,
        quiet_start_hour: hour("quiet_start_hour")?,
        quiet_end_hour: hour("quiet_end_hour")?,
        time_zone: row.text("time_zone")?,
    })
}

pub fn event(row: &impl Columns) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        event_id: row.int("event_id")?,
        chat_id: ChatId(row.int("chat_id")?),
        seq: row.int("seq")?,
        kind: row.text("kind")?,
        payload: row.json("payload")?,
        worker_id: row.opt_int("worker_id")?.map(WorkerId),
        previous_worker_id: row.opt_int("previous_worker_id")?.map(WorkerId),
        user_id: row.opt_int("user_id")?.map(UserId),
        guest_id: row.opt_int("guest_id")?.map(GuestId),
        created_at: row.time("created_at")?,
    })
}

pub fn email(row: &impl Columns) -> Result<OutboxEmail, StoreError> {
    let rt = row.text("recipient_type")?;
    let kind = row.text("kind")?;
    Ok(OutboxEmail {
        id: row.int("id")?,
        kind: EmailKind::parse(&kind).ok_or_else(|| bad("kind", &kind))?,
        recipient_type: SenderType::parse(&rt).ok_or_else(|| bad("recipient_type", &rt))?,
        recipient_id: row.int("recipient_id")?,
        chat_id: ChatId(row.int("chat_id")?),
        first_message_id: MessageId(row.int("first_message_id")?),
        last_message_id: row.opt_int("last_message_id")?.map(MessageId),
        status: row.text("status")?,
        attempts: row.int("attempts")?,
        last_error: row.opt_text("last_error")?,
        idempotency_key: row.opt_text("idempotency_key")?,
        due_at: row.time("due_at")?,
        next_attempt_at: row.time("next_attempt_at")?,
        sent_at: row.opt_time("sent_at")?,
    })
}

pub fn delivery(row: &impl Columns) -> Result<Delivery, StoreError> {
    let t = row.text("event_type")?;
    Ok(Delivery {
        id: row.int("id")?,
        endpoint: row.text("endpoint")?,
        event_type: EventType::parse(&t).map_err(|e| StoreError::Database(e.to_string()))?,
        webhook_id: row.text("webhook_id")?,
        chat_id: row.opt_int("chat_id")?.map(ChatId),
        status: row.text("status")?,
        attempts: row.int("attempts")?,
        last_status_code: row.opt_int("last_status_code")?,
        last_error: row.opt_text("last_error")?,
        due_at: row.time("due_at")?,
        next_attempt_at: row.time("next_attempt_at")?,
        expires_at: row.time("expires_at")?,
        delivered_at: row.opt_time("delivered_at")?,
        created_at: row.time("created_at")?,
        body: row.text("body")?,
    })
}

pub fn api_key(row: &impl Columns) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: row.int("id")?,
        name: row.text("name")?,
        prefix: row.text("prefix")?,
        scopes: scopes_from_text(&row.text("scopes")?),
        created_at: row.time("created_at")?,
        revoked_at: row.opt_time("revoked_at")?,
    })
}

/// A canned reply: `owner_type` is `team`, `admin` or `worker`, with `owner_id` (0 for the
/// team).
pub fn canned_reply(row: &impl Columns) -> Result<CannedReply, StoreError> {
    let kind = row.text("owner_type")?;
    let owner = match kind.as_str() {
        "team" => None,
        other => Some(
            Actor::from_parts(other, row.int("owner_id")?)
                .ok_or_else(|| bad("owner_type", other))?,
        ),
    };
    Ok(CannedReply {
        id: row.int("id")?,
        shortcut: row.text("shortcut")?,
        text: row.text("body")?,
        shared: owner.is_none(),
        owner,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

/// `(owner_type, owner_id)` as stored for a reply's owner.
pub fn canned_owner(owner: Option<&Actor>) -> (&'static str, i64) {
    match owner {
        None => ("team", 0),
        Some(a) => (a.sender_type().as_str(), a.raw_id()),
    }
}

/// A row of the reports' chat statement (chat_id, created_at, worker_id, status,
/// updated_at, first_reply_at, rating). Closed chats take no message without reopening and
/// a rating does not move `updated_at`, so a closed chat's `updated_at` is when it closed.
pub fn chat_facts(r: &impl Columns) -> Result<crate::reports::ChatFacts, StoreError> {
    let closed = r.text("status")? == "closed";
    Ok(crate::reports::ChatFacts {
        chat_id: ChatId(r.int("chat_id")?),
        created_at: r.time("created_at")?,
        worker_id: r.opt_int("worker_id")?.map(WorkerId),
        first_reply_at: r.opt_time("first_reply_at")?,
        closed_at: if closed {
            Some(r.time("updated_at")?)
        } else {
            None
        },
        rating: r.opt_int("rating")?,
    })
}
