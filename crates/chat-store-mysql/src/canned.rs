//! Canned replies: their SQL (the same statements as `chat_store_sql::canned`, in
//! MariaDB's words: `?` placeholders, no `RETURNING`).

use crate::MysqlStore;
use crate::rows::{Cols, db, unique_violation};
use chat_core::model::CannedReply;
use chat_core::rows::{canned_owner, canned_reply};
use chat_core::{Actor, StoreError};
use time::OffsetDateTime;

const COLS: &str = "SELECT id, owner_type, owner_id, shortcut, body, created_at, updated_at \
                    FROM tbl_chat_canned_replies";

fn taken(e: sqlx::Error) -> StoreError {
    if unique_violation(&e) {
        StoreError::Duplicate("shortcut")
    } else {
        db(e)
    }
}

#[async_trait::async_trait]
impl chat_core::store::CannedReplyStore for MysqlStore {
    async fn canned_replies(&self, owner: &Actor) -> Result<Vec<CannedReply>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "{COLS} WHERE owner_type = 'team' OR (owner_type = ? AND owner_id = ?) \
             ORDER BY shortcut, CASE WHEN owner_type = 'team' THEN 0 ELSE 1 END, id"
        ));
        let rows = sqlx::query(sql)
            .bind(owner.sender_type().as_str())
            .bind(owner.raw_id())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(|r| canned_reply(&Cols(r))).collect()
    }

    async fn canned_reply(&self, id: i64) -> Result<Option<CannedReply>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{COLS} WHERE id = ?"));
        let row = sqlx::query(sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| canned_reply(&Cols(&r))).transpose()
    }

    async fn create_canned_reply(
        &self,
        owner: Option<&Actor>,
        shortcut: &str,
        text: &str,
        now: OffsetDateTime,
    ) -> Result<CannedReply, StoreError> {
        let (kind, owner_id) = canned_owner(owner);
        let done = sqlx::query(
            "INSERT INTO tbl_chat_canned_replies (owner_type, owner_id, shortcut, body, \
             created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(kind)
        .bind(owner_id)
        .bind(shortcut)
        .bind(text)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(taken)?;
        let id = i64::try_from(done.last_insert_id())
            .map_err(|e| StoreError::Database(e.to_string()))?;
        self.canned_reply(id)
            .await?
            .ok_or_else(|| StoreError::Database("inserted reply not found".into()))
    }

    async fn update_canned_reply(
        &self,
        id: i64,
        shortcut: &str,
        text: &str,
        now: OffsetDateTime,
    ) -> Result<Option<CannedReply>, StoreError> {
        sqlx::query(
            "UPDATE tbl_chat_canned_replies SET shortcut = ?, body = ?, updated_at = ? WHERE id = ?",
        )
        .bind(shortcut)
        .bind(text)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(taken)?;
        self.canned_reply(id).await
    }

    async fn delete_canned_reply(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM tbl_chat_canned_replies WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }
}
