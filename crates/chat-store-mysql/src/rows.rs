//! Row mapping. Private to this crate.
//!
//! Times are `DATETIME(6)` columns holding UTC; sqlx decodes them as `OffsetDateTime` at
//! UTC and encodes any `OffsetDateTime` converted to UTC, whatever the session time zone.
//! Integer columns pointing at the host's tables may be unsigned (`INT UNSIGNED`), which
//! sqlx decodes only as unsigned: [`int`] takes either.

use chat_core::model::*;
use chat_core::{AccountRole, ChatId, ChatStatus, SenderType, StoreError};
use chat_core::{AdminId, GuestId, MessageId, UserId, WorkerId};
use sqlx::Row;
use sqlx::mysql::MySqlRow;
use time::OffsetDateTime;

/// A driver error, keeping it as the source. Deadlocks (1213), lock wait timeouts (1205)
/// and a pool that timed out are worth a retry.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    let retryable = match &e {
        sqlx::Error::Database(d) => {
            matches!(d.code().as_deref(), Some("40001" | "HY000"))
                && (d.message().contains("Deadlock") || d.message().contains("Lock wait timeout"))
        }
        sqlx::Error::PoolTimedOut => true,
        _ => false,
    };
    StoreError::backend(e, retryable)
}

/// A unique key refused the row.
pub(crate) fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// LIMIT takes no negative number here; SQLite reads one as "no limit", and so do we.
pub(crate) fn limit(n: i64) -> i64 {
    if n < 0 { i64::MAX } else { n }
}

fn get<'r, T: sqlx::Decode<'r, sqlx::MySql> + sqlx::Type<sqlx::MySql>>(
    row: &'r MySqlRow,
    col: &str,
) -> Result<T, StoreError> {
    row.try_get(col).map_err(db)
}

/// An integer column, signed or unsigned, of any width.
pub(crate) fn opt_int(row: &MySqlRow, col: &str) -> Result<Option<i64>, StoreError> {
    match row.try_get::<Option<i64>, _>(col) {
        Ok(v) => Ok(v),
        Err(sqlx::Error::ColumnDecode { .. }) => get::<Option<u64>>(row, col)?
            .map(|u| {
                i64::try_from(u).map_err(|_| StoreError::Database(format!("{col}: {u} too large")))
            })
            .transpose(),
        Err(e) => Err(db(e)),
    }
}

pub(crate) fn int(row: &MySqlRow, col: &str) -> Result<i64, StoreError> {
    opt_int(row, col)?.ok_or_else(|| StoreError::Database(format!("{col} is NULL")))
}

pub(crate) fn time_col(row: &MySqlRow, col: &str) -> Result<OffsetDateTime, StoreError> {
    get(row, col)
}

pub(crate) fn opt_time_col(
    row: &MySqlRow,
    col: &str,
) -> Result<Option<OffsetDateTime>, StoreError> {
    get(row, col)
}

pub(crate) fn account(row: &MySqlRow, role: AccountRole) -> Result<Account, StoreError> {
    let host_id: Option<String> = get(row, "host_subject")?;
    Ok(Account {
        role,
        id: int(row, "id")?,
        email: get(row, "email")?,
        name: get(row, "name")?,
        avatar_url: get(row, "avatar_url")?,
        active: get(row, "active")?,
        created_at: time_col(row, "created_at")?,
        source: AccountSource::of(&host_id),
        host_id,
    })
}

pub(crate) fn guest(row: &MySqlRow) -> Result<Guest, StoreError> {
    Ok(Guest {
        guest_id: GuestId(int(row, "guest_id")?),
        name: get(row, "name")?,
        email: get(row, "email")?,
        created_at: time_col(row, "created_at")?,
        last_seen_at: time_col(row, "last_seen_at")?,
        expired_at: opt_time_col(row, "expired_at")?,
        wants_transcript: get(row, "wants_transcript")?,
    })
}

pub(crate) fn chat(row: &MySqlRow) -> Result<Chat, StoreError> {
    let status: String = get(row, "status")?;
    Ok(Chat {
        chat_id: ChatId(int(row, "chat_id")?),
        user_id: opt_int(row, "user_id")?.map(UserId),
        guest_id: opt_int(row, "guest_id")?.map(GuestId),
        admin_id: opt_int(row, "admin_id")?.map(AdminId),
        worker_id: opt_int(row, "worker_id")?.map(WorkerId),
        assigned_by: opt_int(row, "assigned_by")?.map(AdminId),
        status: status.parse::<ChatStatus>().map_err(StoreError::Database)?,
        topic: get(row, "topic")?,
        last_seq: int(row, "last_seq")?,
        created_at: time_col(row, "created_at")?,
        updated_at: time_col(row, "updated_at")?,
        last_message_at: opt_time_col(row, "last_message_at")?,
    })
}

pub(crate) fn summary(row: &MySqlRow) -> Result<ChatSummary, StoreError> {
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
        last_message_mine: int(row, "last_message_mine")? != 0,
        unread: int(row, "unread")?,
        chat,
    })
}

pub(crate) fn message(row: &MySqlRow) -> Result<Message, StoreError> {
    let st: String = get(row, "sender_type")?;
    Ok(Message {
        message_id: MessageId(int(row, "message_id")?),
        chat_id: ChatId(int(row, "chat_id")?),
        seq: int(row, "seq")?,
        sender_type: SenderType::parse(&st)
            .ok_or_else(|| StoreError::Database(format!("bad sender_type {st}")))?,
        sender_id: opt_int(row, "sender_id")?,
        sender_name: get(row, "sender_name")?,
        message: get(row, "message")?,
        is_read: get(row, "is_read")?,
        client_id: get(row, "client_id")?,
        created_at: time_col(row, "created_at")?,
    })
}

pub(crate) fn preferences(row: &MySqlRow) -> Result<Preferences, StoreError> {
    let scope: String = get(row, "admin_scope")?;
    let hour = |col: &str| -> Result<Option<i32>, StoreError> {
        opt_int(row, col)?
            .map(|h| i32::try_from(h).map_err(|_| StoreError::Database(format!("{col}: {h}"))))
            .transpose()
    };
    Ok(Preferences {
        email_enabled: get(row, "email_enabled")?,
        email_delay_secs: int(row, "email_delay_secs")?,
        admin_scope: AdminEmailScope::parse(&scope)
            .ok_or_else(|| StoreError::Database(format!("bad admin_scope {scope}")))?,
        sound_enabled: get(row, "sound_enabled")?,
        browser_notifications: get(row, "browser_notifications")?,
        quiet_start_hour: hour("quiet_start_hour")?,
        quiet_end_hour: hour("quiet_end_hour")?,
        time_zone: get(row, "time_zone")?,
    })
}

pub(crate) fn event(row: &MySqlRow) -> Result<StoredEvent, StoreError> {
    let payload: String = get(row, "payload")?;
    Ok(StoredEvent {
        event_id: int(row, "event_id")?,
        chat_id: ChatId(int(row, "chat_id")?),
        seq: int(row, "seq")?,
        kind: get(row, "kind")?,
        payload: serde_json::from_str(&payload).map_err(|e| StoreError::Database(e.to_string()))?,
        worker_id: opt_int(row, "worker_id")?.map(WorkerId),
        previous_worker_id: opt_int(row, "previous_worker_id")?.map(WorkerId),
        user_id: opt_int(row, "user_id")?.map(UserId),
        guest_id: opt_int(row, "guest_id")?.map(GuestId),
        created_at: time_col(row, "created_at")?,
    })
}
