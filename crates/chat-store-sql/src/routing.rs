//! The queue's reads and the routing settings (one JSON value in `tbl_chat_settings`).

use crate::{Sql, args};
use chat_core::model::Chat;
use chat_core::routing::RoutingSettings;
use chat_core::rows::{self, CHAT_COLUMNS, Columns};
use chat_core::{StoreError, WorkerId};
use std::sync::LazyLock;
use time::OffsetDateTime;

pub async fn routing_settings(db: &impl Sql) -> Result<RoutingSettings, StoreError> {
    let sql = "SELECT value FROM tbl_chat_settings WHERE name = $1";
    let Some(row) = db.read_one(sql, args![RoutingSettings::NAME]).await? else {
        return Ok(RoutingSettings::default());
    };
    let value = row.text("value")?;
    serde_json::from_str(&value)
        .map_err(|e| StoreError::Database(format!("routing settings `{value}`: {e}")))
}

pub async fn set_routing_settings(
    db: &impl Sql,
    settings: &RoutingSettings,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let value = serde_json::to_string(settings)
        .map_err(|e| StoreError::Database(format!("routing settings: {e}")))?;
    let sql = "INSERT INTO tbl_chat_settings (name, value, updated_at) VALUES ($1, $2, $3) \
               ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
    db.write(sql, args![RoutingSettings::NAME, value.as_str(), now])
        .await?;
    Ok(())
}

pub async fn waiting_chats(db: &impl Sql, limit: i64) -> Result<Vec<Chat>, StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {CHAT_COLUMNS} FROM tbl_chats WHERE worker_id IS NULL \
             AND assigned_by IS NULL AND status IN ('pending', 'open') ORDER BY created_at, chat_id LIMIT $1"
        )
    });
    let found = db.read(SQL.as_str(), args![limit]).await?;
    found.iter().map(rows::chat).collect()
}

pub async fn silent_chats(
    db: &impl Sql,
    cutoff: OffsetDateTime,
    limit: i64,
) -> Result<Vec<Chat>, StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {CHAT_COLUMNS} FROM tbl_chats c WHERE c.worker_id IS NOT NULL \
             AND c.status IN ('pending', 'open') \
             AND EXISTS (SELECT 1 FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id \
                 AND m.sender_type IN ('user', 'guest') AND m.created_at < $1 \
                 AND m.message_id > COALESCE((SELECT MAX(s.message_id) FROM tbl_chat_messages s \
                     WHERE s.chat_id = c.chat_id AND s.sender_type IN ('admin', 'worker') \
                     AND s.is_private = FALSE), 0)) \
             AND NOT EXISTS (SELECT 1 FROM tbl_chat_messages s WHERE s.chat_id = c.chat_id \
                 AND s.sender_type = 'system' AND s.created_at >= $1) \
             ORDER BY c.chat_id LIMIT $2"
        )
    });
    let found = db.read(SQL.as_str(), args![cutoff, limit]).await?;
    found.iter().map(rows::chat).collect()
}

pub async fn open_chats_per_worker(db: &impl Sql) -> Result<Vec<(WorkerId, i64)>, StoreError> {
    let sql = "SELECT worker_id, COUNT(*) AS open_chats FROM tbl_chats \
               WHERE worker_id IS NOT NULL AND status <> 'closed' GROUP BY worker_id";
    let found = db.read(sql, args![]).await?;
    found
        .iter()
        .map(|r| Ok((WorkerId(r.int("worker_id")?), r.int("open_chats")?)))
        .collect()
}

/// `impl RoutingStore` for a store that implements [`Sql`](crate::Sql).
#[macro_export]
macro_rules! routing_store {
    ($store:ty) => {
        $crate::forward!($store, RoutingStore, routing;
            fn routing_settings() -> $crate::chat_core::routing::RoutingSettings;
            fn set_routing_settings(settings: &$crate::chat_core::routing::RoutingSettings, now: OffsetDateTime) -> ();
            fn waiting_chats(limit: i64) -> Vec<Chat>;
            fn silent_chats(cutoff: OffsetDateTime, limit: i64) -> Vec<Chat>;
            fn open_chats_per_worker() -> Vec<($crate::chat_core::WorkerId, i64)>;
        );
    };
}
