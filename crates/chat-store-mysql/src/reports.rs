//! What the admins' reports count: the statements of `chat_store_sql::reports` in
//! MariaDB's words.

use crate::MysqlStore;
use crate::rows::{Cols, db, int, time_col};
use chat_core::reports::ChatFacts;
use chat_core::rows::chat_facts;
use chat_core::{ChatId, StoreError};
use sqlx::Row;
use time::OffsetDateTime;

#[async_trait::async_trait]
impl chat_core::store::ReportStore for MysqlStore {
    async fn report_facts(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<ChatFacts>, StoreError> {
        let found = sqlx::query(
            "SELECT c.chat_id, c.created_at, c.worker_id, c.status, c.updated_at, \
             (SELECT MIN(m.created_at) FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id \
              AND m.sender_type IN ('admin', 'worker') AND m.is_private = FALSE) AS first_reply_at, \
             (SELECT r.stars FROM tbl_chat_ratings r WHERE r.chat_id = c.chat_id) AS rating \
             FROM tbl_chats c WHERE c.created_at >= ? AND c.created_at < ? ORDER BY c.chat_id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        found.iter().map(|r| chat_facts(&Cols(r))).collect()
    }

    async fn silence_lines(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<(ChatId, String, OffsetDateTime)>, StoreError> {
        let found = sqlx::query(
            "SELECT m.chat_id, m.message, m.created_at FROM tbl_chats c \
             JOIN tbl_chat_messages m ON m.chat_id = c.chat_id \
             WHERE c.created_at >= ? AND c.created_at < ? AND m.sender_type = 'system' \
             AND m.message LIKE '% did not answer within %' ORDER BY m.message_id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        found
            .iter()
            .map(|r| {
                let message: String = r.try_get("message").map_err(db)?;
                Ok((
                    ChatId(int(r, "chat_id")?),
                    message,
                    time_col(r, "created_at")?,
                ))
            })
            .collect()
    }
}
