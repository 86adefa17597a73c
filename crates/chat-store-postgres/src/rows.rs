//! Row mapping. Private to this crate.

use chat_core::model::*;
use chat_core::{AccountRole, ChatId, ChatStatus, SenderType, StoreError};
use chat_core::{AdminId, GuestId, MessageId, UserId, WorkerId};
use sqlx::Row;
use sqlx::postgres::{PgRow, Postgres};
use sqlx::types::Json;
use time::OffsetDateTime;

/// A driver error, keeping it as the source. Serialization failures, deadlocks, lock
/// timeouts and a pool that timed out are worth a retry.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    let retryable = match &e {
        sqlx::Error::Database(d) => {
            matches!(d.code().as_deref(), Some("40001" | "40P01" | "55P03"))
        }
        sqlx::Error::PoolTimedOut => true,
        _ => false,
    };
    StoreError::backend(e, retryable)
}

/// Whether `e` is a unique-key violation.
pub(crate) fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

pub(crate) fn get<'r, T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>>(
    row: &'r PgRow,
    col: &str,
) -> Result<T, StoreError> {
    row.try_get(col).map_err(db)
}

pub(crate) fn time_col(row: &PgRow, col: &str) -> Result<OffsetDateTime, StoreError> {
    get(row, col)
}

pub(crate) fn opt_time_col(row: &PgRow, col: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    get(row, col)
}

pub(crate) fn account(row: &PgRow, role: AccountRole) -> Result<Account, StoreError> {
    let host_id: Option<String> = get(row, "host_subject")?;
    Ok(Account {
        role,
        id: get(row, "id")?,
        email: get(row, "email")?,
        name: get(row, "name")?,
        avatar_url: get(row, "avatar_url")?,
        active: get(row, "active")?,
        created_at: time_col(row, "created_at")?,
        source: AccountSource::of(&host_id),
        host_id,
    })
}

pub(crate) fn guest(row: &PgRow) -> Result<Guest, StoreError> {
    Ok(Guest {
        guest_id: GuestId(get(row, "guest_id")?),
        name: get(row, "name")?,
        email: get(row, "email")?,
        created_at: time_col(row, "created_at")?,
        last_seen_at: time_col(row, "last_seen_at")?,
        expired_at: opt_time_col(row, "expired_at")?,
        wants_transcript: get(row, "wants_transcript")?,
    })
}

pub(crate) fn chat(row: &PgRow) -> Result<Chat, StoreError> {
    let status: String = get(row, "status")?;
    Ok(Chat {
        chat_id: ChatId(get(row, "chat_id")?),
        user_id: get::<Option<i64>>(row, "user_id")?.map(UserId),
        guest_id: get::<Option<i64>>(row, "guest_id")?.map(GuestId),
        admin_id: get::<Option<i64>>(row, "admin_id")?.map(AdminId),
        worker_id: get::<Option<i64>>(row, "worker_id")?.map(WorkerId),
        assigned_by: get::<Option<i64>>(row, "assigned_by")?.map(AdminId),
        status: status.parse::<ChatStatus>().map_err(StoreError::Database)?,
        topic: get(row, "topic")?,
        last_seq: get(row, "last_seq")?,
        created_at: time_col(row, "created_at")?,
        updated_at: time_col(row, "updated_at")?,
        last_message_at: opt_time_col(row, "last_message_at")?,
    })
}

pub(crate) fn summary(row: &PgRow) -> Result<ChatSummary, StoreError> {
    let chat = chat(row)?;
    let verified = chat.user_id.is_some();
    let name: Option<String> = get(row, "customer_name")?;
    let customer_name = match name {
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
        customer_email: get(row, "customer_email")?,
        customer_verified: verified,
        customer_host_id: get(row, "customer_host_id")?,
        worker_name: get(row, "worker_name")?,
        last_message: get(row, "last_message")?,
        last_message_mine: get(row, "last_message_mine")?,
        unread: get(row, "unread")?,
        chat,
    })
}

pub(crate) fn message(row: &PgRow) -> Result<Message, StoreError> {
    let st: String = get(row, "sender_type")?;
    Ok(Message {
        message_id: MessageId(get(row, "message_id")?),
        chat_id: ChatId(get(row, "chat_id")?),
        seq: get(row, "seq")?,
        sender_type: SenderType::parse(&st)
            .ok_or_else(|| StoreError::Database(format!("bad sender_type {st}")))?,
        sender_id: get(row, "sender_id")?,
        sender_name: get(row, "sender_name")?,
        message: get(row, "message")?,
        is_read: get(row, "is_read")?,
        client_id: get(row, "client_id")?,
        created_at: time_col(row, "created_at")?,
    })
}

pub(crate) fn preferences(row: &PgRow) -> Result<Preferences, StoreError> {
    let scope: String = get(row, "admin_scope")?;
    Ok(Preferences {
        email_enabled: get(row, "email_enabled")?,
        email_delay_secs: get(row, "email_delay_secs")?,
        admin_scope: AdminEmailScope::parse(&scope)
            .ok_or_else(|| StoreError::Database(format!("bad admin_scope {scope}")))?,
        sound_enabled: get(row, "sound_enabled")?,
        browser_notifications: get(row, "browser_notifications")?,
        quiet_start_hour: get(row, "quiet_start_hour")?,
        quiet_end_hour: get(row, "quiet_end_hour")?,
        time_zone: get(row, "time_zone")?,
    })
}

pub(crate) fn event(row: &PgRow) -> Result<StoredEvent, StoreError> {
    let Json(payload): Json<serde_json::Value> = get(row, "payload")?;
    Ok(StoredEvent {
        event_id: get(row, "event_id")?,
        chat_id: ChatId(get(row, "chat_id")?),
        seq: get(row, "seq")?,
        kind: get(row, "kind")?,
        payload,
        worker_id: get::<Option<i64>>(row, "worker_id")?.map(WorkerId),
        previous_worker_id: get::<Option<i64>>(row, "previous_worker_id")?.map(WorkerId),
        user_id: get::<Option<i64>>(row, "user_id")?.map(UserId),
        guest_id: get::<Option<i64>>(row, "guest_id")?.map(GuestId),
        created_at: time_col(row, "created_at")?,
    })
}

pub(crate) fn email(row: &PgRow) -> Result<OutboxEmail, StoreError> {
    let rt: String = get(row, "recipient_type")?;
    let kind: String = get(row, "kind")?;
    Ok(OutboxEmail {
        id: get(row, "id")?,
        kind: EmailKind::parse(&kind)
            .ok_or_else(|| StoreError::Database(format!("bad kind {kind}")))?,
        recipient_type: SenderType::parse(&rt)
            .ok_or_else(|| StoreError::Database(format!("bad recipient_type {rt}")))?,
        recipient_id: get(row, "recipient_id")?,
        chat_id: ChatId(get(row, "chat_id")?),
        first_message_id: MessageId(get(row, "first_message_id")?),
        last_message_id: get::<Option<i64>>(row, "last_message_id")?.map(MessageId),
        status: get(row, "status")?,
        attempts: get(row, "attempts")?,
        last_error: get(row, "last_error")?,
        idempotency_key: get(row, "idempotency_key")?,
        due_at: time_col(row, "due_at")?,
        next_attempt_at: time_col(row, "next_attempt_at")?,
        sent_at: opt_time_col(row, "sent_at")?,
    })
}
