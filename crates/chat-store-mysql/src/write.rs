//! The write path's SQL on MariaDB/MySQL: [`WriteTx`] for one open transaction, and the
//! node's batch executor. What to write is decided in `chat_core::write`; here are only
//! the statements: one multi-row statement per table per batch.
//!
//! Every event-writing transaction takes the event lock row first (see
//! [`crate::chats::begin_events_on`]) — once per batch, not once per message — so event
//! and message ids are handed out and committed in one order. Under that lock no other
//! transaction inserts messages, so a multi-row insert's ids are the ones after
//! `LAST_INSERT_ID()`, read back by id range (MySQL has no `INSERT ... RETURNING`).
//!
//! Statement shapes are few: lists are padded (a repeated id or key changes nothing) and
//! inserts cut into pieces whose lengths are powers of two, so a batch of any size uses
//! statements the connection has prepared already. A new shape for every batch size made
//! the driver evict a prepared statement before preparing the next: its close and the next
//! prepare then go out as two writes, and Nagle's algorithm held the second until the
//! server's delayed ACK, up to 40 ms per batch (`docs/BENCHMARKS.md`, pass 7).

use crate::chats::{CHAT_COLS, MESSAGE_COLS, begin_events_on};
use crate::rows::{self, db, int, unique_violation};
use chat_core::model::{Chat, ChatRating, Message, NewChat, ReadPosition};
use chat_core::write::{
    self, BatchExecutor, ClientKey, EventRow, MessageRow, WriteCommand, WriteOutcome, WriteTx,
};
use chat_core::{Actor, ChatError, ChatId, GuestId, MessageId, SenderType, StoreError, WorkerId};
use sqlx::{AssertSqlSafe, MySql, MySqlConnection, MySqlPool, QueryBuilder};
use std::collections::HashMap;
use time::OffsetDateTime;

/// `items` lengthened to the next power of two by repeating the last one.
fn padded<T: Copy>(items: &[T]) -> Vec<T> {
    let mut out = items.to_vec();
    if let Some(&last) = items.last() {
        out.resize(items.len().next_power_of_two(), last);
    }
    out
}

/// `rows` cut into pieces whose lengths are powers of two, largest first.
fn pieces<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if rows.is_empty() {
            return None;
        }
        let n = 1usize << rows.len().ilog2();
        let (piece, rest) = rows.split_at(n);
        rows = rest;
        Some(piece)
    })
}

/// The write primitives on an open transaction's connection (the event lock held).
pub(crate) struct MysqlWrite<'c>(pub(crate) &'c mut MySqlConnection);

#[async_trait::async_trait]
impl WriteTx for MysqlWrite<'_> {
    async fn lock_chats(&mut self, ids: &[ChatId]) -> Result<Vec<Chat>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q: QueryBuilder<MySql> = QueryBuilder::new(format!(
            "SELECT {CHAT_COLS} FROM tbl_chats WHERE chat_id IN ("
        ));
        let mut sep = q.separated(", ");
        for id in padded(ids) {
            sep.push_bind(id.0);
        }
        q.push(") ORDER BY chat_id FOR UPDATE");
        let rows = q.build().fetch_all(&mut *self.0).await.map_err(db)?;
        rows.iter().map(rows::chat).collect()
    }

    async fn find_client_ids(&mut self, keys: &[ClientKey]) -> Result<Vec<Message>, StoreError> {
        let mut q: QueryBuilder<MySql> = QueryBuilder::new(format!(
            "SELECT {MESSAGE_COLS} FROM tbl_chat_messages WHERE "
        ));
        let keys: Vec<&ClientKey> = keys.iter().collect();
        for (i, k) in padded(&keys).into_iter().enumerate() {
            if i > 0 {
                q.push(" OR ");
            }
            q.push("(chat_id = ")
                .push_bind(k.chat_id.0)
                .push(" AND sender_type = ")
                .push_bind(k.sender_type.as_str())
                .push(" AND sender_id = ")
                .push_bind(k.sender_id)
                .push(" AND client_id = ")
                .push_bind(k.client_id.as_str())
                .push(")");
        }
        let rows = q.build().fetch_all(&mut *self.0).await.map_err(db)?;
        rows.iter().map(rows::message).collect()
    }

    async fn insert_messages(&mut self, rows: &[MessageRow]) -> Result<Vec<MessageId>, StoreError> {
        let mut first = None;
        for piece in pieces(rows) {
            let mut q: QueryBuilder<MySql> = QueryBuilder::new(
                "INSERT INTO tbl_chat_messages (chat_id, seq, sender_type, sender_id, sender_name, message, is_read, \
                 client_id, created_at, is_private, attachments) ",
            );
            q.push_values(piece, |mut b, m| {
                b.push_bind(m.chat_id.0)
                    .push_bind(m.seq)
                    .push_bind(m.sender_type.as_str())
                    .push_bind(m.sender_id)
                    .push_bind(m.sender_name.as_str())
                    .push_bind(m.message.as_str())
                    .push_bind(m.is_read)
                    .push_bind(m.client_id.as_deref())
                    .push_bind(m.created_at)
                    .push_bind(m.is_private)
                    .push_bind(m.attachments_column());
            });
            let done = q.build().execute(&mut *self.0).await.map_err(db)?;
            first.get_or_insert(done.last_insert_id());
        }
        let Some(first) = first else {
            return Ok(Vec::new());
        };
        let first =
            i64::try_from(first).map_err(|e| StoreError::Database(format!("message id: {e}")))?;
        let got = sqlx::query(
            "SELECT message_id, chat_id, seq FROM tbl_chat_messages WHERE message_id >= ? ORDER BY message_id LIMIT ?",
        )
        .bind(first)
        .bind(rows.len() as i64)
        .fetch_all(&mut *self.0)
        .await
        .map_err(db)?;
        let mut by_key = HashMap::with_capacity(got.len());
        for r in &got {
            by_key.insert((int(r, "chat_id")?, int(r, "seq")?), int(r, "message_id")?);
        }
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
        // Sent; private as `chat_core::attachment::private_after` says. MariaDB
        // assigns left to right: `is_private` first, while `sent` is still the old value.
        for (id, private) in files {
            sqlx::query(
                "UPDATE tbl_chat_attachments \
                 SET is_private = CASE WHEN sent THEN is_private AND ? ELSE ? END, sent = TRUE \
                 WHERE attachment_id = ?",
            )
            .bind(*private)
            .bind(*private)
            .bind(id.as_str())
            .execute(&mut *self.0)
            .await
            .map_err(db)?;
        }
        Ok(())
    }

    async fn insert_events(&mut self, rows: &[EventRow]) -> Result<(), StoreError> {
        for piece in pieces(rows) {
            let mut q: QueryBuilder<MySql> = QueryBuilder::new(
                "INSERT INTO tbl_chat_events (chat_id, seq, kind, payload, worker_id, previous_worker_id, user_id, \
                 guest_id, created_at) ",
            );
            q.push_values(piece, |mut b, e| {
                b.push_bind(e.chat_id.0)
                    .push_bind(e.seq)
                    .push_bind(e.kind.as_str())
                    .push_bind(e.payload.as_str())
                    .push_bind(e.visibility.worker_id.map(|w| w.0))
                    .push_bind(e.visibility.previous_worker_id.map(|w| w.0))
                    .push_bind(e.visibility.user_id.map(|u| u.0))
                    .push_bind(e.visibility.guest_id.map(|g| g.0))
                    .push_bind(e.created_at);
            });
            q.build().execute(&mut *self.0).await.map_err(db)?;
        }
        Ok(())
    }

    async fn save_chats(&mut self, chats: &[Chat]) -> Result<(), StoreError> {
        if chats.is_empty() {
            return Ok(());
        }
        if let [c] = chats {
            sqlx::query(
                "UPDATE tbl_chats SET admin_id = ?, worker_id = ?, assigned_by = ?, status = ?, last_seq = ?, \
                 updated_at = ?, last_message_at = ? WHERE chat_id = ?",
            )
            .bind(c.admin_id.map(|a| a.0))
            .bind(c.worker_id.map(|w| w.0))
            .bind(c.assigned_by.map(|a| a.0))
            .bind(c.status.as_str())
            .bind(c.last_seq)
            .bind(c.updated_at)
            .bind(c.last_message_at)
            .bind(c.chat_id.0)
            .execute(&mut *self.0)
            .await
            .map_err(db)?;
            return Ok(());
        }
        // One statement for many chats: each column is a CASE over the chat id.
        let chats: Vec<&Chat> = chats.iter().collect();
        let chats = padded(&chats);
        let mut q: QueryBuilder<MySql> = QueryBuilder::new("UPDATE tbl_chats SET ");
        macro_rules! column {
            ($name:literal, $value:expr, $last:expr) => {
                q.push(concat!($name, " = CASE chat_id"));
                for &c in &chats {
                    q.push(" WHEN ").push_bind(c.chat_id.0).push(" THEN ");
                    q.push_bind($value(c));
                }
                q.push(if $last { " END" } else { " END, " });
            };
        }
        column!("admin_id", |c: &Chat| c.admin_id.map(|a| a.0), false);
        column!("worker_id", |c: &Chat| c.worker_id.map(|w| w.0), false);
        column!("assigned_by", |c: &Chat| c.assigned_by.map(|a| a.0), false);
        column!("status", |c: &Chat| c.status.as_str(), false);
        column!("last_seq", |c: &Chat| c.last_seq, false);
        column!("updated_at", |c: &Chat| c.updated_at, false);
        column!("last_message_at", |c: &Chat| c.last_message_at, true);
        q.push(" WHERE chat_id IN (");
        let mut sep = q.separated(", ");
        for c in &chats {
            sep.push_bind(c.chat_id.0);
        }
        q.push(")");
        q.build().execute(&mut *self.0).await.map_err(db)?;
        Ok(())
    }

    async fn started_chat(
        &mut self,
        customer: &Actor,
        client_id: &str,
    ) -> Result<Option<ChatId>, StoreError> {
        let (user, guest) = customer.customer_columns();
        let row = sqlx::query(
            "SELECT chat_id FROM tbl_chats WHERE client_id = ? AND (user_id = ? OR guest_id = ?)",
        )
        .bind(client_id)
        .bind(user)
        .bind(guest)
        .fetch_optional(&mut *self.0)
        .await
        .map_err(db)?;
        row.map(|r| int(&r, "chat_id").map(ChatId)).transpose()
    }

    async fn first_customer_message(
        &mut self,
        chat: ChatId,
    ) -> Result<Option<Message>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLS} FROM tbl_chat_messages WHERE chat_id = ? AND sender_type IN ('user', 'guest') \
             ORDER BY message_id LIMIT 1"
        )))
        .bind(chat.0)
        .fetch_optional(&mut *self.0)
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
        let done = sqlx::query(
            "INSERT INTO tbl_chats (user_id, guest_id, status, topic, last_seq, client_id, created_at, updated_at) \
             VALUES (?, ?, 'pending', ?, 0, ?, ?, ?)",
        )
        .bind(user)
        .bind(guest)
        .bind(&new.topic)
        .bind(&new.client_id)
        .bind(now)
        .bind(now)
        .execute(&mut *self.0)
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
        let id = i64::try_from(done.last_insert_id())
            .map_err(|e| StoreError::Database(format!("chat id: {e}")))?;
        let chats = self.lock_chats(&[ChatId(id)]).await?;
        chats
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Database("inserted chat not found".into()))
    }

    async fn newest_message(&mut self, chat: ChatId) -> Result<MessageId, StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(message_id), 0) AS newest FROM tbl_chat_messages WHERE chat_id = ?",
        )
        .bind(chat.0)
        .fetch_one(&mut *self.0)
        .await
        .map_err(db)?;
        Ok(MessageId(int(&row, "newest")?))
    }

    async fn has_message(&mut self, chat: ChatId, id: MessageId) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT message_id FROM tbl_chat_messages WHERE chat_id = ? AND message_id = ?",
        )
        .bind(chat.0)
        .bind(id.0)
        .fetch_optional(&mut *self.0)
        .await
        .map_err(db)?;
        Ok(row.is_some())
    }

    async fn read_position(
        &mut self,
        chat: ChatId,
        reader: &Actor,
    ) -> Result<Option<(MessageId, OffsetDateTime)>, StoreError> {
        let row = sqlx::query(
            "SELECT last_read_message_id, updated_at FROM tbl_chat_read_positions \
             WHERE chat_id = ? AND reader_type = ? AND reader_id = ?",
        )
        .bind(chat.0)
        .bind(reader.sender_type().as_str())
        .bind(reader.raw_id())
        .fetch_optional(&mut *self.0)
        .await
        .map_err(db)?;
        row.map(|r| {
            Ok((
                MessageId(int(&r, "last_read_message_id")?),
                rows::time_col(&r, "updated_at")?,
            ))
        })
        .transpose()
    }

    async fn worker_open_chats(&mut self, worker: WorkerId) -> Result<i64, StoreError> {
        // A locking read: it sees the latest committed rows and locks the worker's range of
        // the worker index, so another transaction assigning to this worker waits.
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM tbl_chats WHERE worker_id = ? AND status <> 'closed' FOR UPDATE",
        )
        .bind(worker.0)
        .fetch_one(&mut *self.0)
        .await
        .map_err(db)?;
        int(&row, "n")
    }

    async fn insert_rating(&mut self, r: &ChatRating) -> Result<bool, StoreError> {
        // The chat row is locked (`lock_chats`), so a rating already there is committed
        // and found; IGNORE only turns that duplicate key into "nothing inserted".
        let done = sqlx::query(
            "INSERT IGNORE INTO tbl_chat_ratings (chat_id, rater_type, rater_id, stars, comment, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(r.chat_id.0)
        .bind(r.rater_type.as_str())
        .bind(r.rater_id)
        .bind(r.stars)
        .bind(r.comment.as_str())
        .bind(r.created_at)
        .execute(&mut *self.0)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn save_read_position(&mut self, p: &ReadPosition) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tbl_chat_read_positions (chat_id, reader_type, reader_id, last_read_message_id, updated_at) \
             VALUES (?, ?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE last_read_message_id = VALUES(last_read_message_id), updated_at = VALUES(updated_at)",
        )
        .bind(p.chat_id.0)
        .bind(p.reader_type.as_str())
        .bind(p.reader_id)
        .bind(p.last_read_message_id.0)
        .bind(p.updated_at)
        .execute(&mut *self.0)
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
            "UPDATE tbl_chat_messages SET is_read = TRUE WHERE chat_id = ? AND message_id <= ? AND is_read = FALSE \
             AND sender_type IN (?, ?)",
        )
        .bind(chat.0)
        .bind(up_to.0)
        .bind(a.as_str())
        .bind(b.as_str())
        .execute(&mut *self.0)
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
            "UPDATE tbl_guest_sessions SET expired_at = ? WHERE guest_id = ? AND expired_at IS NULL",
        )
        .bind(now)
        .bind(guest.0)
        .execute(&mut *self.0)
        .await
        .map_err(db)?;
        let rows = sqlx::query(
            "SELECT chat_id FROM tbl_chats WHERE guest_id = ? AND status <> 'closed' ORDER BY chat_id",
        )
        .bind(guest.0)
        .fetch_all(&mut *self.0)
        .await
        .map_err(db)?;
        rows.iter().map(|r| int(r, "chat_id").map(ChatId)).collect()
    }
}

/// Runs batches on a pooled connection: one transaction and one event lock per batch.
pub(crate) struct MysqlExecutor {
    pub(crate) pool: MySqlPool,
}

#[async_trait::async_trait]
impl BatchExecutor for MysqlExecutor {
    async fn execute(
        &self,
        cmds: &[WriteCommand],
    ) -> Result<Vec<Result<WriteOutcome, ChatError>>, StoreError> {
        let mut tx = begin_events_on(&self.pool).await?;
        match write::apply(&mut MysqlWrite(&mut tx), cmds).await {
            Ok(out) => {
                tx.commit().await.map_err(db)?;
                Ok(out)
            }
            Err(e) => {
                // Free the event lock at once, before the error travels anywhere.
                if let Err(rb) = tx.rollback().await {
                    tracing::warn!(error = %rb, "rollback failed; the connection is dropped");
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod shapes {
    use super::{padded, pieces};

    #[test]
    fn lists_are_padded_to_a_power_of_two_with_the_last_item() {
        assert_eq!(padded::<i64>(&[]), Vec::<i64>::new());
        assert_eq!(padded(&[7]), vec![7]);
        assert_eq!(padded(&[1, 2, 3]), vec![1, 2, 3, 3]);
        assert_eq!(padded(&[1, 2, 3, 4]), vec![1, 2, 3, 4]);
        let five: Vec<i64> = (1..=5).collect();
        assert_eq!(padded(&five), vec![1, 2, 3, 4, 5, 5, 5, 5]);
    }

    #[test]
    fn any_batch_is_cut_into_few_power_of_two_pieces_in_order() {
        for n in 0..=512usize {
            let rows: Vec<usize> = (0..n).collect();
            let cut: Vec<&[usize]> = pieces(&rows).collect();
            assert!(cut.iter().all(|p| p.len().is_power_of_two()), "{n}");
            assert!(
                cut.windows(2).all(|w| w[0].len() > w[1].len()),
                "{n}: largest first"
            );
            assert_eq!(cut.len(), n.count_ones() as usize, "{n}");
            assert_eq!(cut.concat(), rows, "{n}: every row once, in order");
        }
    }
}
