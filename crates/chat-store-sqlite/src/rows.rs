//! Row mapping and the time format. Private to this crate.

use chat_core::model::*;
use chat_core::{AccountRole, ChatId, ChatStatus, SenderType, StoreError};
use chat_core::{AdminId, GuestId, MessageId, UserId, WorkerId};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// A driver error, keeping it as the source. SQLite's busy and locked codes (another
/// process holds the file) and a pool that timed out are worth a retry.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    let retryable = match &e {
        sqlx::Error::Database(d) => matches!(d.code().as_deref(), Some("5" | "6" | "517" | "262")),
        sqlx::Error::PoolTimedOut => true,
        _ => false,
    };
    StoreError::backend(e, retryable)
}

/// UTC with microseconds, fixed width, so text order is time order.
pub(crate) fn ts(t: OffsetDateTime) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000000Z".to_owned())
}

pub(crate) fn parse_ts(s: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| StoreError::Database(format!("bad time `{s}`: {e}")))
}

fn get<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
    row: &'r SqliteRow,
    col: &str,
) -> Result<T, StoreError> {
    row.try_get(col).map_err(db)
}

pub(crate) fn time_col(row: &SqliteRow, col: &str) -> Result<OffsetDateTime, StoreError> {
    parse_ts(&get::<String>(row, col)?)
}

pub(crate) fn opt_time_col(
    row: &SqliteRow,
    col: &str,
) -> Result<Option<OffsetDateTime>, StoreError> {
    get::<Option<String>>(row, col)?
        .as_deref()
        .map(parse_ts)
        .transpose()
}

pub(crate) fn account(row: &SqliteRow, role: AccountRole) -> Result<Account, StoreError> {
    let host_id: Option<String> = get(row, "host_subject")?;
    Ok(Account {
        role,
        id: get(row, "id")?,
        email: get(row, "email")?,
        name: get(row, "name")?,
        avatar_url: get(row, "avatar_url")?,
        active: get::<i64>(row, "active")? != 0,
        created_at: time_col(row, "created_at")?,
        source: AccountSource::of(&host_id),
        host_id,
    })
}

pub(crate) fn guest(row: &SqliteRow) -> Result<Guest, StoreError> {
    Ok(Guest {
        guest_id: GuestId(get(row, "guest_id")?),
        name: get(row, "name")?,
        email: get(row, "email")?,
        created_at: time_col(row, "created_at")?,
        last_seen_at: time_col(row, "last_seen_at")?,
        expired_at: opt_time_col(row, "expired_at")?,
        wants_transcript: get::<i64>(row, "wants_transcript")? != 0,
    })
}

pub(crate) fn chat(row: &SqliteRow) -> Result<Chat, StoreError> {
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

pub(crate) fn summary(row: &SqliteRow) -> Result<ChatSummary, StoreError> {
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
        last_message_mine: get::<i64>(row, "last_message_mine")? != 0,
        unread: get(row, "unread")?,
        chat,
    })
}

pub(crate) fn message(row: &SqliteRow) -> Result<Message, StoreError> {
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
        is_read: get::<i64>(row, "is_read")? != 0,
        client_id: get(row, "client_id")?,
        created_at: time_col(row, "created_at")?,
    })
}

pub(crate) fn preferences(row: &SqliteRow) -> Result<Preferences, StoreError> {
    let scope: String = get(row, "admin_scope")?;
    Ok(Preferences {
        email_enabled: get::<i64>(row, "email_enabled")? != 0,
        email_delay_secs: get(row, "email_delay_secs")?,
        admin_scope: AdminEmailScope::parse(&scope)
            .ok_or_else(|| StoreError::Database(format!("bad admin_scope {scope}")))?,
        sound_enabled: get::<i64>(row, "sound_enabled")? != 0,
        browser_notifications: get::<i64>(row, "browser_notifications")? != 0,
        quiet_start_hour: get::<Option<i64>>(row, "quiet_start_hour")?.map(|h| h as i32),
        quiet_end_hour: get::<Option<i64>>(row, "quiet_end_hour")?.map(|h| h as i32),
        time_zone: get(row, "time_zone")?,
    })
}

pub(crate) fn event(row: &SqliteRow) -> Result<StoredEvent, StoreError> {
    let payload: String = get(row, "payload")?;
    Ok(StoredEvent {
        event_id: get(row, "event_id")?,
        chat_id: ChatId(get(row, "chat_id")?),
        seq: get(row, "seq")?,
        kind: get(row, "kind")?,
        payload: serde_json::from_str(&payload).map_err(|e| StoreError::Database(e.to_string()))?,
        worker_id: get::<Option<i64>>(row, "worker_id")?.map(WorkerId),
        previous_worker_id: get::<Option<i64>>(row, "previous_worker_id")?.map(WorkerId),
        user_id: get::<Option<i64>>(row, "user_id")?.map(UserId),
        guest_id: get::<Option<i64>>(row, "guest_id")?.map(GuestId),
        created_at: time_col(row, "created_at")?,
    })
}
