//! The queue's reads and the routing settings: the statements of `chat_store_sql::routing`
//! in MariaDB's words.

use crate::MysqlStore;
use crate::chats::CHAT_COLS;
use crate::rows::{self, db, int};
use chat_core::model::Chat;
use chat_core::routing::RoutingSettings;
use chat_core::{StoreError, WorkerId};
use sqlx::Row;
use time::OffsetDateTime;

#[async_trait::async_trait]
impl chat_core::store::RoutingStore for MysqlStore {
    async fn routing_settings(&self) -> Result<RoutingSettings, StoreError> {
        let row = sqlx::query("SELECT value FROM tbl_chat_settings WHERE name = ?")
            .bind(RoutingSettings::NAME)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        let Some(row) = row else {
            return Ok(RoutingSettings::default());
        };
        let value: String = row.try_get("value").map_err(db)?;
        serde_json::from_str(&value)
            .map_err(|e| StoreError::Database(format!("routing settings `{value}`: {e}")))
    }

    async fn set_routing_settings(
        &self,
        settings: &RoutingSettings,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let value = serde_json::to_string(settings)
            .map_err(|e| StoreError::Database(format!("routing settings: {e}")))?;
        sqlx::query(
            "INSERT INTO tbl_chat_settings (name, value, updated_at) VALUES (?, ?, ?) \
             ON DUPLICATE KEY UPDATE value = VALUES(value), updated_at = VALUES(updated_at)",
        )
        .bind(RoutingSettings::NAME)
        .bind(value)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn waiting_chats(&self, limit: i64) -> Result<Vec<Chat>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {CHAT_COLS} FROM tbl_chats WHERE worker_id IS NULL \
             AND assigned_by IS NULL AND status IN ('pending', 'open') ORDER BY created_at, chat_id LIMIT ?"
        ));
        let found = sqlx::query(sql)
            .bind(rows::limit(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        found.iter().map(rows::chat).collect()
    }

    async fn silent_chats(
        &self,
        cutoff: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Chat>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {CHAT_COLS} FROM tbl_chats c WHERE c.worker_id IS NOT NULL \
             AND c.status IN ('pending', 'open') \
             AND EXISTS (SELECT 1 FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id \
                 AND m.sender_type IN ('user', 'guest') AND m.created_at < ? \
                 AND m.message_id > COALESCE((SELECT MAX(s.message_id) FROM tbl_chat_messages s \
                     WHERE s.chat_id = c.chat_id AND s.sender_type IN ('admin', 'worker') \
                     AND s.is_private = FALSE), 0)) \
             AND NOT EXISTS (SELECT 1 FROM tbl_chat_messages s WHERE s.chat_id = c.chat_id \
                 AND s.sender_type = 'system' AND s.created_at >= ?) \
             ORDER BY c.chat_id LIMIT ?"
        ));
        let found = sqlx::query(sql)
            .bind(cutoff)
            .bind(cutoff)
            .bind(rows::limit(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        found.iter().map(rows::chat).collect()
    }

    async fn open_chats_per_worker(&self) -> Result<Vec<(WorkerId, i64)>, StoreError> {
        let found = sqlx::query(
            "SELECT worker_id, COUNT(*) AS open_chats FROM tbl_chats \
             WHERE worker_id IS NOT NULL AND status <> 'closed' GROUP BY worker_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        found
            .iter()
            .map(|r| Ok((WorkerId(int(r, "worker_id")?), int(r, "open_chats")?)))
            .collect()
    }
}
