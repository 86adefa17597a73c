//! The email outbox and job cursors: their SQL.

use crate::SqliteStore;
use crate::rows::{self, db, ts};
use chat_core::model::*;
use chat_core::{Actor, ChatId, MessageId, StoreError};
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;

const COLS: &str = "id, kind, recipient_type, recipient_id, chat_id, first_message_id, last_message_id, status, attempts, \
    last_error, idempotency_key, due_at, next_attempt_at, sent_at";

fn email(row: &SqliteRow) -> Result<OutboxEmail, StoreError> {
    chat_core::rows::email(&rows::Cols(row))
}

/// Emails queued per write transaction: the chat writer waits while one holds the lock.
const ENQUEUE_CHUNK: usize = 64;

#[async_trait::async_trait]
impl chat_core::store::JobStore for SqliteStore {
    async fn job_cursor(&self, name: &str) -> Result<Option<i64>, StoreError> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT last_event_id FROM tbl_chat_job_cursors WHERE name = ?1")
                .bind(name)
                .fetch_optional(&self.reader)
                .await
                .map_err(db)?;
        Ok(v)
    }

    async fn set_job_cursor(
        &self,
        name: &str,
        last: i64,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tbl_chat_job_cursors (name, last_event_id, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET last_event_id = MAX(last_event_id, excluded.last_event_id), updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(last)
        .bind(ts(now))
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn enqueue_emails(
        &self,
        emails: &[NewEmail],
        now: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        let fresh = NewEmail::first_of_each(emails);
        let mut added = 0;
        // Short write transactions of two statements each: which already have an open row,
        // then the others in one insert.
        for chunk in fresh.chunks(ENQUEUE_CHUNK) {
            let mut tx = self.begin_write().await?;
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "WITH k (kind, recipient_type, recipient_id, chat_id) AS (",
            );
            q.push_values(chunk, |mut b, e| {
                let (k, t, r, c) = e.open_key();
                b.push_bind(k).push_bind(t).push_bind(r).push_bind(c);
            });
            q.push(
                ") SELECT o.kind, o.recipient_type, o.recipient_id, o.chat_id FROM k \
                 JOIN tbl_chat_email_outbox o ON o.kind = k.kind AND o.recipient_type = k.recipient_type \
                 AND o.recipient_id = k.recipient_id AND o.chat_id = k.chat_id \
                 WHERE o.status IN ('pending', 'sending')",
            );
            let open: Vec<(String, String, i64, i64)> =
                q.build_query_as().fetch_all(&mut *tx).await.map_err(db)?;
            let open: std::collections::HashSet<(&str, &str, i64, i64)> = open
                .iter()
                .map(|(k, t, r, c)| (k.as_str(), t.as_str(), *r, *c))
                .collect();
            let todo: Vec<&&NewEmail> = chunk
                .iter()
                .filter(|e| !open.contains(&e.open_key()))
                .collect();
            if !todo.is_empty() {
                let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                    "INSERT INTO tbl_chat_email_outbox (kind, recipient_type, recipient_id, chat_id, first_message_id, \
                     status, due_at, next_attempt_at, created_at, updated_at) ",
                );
                q.push_values(todo, |mut b, e| {
                    b.push_bind(e.kind.as_str())
                        .push_bind(e.recipient.sender_type().as_str())
                        .push_bind(e.recipient.raw_id())
                        .push_bind(e.chat_id.0)
                        .push_bind(e.first_message_id.0)
                        .push_bind("pending")
                        .push_bind(ts(e.due_at))
                        .push_bind(ts(e.due_at))
                        .push_bind(ts(now))
                        .push_bind(ts(now));
                });
                q.push(
                    " ON CONFLICT (kind, recipient_type, recipient_id, chat_id, first_message_id) DO NOTHING",
                );
                added += q
                    .build()
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?
                    .rows_affected() as usize;
            }
            tx.commit().await.map_err(db)?;
        }
        Ok(added)
    }

    async fn claim_due_emails(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<OutboxEmail>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE tbl_chat_email_outbox SET status = 'sending', next_attempt_at = ?1, updated_at = ?2 \
         WHERE id IN (SELECT id FROM tbl_chat_email_outbox WHERE status IN ('pending', 'sending') AND next_attempt_at <= ?2 \
         ORDER BY next_attempt_at, id LIMIT ?3) RETURNING {COLS}"
        ));
        let rows = sqlx::query(sql)
            .bind(ts(lease_until))
            .bind(ts(now))
            .bind(limit)
            .fetch_all(&self.writer)
            .await
            .map_err(db)?;
        let mut out: Vec<OutboxEmail> = rows.iter().map(email).collect::<Result<_, _>>()?;
        out.sort_by_key(|e| e.id);
        Ok(out)
    }

    async fn unread_for(
        &self,
        chat: ChatId,
        reader: &Actor,
        from: MessageId,
        limit: i64,
    ) -> Result<Vec<Message>, StoreError> {
        let rows = sqlx::query(
        "SELECT m.message_id, m.chat_id, m.seq, m.sender_type, m.sender_id, m.sender_name, m.message, m.is_read, m.client_id, m.created_at \
         FROM tbl_chat_messages m WHERE m.chat_id = ?1 AND m.message_id >= ?4 AND m.sender_type <> 'system' \
         AND NOT (m.sender_type = ?2 AND m.sender_id = ?3) \
         AND m.message_id > COALESCE((SELECT r.last_read_message_id FROM tbl_chat_read_positions r \
             WHERE r.chat_id = ?1 AND r.reader_type = ?2 AND r.reader_id = ?3), 0) \
         ORDER BY m.message_id LIMIT ?5",
    )
    .bind(chat.0)
    .bind(reader.sender_type().as_str())
    .bind(reader.raw_id())
    .bind(from.0)
    .bind(limit)
    .fetch_all(&self.reader)
    .await
    .map_err(db)?;
        rows.iter().map(rows::message).collect()
    }

    async fn finish_email(
        &self,
        id: i64,
        outcome: &EmailOutcome,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let q = match outcome {
        EmailOutcome::Sent { last_message_id, idempotency_key } => sqlx::query(
            "UPDATE tbl_chat_email_outbox SET status = 'sent', last_message_id = ?2, idempotency_key = ?3, sent_at = ?4, \
             attempts = attempts + 1, last_error = NULL, updated_at = ?4 WHERE id = ?1",
        )
        .bind(id)
        .bind(last_message_id.0)
        .bind(idempotency_key.as_str())
        .bind(ts(now)),
        EmailOutcome::Cancelled(why) => sqlx::query(
            "UPDATE tbl_chat_email_outbox SET status = 'cancelled', last_error = ?2, updated_at = ?3 WHERE id = ?1",
        )
        .bind(id)
        .bind(why.as_str())
        .bind(ts(now)),
        EmailOutcome::Retry { at, error } => sqlx::query(
            "UPDATE tbl_chat_email_outbox SET status = 'pending', attempts = attempts + 1, last_error = ?2, \
             next_attempt_at = ?3, updated_at = ?4 WHERE id = ?1",
        )
        .bind(id)
        .bind(error.as_str())
        .bind(ts(*at))
        .bind(ts(now)),
        EmailOutcome::Postpone(at) => sqlx::query(
            "UPDATE tbl_chat_email_outbox SET status = 'pending', next_attempt_at = ?2, updated_at = ?3 WHERE id = ?1",
        )
        .bind(id)
        .bind(ts(*at))
        .bind(ts(now)),
        EmailOutcome::Failed(error) => sqlx::query(
            "UPDATE tbl_chat_email_outbox SET status = 'failed', attempts = attempts + 1, last_error = ?2, updated_at = ?3 WHERE id = ?1",
        )
        .bind(id)
        .bind(error.as_str())
        .bind(ts(now)),
    };
        q.execute(&self.writer).await.map_err(db)?;
        Ok(())
    }

    async fn list_emails(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OutboxEmail>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM tbl_chat_email_outbox WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC LIMIT ?2"
        ));
        let rows = sqlx::query(sql)
            .bind(status)
            .bind(limit)
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        rows.iter().map(email).collect()
    }
}
