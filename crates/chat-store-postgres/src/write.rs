//! The write path's SQL on PostgreSQL: [`WriteTx`] for one open transaction, and the
//! node's batch executor. What to write is decided in `chat_core::write`; here are only
//! the statements, one per table per batch (rows travel as arrays and `UNNEST` turns
//! them back into rows).
//!
//! Lock order, the same in every event-writing transaction: the chat rows (`FOR UPDATE`,
//! in `chat_id` order), then the event-log lock right before the first insert, held to
//! commit — once per batch, not once per message — so event ids commit in order.

use crate::chats::lock_event_log_on;
use crate::rows::{self, db, unique_violation};
use chat_core::model::{Chat, ChatRating, Message, NewChat, ReadPosition};
use chat_core::write::{
    self, BatchExecutor, ClientKey, EventRow, MessageRow, WriteCommand, WriteOutcome, WriteTx,
};
use chat_core::{Actor, ChatError, ChatId, GuestId, MessageId, SenderType, StoreError, WorkerId};
use sqlx::PgPool;
use sqlx::postgres::PgConnection;
use std::collections::HashMap;
use time::OffsetDateTime;

/// The key space of the per-worker advisory lock taken before counting a worker's open
/// chats for an automatic assignment ("NWRK").
const WORKER_LOCK: i32 = 0x4E57_524B;

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
             m.is_read, m.client_id, m.created_at, m.is_private, m.attachments \
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
            "INSERT INTO tbl_chat_messages (chat_id, seq, sender_type, sender_id, sender_name, message, is_read, client_id, created_at, is_private, attachments) \
             SELECT c, s, st, si, sn, m, r, ci, t, p, a \
             FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bool[], $8::text[], $9::timestamptz[], $10::bool[], $11::text[]) \
             WITH ORDINALITY AS v(c, s, st, si, sn, m, r, ci, t, p, a, ord) ORDER BY ord \
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
        .bind(rows.iter().map(|m| m.is_private).collect::<Vec<_>>())
        .bind(rows.iter().map(|m| m.attachments_column()).collect::<Vec<_>>())
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

    async fn mark_files_sent(&mut self, files: &[(String, bool)]) -> Result<(), StoreError> {
        // Sent; private as `chat_core::attachment::private_after` says (one file in
        // two messages of a batch: grouped, an UPDATE ... FROM takes one row per file).
        sqlx::query(
            "UPDATE tbl_chat_attachments a \
             SET is_private = CASE WHEN a.sent THEN a.is_private AND v.p ELSE v.p END, sent = TRUE \
             FROM (SELECT id, bool_and(p) AS p FROM UNNEST($1::text[], $2::bool[]) AS u(id, p) GROUP BY id) v \
             WHERE a.attachment_id = v.id",
        )
        .bind(files.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>())
        .bind(files.iter().map(|(_, p)| *p).collect::<Vec<_>>())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(())
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

    async fn started_chat(
        &mut self,
        customer: &Actor,
        client_id: &str,
    ) -> Result<Option<ChatId>, StoreError> {
        let (user, guest) = customer.customer_columns();
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT chat_id FROM tbl_chats WHERE client_id = $1 AND (user_id = $2 OR guest_id = $3)",
        )
        .bind(client_id)
        .bind(user)
        .bind(guest)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(id.map(ChatId))
    }

    async fn first_customer_message(
        &mut self,
        chat: ChatId,
    ) -> Result<Option<Message>, StoreError> {
        let row = sqlx::query(
            "SELECT message_id, chat_id, seq, sender_type, sender_id, sender_name, message, is_read, client_id, created_at, is_private, attachments \
             FROM tbl_chat_messages WHERE chat_id = $1 AND sender_type IN ('user', 'guest') ORDER BY message_id LIMIT 1",
        )
        .bind(chat.0)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?;
        row.map(|r| rows::message(&r)).transpose()
    }

    async fn insert_chat(
        &mut self,
        new: &NewChat,
        now: OffsetDateTime,
    ) -> Result<Chat, StoreError> {
        let (user, guest) = new.customer.customer_columns();
        let row = sqlx::query(
            "INSERT INTO tbl_chats (user_id, guest_id, status, topic, last_seq, client_id, created_at, updated_at) \
             VALUES ($1, $2, 'pending', $3, 0, $4, $5, $5) \
             RETURNING chat_id, user_id, guest_id, admin_id, worker_id, assigned_by, status, topic, last_seq, created_at, updated_at, last_message_at",
        )
        .bind(user)
        .bind(guest)
        .bind(&new.topic)
        .bind(&new.client_id)
        .bind(now)
        .fetch_one(&mut *self.conn)
        .await
        .map_err(|e| {
            // Another node started the same chat (same client id) first: the retry of
            // the batch finds it.
            if unique_violation(&e) {
                StoreError::backend(e, true)
            } else {
                db(e)
            }
        })?;
        rows::chat(&row)
    }

    async fn newest_message(&mut self, chat: ChatId) -> Result<MessageId, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(message_id), 0) FROM tbl_chat_messages WHERE chat_id = $1",
        )
        .bind(chat.0)
        .fetch_one(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(MessageId(id))
    }

    async fn has_message(&mut self, chat: ChatId, id: MessageId) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT message_id FROM tbl_chat_messages WHERE chat_id = $1 AND message_id = $2",
        )
        .bind(chat.0)
        .bind(id.0)
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(found.is_some())
    }

    async fn read_position(
        &mut self,
        chat: ChatId,
        reader: &Actor,
    ) -> Result<Option<(MessageId, OffsetDateTime)>, StoreError> {
        let row: Option<(i64, OffsetDateTime)> = sqlx::query_as(
            "SELECT last_read_message_id, updated_at FROM tbl_chat_read_positions \
             WHERE chat_id = $1 AND reader_type = $2 AND reader_id = $3",
        )
        .bind(chat.0)
        .bind(reader.sender_type().as_str())
        .bind(reader.raw_id())
        .fetch_optional(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(row.map(|(id, at)| (MessageId(id), at)))
    }

    async fn worker_open_chats(&mut self, worker: WorkerId) -> Result<i64, StoreError> {
        // Another node assigning to this worker waits here until this transaction ends,
        // then counts what it committed (READ COMMITTED: each statement sees the latest).
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(WORKER_LOCK)
            .bind(i32::try_from(worker.0).unwrap_or(i32::MAX))
            .execute(&mut *self.conn)
            .await
            .map_err(db)?;
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM tbl_chats WHERE worker_id = $1 AND status <> 'closed'",
        )
        .bind(worker.0)
        .fetch_one(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(n)
    }

    async fn insert_rating(&mut self, r: &ChatRating) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO tbl_chat_ratings (chat_id, rater_type, rater_id, stars, comment, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (chat_id) DO NOTHING",
        )
        .bind(r.chat_id.0)
        .bind(r.rater_type.as_str())
        .bind(r.rater_id)
        .bind(r.stars)
        .bind(r.comment.as_str())
        .bind(r.created_at)
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn save_read_position(&mut self, p: &ReadPosition) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tbl_chat_read_positions (chat_id, reader_type, reader_id, last_read_message_id, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (chat_id, reader_type, reader_id) DO UPDATE SET \
             last_read_message_id = excluded.last_read_message_id, updated_at = excluded.updated_at",
        )
        .bind(p.chat_id.0)
        .bind(p.reader_type.as_str())
        .bind(p.reader_id)
        .bind(p.last_read_message_id.0)
        .bind(p.updated_at)
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn mark_messages_read(
        &mut self,
        chat: ChatId,
        up_to: MessageId,
        [a, b]: [SenderType; 2],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE tbl_chat_messages SET is_read = TRUE \
             WHERE chat_id = $1 AND message_id <= $2 AND NOT is_read AND sender_type IN ($3, $4)",
        )
        .bind(chat.0)
        .bind(up_to.0)
        .bind(a.as_str())
        .bind(b.as_str())
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn expire_guest_session(
        &mut self,
        guest: GuestId,
        now: OffsetDateTime,
    ) -> Result<Vec<ChatId>, StoreError> {
        sqlx::query(
            "UPDATE tbl_guest_sessions SET expired_at = $1 WHERE guest_id = $2 AND expired_at IS NULL",
        )
        .bind(now)
        .bind(guest.0)
        .execute(&mut *self.conn)
        .await
        .map_err(db)?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT chat_id FROM tbl_chats WHERE guest_id = $1 AND status <> 'closed' ORDER BY chat_id",
        )
        .bind(guest.0)
        .fetch_all(&mut *self.conn)
        .await
        .map_err(db)?;
        Ok(ids.into_iter().map(ChatId).collect())
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
