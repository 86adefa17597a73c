//! The email outbox's one statement of its own: queuing a batch (the rest is shared,
//! `chat_store_sql::outbox`).

use crate::PgStore;
use crate::rows::db;
use chat_core::StoreError;
use chat_core::model::NewEmail;
use time::OffsetDateTime;

/// The key space of the email planners' advisory lock ("NEML").
const EMAIL_PLAN_LOCK: i32 = 0x4E45_4D4C;

#[async_trait::async_trait]
impl chat_store_sql::outbox::EmailBatch for PgStore {
    async fn insert_emails(
        &self,
        fresh: &[&NewEmail],
        now: OffsetDateTime,
    ) -> Result<usize, StoreError> {
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
            .iter()
            .filter(|e| !open.contains(&e.open_key()))
            .copied()
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
}
