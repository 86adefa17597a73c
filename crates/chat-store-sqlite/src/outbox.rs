//! The email outbox's one statement of its own: queuing a batch (the rest is shared,
//! `chat_store_sql::outbox`).

use crate::SqliteStore;
use crate::rows::{db, ts};
use chat_core::StoreError;
use chat_core::model::NewEmail;
use time::OffsetDateTime;

/// Emails queued per write transaction: the chat writer waits while one holds the lock.
const ENQUEUE_CHUNK: usize = 64;

#[async_trait::async_trait]
impl chat_store_sql::outbox::EmailBatch for SqliteStore {
    async fn insert_emails(
        &self,
        fresh: &[&NewEmail],
        now: OffsetDateTime,
    ) -> Result<usize, StoreError> {
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
}
