//! The write path's SQL on PostgreSQL: [`WriteTx`] for one open transaction, and the
//! node's batch executor. What to write is decided in `chat_core::write`; here are only
//! the statements, one per table per batch (rows travel as arrays and `UNNEST` turns
//! them back into rows).
//!
//! Lock order, the same in every event-writing transaction: the chat rows (`FOR UPDATE`,
//! in `chat_id` order), then the event-log lock right before the first insert, held to
//! commit — once per batch, not once per message — so event ids commit in order.

use crate::chats::lock_event_log_on;
use crate::rows::{self, db};
use chat_core::model::{Chat, Message};
use chat_core::write::{
    self, BatchExecutor, ClientKey, EventRow, MessageRow, WriteCommand, WriteOutcome, WriteTx,
};
use chat_core::{ChatError, ChatId, MessageId, StoreError};
use sqlx::PgPool;
use sqlx::postgres::PgConnection;
use std::collections::HashMap;
use time::OffsetDateTime;

/// The write primitives on an open transaction's connection.
pub(crate) struct PgWrite<'c> {
    conn: &'c mut PgConnection,
    /// The event-log lock is held (taken before the first insert).
    locked: bool,
}

impl<'c> PgWrite<'c> {
    pub(crate) fn new(conn: &'c mut PgConnection) -> Self {
        PgWrite {
            conn,
            locked: false,
        }
    }

    async fn lock_log(&mut self) -> Result<(), StoreError> {
        if !self.locked {
            lock_event_log_on(self.conn).await?;
            self.locked = true;
        }
        Ok(())
    }
}

fn ids<T>(v: &[T], f: impl Fn(&T) -> Option<i64>) -> Vec<Option<i64>> {
    v.iter().map(f).collect()
}

#[async_trait::async_trait]
impl WriteTx for PgWrite<'_> {
    async fn lock_chats(&mut self, ids: &[ChatId]) -> Result<Vec<Chat>, StoreError> {
        let ids: Vec<i64> = ids.iter().map(|c| c.0).collect();
        let rows = sqlx::query(
            "SELECT chat_id, user_id, guest_id, admin_id, worker_id, assigned_by, status, topic, last_seq, \
             created_at, updated_at, last_message_at FROM tbl_chats WHERE chat_id = ANY($1) \
             ORDER BY chat_id FOR UPDATE",
        )
        .bind(ids)
        .fetch_all(&mut *self.conn)
        .await
        .map_err(db)?;
        rows.iter().map(rows::chat).collect()
    }

    async fn find_client_ids(&mut self, keys: &[ClientKey]) -> Result<Vec<Message>, StoreError> {
        let chat: Vec<i64> = keys.iter().map(|k| k.chat_id.0).collect();
        let stype: Vec<&str> = keys.iter().map(|k| k.sender_type.as_str()).collect();
        let sid: Vec<i64> = keys.iter().map(|k| k.sender_id).collect();
        let cid: Vec<&str> = keys.iter().map(|k| k.client_id.as_str()).collect();
        let rows = sqlx::query(
            "SELECT m.message_id, m.chat_id, m.seq, m.sender_type, m.sender_id, m.sender_name, m.message, \
             m.is_read, m.client_id, m.created_at \
             FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[]) AS k(chat_id, sender_type, sender_id, client_id) \
             JOIN tbl_chat_messages m ON m.chat_id = k.chat_id AND m.sender_type = k.sender_type \
             AND m.sender_id = k.sender_id AND m.client_id = k.client_id",
        )
        .bind(chat)
        .bind(stype)
        .bind(sid)
        .bind(cid)
        .fetch_all(&mut *self.conn)
        .await
        .map_err(db)?;
        rows.iter().map(rows::message).collect()
    }

    async fn insert_messages(&mut self, rows: &[MessageRow]) -> Result<Vec<MessageId>, StoreError> {
        // Before the messages too, so message ids are also assigned in commit order.
        self.lock_log().await?;
        let got: Vec<(i64, i64, i64)> = sqlx::query_as(
            "INSERT INTO tbl_chat_messages (chat_id, seq, sender_type, sender_id, sender_name, message, is_read, client_id, created_at) \
             SELECT c, s, st, si, sn, m, r, ci, t \
             FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bool[], $8::text[], $9::timestamptz[]) \
             WITH ORDINALITY AS v(c, s, st, si, sn, m, r, ci, t, ord) ORDER BY ord \
             RETURNING message_id, chat_id, seq",
        )
        .bind(rows.iter().map(|m| m.chat_id.0).collect::<Vec<_>>())
        .bind(rows.iter().map(|m| m.seq).collect::<Vec<_>>())
        .bind(rows.iter().map(|m| m.sender_type.as_str()).collect::<Vec<_>>())
        .bind(ids(rows, |m| m.sender_id))
        .bind(rows.iter().map(|m| m.sender_name.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|m| m.message.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|m| m.is_read).collect::<Vec<_>>())
        .bind(rows.iter().map(|m| m.client_id.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|m| m.created_at).collect::<Vec<OffsetDateTime>>())
        .fetch_all(&mut *self.conn)
        .await
        .map_err(db)?;
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
        self.lock_log().await?;
        sqlx::query(
            "INSERT INTO tbl_chat_events (chat_id, seq, kind, payload, worker_id, previous_worker_id, user_id, guest_id, created_at) \
             SELECT c, s, k, p::jsonb, w, pw, u, g, t \
             FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::timestamptz[]) \
             WITH ORDINALITY AS v(c, s, k, p, w, pw, u, g, t, ord) ORDER BY ord",
        )
        .bind(rows.iter().map(|e| e.chat_id.0).collect::<Vec<_>>())
        .bind(rows.iter().map(|e| e.seq).collect::<Vec<_>>())
        .bind(rows.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|e| e.payload.as_str()).collect::<Vec<_>>())
        .bind(ids(rows, |e| e.visibility.worker_id.map(|w| w.0)))
        .bind(ids(rows, |e| e.visibility.previous_worker_id.map(|w| w.0)))
        .bind(ids(rows, |e| e.visibility.user_id.map(|u| u.0)))
        .bind(ids(rows, |e| e.visibility.guest_id.map(|g| g.0)))
        .bind(rows.iter().map(|e| e.created_at).collect::<Vec<OffsetDateTime>>())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn save_chats(&mut self, chats: &[Chat]) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE tbl_chats c SET admin_id = v.a, worker_id = v.w, assigned_by = v.ab, status = v.st, \
             last_seq = v.ls, updated_at = v.ua, last_message_at = v.lm \
             FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[], $7::timestamptz[], $8::timestamptz[]) \
             AS v(id, a, w, ab, st, ls, ua, lm) WHERE c.chat_id = v.id",
        )
        .bind(chats.iter().map(|c| c.chat_id.0).collect::<Vec<_>>())
        .bind(ids(chats, |c| c.admin_id.map(|a| a.0)))
        .bind(ids(chats, |c| c.worker_id.map(|w| w.0)))
        .bind(ids(chats, |c| c.assigned_by.map(|a| a.0)))
        .bind(chats.iter().map(|c| c.status.as_str()).collect::<Vec<_>>())
        .bind(chats.iter().map(|c| c.last_seq).collect::<Vec<_>>())
        .bind(chats.iter().map(|c| c.updated_at).collect::<Vec<OffsetDateTime>>())
        .bind(chats.iter().map(|c| c.last_message_at).collect::<Vec<Option<OffsetDateTime>>>())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(())
    }
}

/// Runs batches on a pooled connection: one transaction and one event-log lock per batch.
pub(crate) struct PgExecutor {
    pub(crate) pool: PgPool,
}

#[async_trait::async_trait]
impl BatchExecutor for PgExecutor {
    async fn execute(
        &self,
        cmds: &[WriteCommand],
    ) -> Result<Vec<Result<WriteOutcome, ChatError>>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let out = write::apply(&mut PgWrite::new(&mut tx), cmds).await?;
        tx.commit().await.map_err(db)?;
        Ok(out)
    }
}
