//! The email outbox and job cursors: their SQL.

use crate::PgStore;
use crate::rows::{self, db};
use chat_core::model::*;
use chat_core::{Actor, ChatId, MessageId, StoreError};
use time::OffsetDateTime;

const COLS: &str = "id, kind, recipient_type, recipient_id, chat_id, first_message_id, last_message_id, status, attempts, \
    last_error, idempotency_key, due_at, next_attempt_at, sent_at";

/// The key space of the email planners' advisory lock ("NEML").
const EMAIL_PLAN_LOCK: i32 = 0x4E45_4D4C;

#[async_trait::async_trait]
impl chat_core::store::JobStore for PgStore {
    async fn job_cursor(&self, name: &str) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT last_event_id FROM tbl_chat_job_cursors WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    async fn set_job_cursor(
        &self,
        name: &str,
        last: i64,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tbl_chat_job_cursors (name, last_event_id, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET \
             last_event_id = GREATEST(tbl_chat_job_cursors.last_event_id, excluded.last_event_id), \
             updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(last)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn enqueue_emails(
        &self,
        emails: &[NewEmail],
        now: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        if emails.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Planners take turns, so two cannot both find no open row for a recipient and chat
        // and both add one (SQLite's single writer gives this for free). An advisory lock of
        // the email planner's own, not the chat rows: the chat's writer holds chat rows for a
        // whole batch, and the planner must not queue behind it (or it behind the planner).
        sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
            .bind(EMAIL_PLAN_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // Which of them already have an open row, in one statement; then the others in one
        // insert.
        let fresh = NewEmail::first_of_each(emails);
        let open: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT o.kind, o.recipient_type, o.recipient_id, o.chat_id FROM tbl_chat_email_outbox o \
             JOIN UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS k(kind, recipient_type, recipient_id, chat_id) \
             USING (kind, recipient_type, recipient_id, chat_id) WHERE o.status IN ('pending', 'sending')",
        )
        .bind(fresh.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
        .bind(fresh.iter().map(|e| e.recipient.sender_type().as_str()).collect::<Vec<_>>())
        .bind(fresh.iter().map(|e| e.recipient.raw_id()).collect::<Vec<_>>())
        .bind(fresh.iter().map(|e| e.chat_id.0).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let open: std::collections::HashSet<(&str, &str, i64, i64)> = open
            .iter()
            .map(|(k, t, r, c)| (k.as_str(), t.as_str(), *r, *c))
            .collect();
        let todo: Vec<&NewEmail> = fresh
            .into_iter()
            .filter(|e| !open.contains(&e.open_key()))
            .collect();
        let added = if todo.is_empty() {
            0
        } else {
            sqlx::query(
                "INSERT INTO tbl_chat_email_outbox (kind, recipient_type, recipient_id, chat_id, first_message_id, status, \
                 due_at, next_attempt_at, created_at, updated_at) \
                 SELECT k.kind, k.recipient_type, k.recipient_id, k.chat_id, k.first_message_id, 'pending', k.due_at, \
                 k.due_at, $6, $6 \
                 FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $7::timestamptz[]) \
                 AS k(kind, recipient_type, recipient_id, chat_id, first_message_id, due_at) \
                 ON CONFLICT (kind, recipient_type, recipient_id, chat_id, first_message_id) DO NOTHING",
            )
            .bind(todo.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
            .bind(todo.iter().map(|e| e.recipient.sender_type().as_str()).collect::<Vec<_>>())
            .bind(todo.iter().map(|e| e.recipient.raw_id()).collect::<Vec<_>>())
            .bind(todo.iter().map(|e| e.chat_id.0).collect::<Vec<_>>())
            .bind(todo.iter().map(|e| e.first_message_id.0).collect::<Vec<_>>())
            .bind(now)
            .bind(todo.iter().map(|e| e.due_at).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected() as usize
        };
        tx.commit().await.map_err(db)?;
        Ok(added)
    }

    async fn claim_due_emails(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<OutboxEmail>, StoreError> {
        // SKIP LOCKED: two claimers never take the same row, nor wait for each other.
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE tbl_chat_email_outbox SET status = 'sending', next_attempt_at = $1, updated_at = $2 \
         WHERE id IN (SELECT id FROM tbl_chat_email_outbox WHERE status IN ('pending', 'sending') AND next_attempt_at <= $2 \
         ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING {COLS}"
        ));
        let rows = sqlx::query(sql)
            .bind(lease_until)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let mut out: Vec<OutboxEmail> = rows.iter().map(rows::email).collect::<Result<_, _>>()?;
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
         FROM tbl_chat_messages m WHERE m.chat_id = $1 AND m.message_id >= $4 AND m.sender_type <> 'system' \
         AND NOT (m.sender_type = $2 AND m.sender_id = $3) \
         AND m.message_id > COALESCE((SELECT r.last_read_message_id FROM tbl_chat_read_positions r \
             WHERE r.chat_id = $1 AND r.reader_type = $2 AND r.reader_id = $3), 0) \
         ORDER BY m.message_id LIMIT $5",
    )
    .bind(chat.0)
    .bind(reader.sender_type().as_str())
    .bind(reader.raw_id())
    .bind(from.0)
    .bind(limit)
    .fetch_all(&self.pool)
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
        EmailOutcome::Sent {
            last_message_id,
            idempotency_key,
        } => sqlx::query(
            "UPDATE tbl_chat_email_outbox SET status = 'sent', last_message_id = $2, idempotency_key = $3, sent_at = $4, \
             attempts = attempts + 1, last_error = NULL, updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(last_message_id.0)
        .bind(idempotency_key.as_str())
        .bind(now),
        EmailOutcome::Cancelled(why) => sqlx::query(
            "UPDATE tbl_chat_email_outbox SET status = 'cancelled', last_error = $2, updated_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(why.as_str())
        .bind(now),
        EmailOutcome::Retry { at, error } => sqlx::query(
            "UPDATE tbl_chat_email_outbox SET status = 'pending', attempts = attempts + 1, last_error = $2, \
             next_attempt_at = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(error.as_str())
        .bind(*at)
        .bind(now),
        EmailOutcome::Postpone(at) => sqlx::query(
            "UPDATE tbl_chat_email_outbox SET status = 'pending', next_attempt_at = $2, updated_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(*at)
        .bind(now),
        EmailOutcome::Failed(error) => sqlx::query(
            "UPDATE tbl_chat_email_outbox SET status = 'failed', attempts = attempts + 1, last_error = $2, updated_at = $3 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(error.as_str())
        .bind(now),
    };
        q.execute(&self.pool).await.map_err(db)?;
        Ok(())
    }

    async fn list_emails(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OutboxEmail>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM tbl_chat_email_outbox WHERE ($1::TEXT IS NULL OR status = $1) ORDER BY id DESC LIMIT $2"
        ));
        let rows = sqlx::query(sql)
            .bind(status)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(rows::email).collect()
    }
}
