//! The write path's SQL on SQLite: [`WriteTx`] for one open transaction, and the node's
//! batch executor. What to write is decided in `chat_core::write`; here are only the
//! statements.
//!
//! Each primitive is one statement however many rows it carries: the rows travel as one
//! JSON array parameter and SQLite's `json_each` turns them back into rows. On SQLite the
//! cost of a statement is mostly the hop to the connection's thread, not the SQL, so a
//! batch of a hundred messages costs about as much as one.

use crate::rows::{self, db, ts};
use chat_core::model::{Chat, Message};
use chat_core::write::{
    self, BatchExecutor, ClientKey, EventRow, MessageRow, WriteCommand, WriteOutcome, WriteTx,
};
use chat_core::{ChatError, ChatId, MessageId, StoreError};
use serde_json::json;
use sqlx::{SqliteConnection, SqlitePool};
use std::collections::HashMap;

/// The write primitives on an open transaction's connection.
pub(crate) struct SqliteWrite<'c>(pub(crate) &'c mut SqliteConnection);

fn arr(v: serde_json::Value) -> String {
    v.to_string()
}

#[async_trait::async_trait]
impl WriteTx for SqliteWrite<'_> {
    async fn lock_chats(&mut self, ids: &[ChatId]) -> Result<Vec<Chat>, StoreError> {
        let ids = arr(json!(ids.iter().map(|c| c.0).collect::<Vec<_>>()));
        let rows = sqlx::query(
            "SELECT chat_id, user_id, guest_id, admin_id, worker_id, assigned_by, status, topic, last_seq, \
             created_at, updated_at, last_message_at FROM tbl_chats \
             WHERE chat_id IN (SELECT value FROM json_each(?1)) ORDER BY chat_id",
        )
        .bind(ids)
        .fetch_all(&mut *self.0)
        .await
        .map_err(db)?;
        rows.iter().map(rows::chat).collect()
    }

    async fn find_client_ids(&mut self, keys: &[ClientKey]) -> Result<Vec<Message>, StoreError> {
        let keys = arr(json!(
            keys.iter()
                .map(|k| json!([
                    k.chat_id.0,
                    k.sender_type.as_str(),
                    k.sender_id,
                    k.client_id
                ]))
                .collect::<Vec<_>>()
        ));
        let rows = sqlx::query(
            "SELECT m.message_id, m.chat_id, m.seq, m.sender_type, m.sender_id, m.sender_name, m.message, \
             m.is_read, m.client_id, m.created_at \
             FROM json_each(?1) k JOIN tbl_chat_messages m \
             ON m.chat_id = k.value ->> 0 AND m.sender_type = k.value ->> 1 \
             AND m.sender_id = k.value ->> 2 AND m.client_id = k.value ->> 3",
        )
        .bind(keys)
        .fetch_all(&mut *self.0)
        .await
        .map_err(db)?;
        rows.iter().map(rows::message).collect()
    }

    async fn insert_messages(&mut self, rows: &[MessageRow]) -> Result<Vec<MessageId>, StoreError> {
        let data = arr(json!(
            rows.iter()
                .map(|m| json!([
                    m.chat_id.0,
                    m.seq,
                    m.sender_type.as_str(),
                    m.sender_id,
                    m.sender_name,
                    m.message,
                    m.is_read as i64,
                    m.client_id,
                    ts(m.created_at),
                ]))
                .collect::<Vec<_>>()
        ));
        let got: Vec<(i64, i64, i64)> = sqlx::query_as(
            "INSERT INTO tbl_chat_messages (chat_id, seq, sender_type, sender_id, sender_name, message, is_read, client_id, created_at) \
             SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8 \
             FROM json_each(?1) ORDER BY key \
             RETURNING message_id, chat_id, seq",
        )
        .bind(data)
        .fetch_all(&mut *self.0)
        .await
        .map_err(db)?;
        // RETURNING comes in no promised order: match by (chat, seq), which is unique.
        let by_key: HashMap<(i64, i64), i64> =
            got.into_iter().map(|(id, c, s)| ((c, s), id)).collect();
        rows.iter()
            .map(|m| {
                by_key
                    .get(&(m.chat_id.0, m.seq))
                    .map(|&id| MessageId(id))
                    .ok_or_else(|| StoreError::Database("an inserted message has no id".into()))
            })
            .collect()
    }

    async fn insert_events(&mut self, rows: &[EventRow]) -> Result<(), StoreError> {
        let data = arr(json!(
            rows.iter()
                .map(|e| json!([
                    e.chat_id.0,
                    e.seq,
                    e.kind.as_str(),
                    e.payload,
                    e.visibility.worker_id.map(|w| w.0),
                    e.visibility.previous_worker_id.map(|w| w.0),
                    e.visibility.user_id.map(|u| u.0),
                    e.visibility.guest_id.map(|g| g.0),
                    ts(e.created_at),
                ]))
                .collect::<Vec<_>>()
        ));
        sqlx::query(
            "INSERT INTO tbl_chat_events (chat_id, seq, kind, payload, worker_id, previous_worker_id, user_id, guest_id, created_at) \
             SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8 \
             FROM json_each(?1) ORDER BY key",
        )
        .bind(data)
        .execute(&mut *self.0)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn save_chats(&mut self, chats: &[Chat]) -> Result<(), StoreError> {
        let data = arr(json!(
            chats
                .iter()
                .map(|c| json!([
                    c.chat_id.0,
                    c.admin_id.map(|a| a.0),
                    c.worker_id.map(|w| w.0),
                    c.assigned_by.map(|a| a.0),
                    c.status.as_str(),
                    c.last_seq,
                    ts(c.updated_at),
                    c.last_message_at.map(ts),
                ]))
                .collect::<Vec<_>>()
        ));
        sqlx::query(
            "UPDATE tbl_chats SET admin_id = v.value ->> 1, worker_id = v.value ->> 2, assigned_by = v.value ->> 3, \
             status = v.value ->> 4, last_seq = v.value ->> 5, updated_at = v.value ->> 6, last_message_at = v.value ->> 7 \
             FROM json_each(?1) v WHERE tbl_chats.chat_id = v.value ->> 0",
        )
        .bind(data)
        .execute(&mut *self.0)
        .await
        .map_err(db)?;
        Ok(())
    }
}

/// Runs batches on the single writer connection: `BEGIN IMMEDIATE`, the batch, `COMMIT`
/// (one `fsync` for the whole batch).
pub(crate) struct SqliteExecutor {
    pub(crate) writer: SqlitePool,
}

#[async_trait::async_trait]
impl BatchExecutor for SqliteExecutor {
    async fn execute(
        &self,
        cmds: &[WriteCommand],
    ) -> Result<Vec<Result<WriteOutcome, ChatError>>, StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let out = write::apply(&mut SqliteWrite(&mut *tx), cmds).await?;
        tx.commit().await.map_err(db)?;
        Ok(out)
    }
}
