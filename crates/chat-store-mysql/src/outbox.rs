//! The email outbox and job cursors: their SQL.
//!
//! Claims run on several nodes at once: `SELECT ... FOR UPDATE SKIP LOCKED` in the order of
//! the index `(status, next_attempt_at, id)`, one status at a time, so that InnoDB reads (and
//! locks) only the rows a claimer takes and the next claimer gets the rows after them. With
//! both statuses in one `IN (...)`, or without that index, the server sorts all due rows
//! first, locking every one of them, and a concurrent claimer gets nothing.

use crate::MysqlStore;
use crate::rows::{self, db, int};
use chat_core::model::*;
use chat_core::{Actor, ChatId, MessageId, StoreError};
use sqlx::mysql::{MySqlConnection, MySqlRow};
use sqlx::{AssertSqlSafe, Connection, Executor, MySql, Transaction};
use time::OffsetDateTime;

const COLS: &str = "id, kind, recipient_type, recipient_id, chat_id, first_message_id, last_message_id, status, attempts, \
    last_error, idempotency_key, due_at, next_attempt_at, sent_at";

fn email(row: &MySqlRow) -> Result<OutboxEmail, StoreError> {
    chat_core::rows::email(&rows::Cols(row))
}

pub(crate) async fn set_job_cursor(
    s: &MysqlStore,
    name: &str,
    last: i64,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tbl_chat_job_cursors (name, last_event_id, updated_at) VALUES (?, ?, ?) \
         ON DUPLICATE KEY UPDATE last_event_id = GREATEST(last_event_id, VALUES(last_event_id)), \
         updated_at = VALUES(updated_at)",
    )
    .bind(name)
    .bind(last)
    .bind(now)
    .execute(&s.pool)
    .await
    .map_err(db)?;
    Ok(())
}

/// [`enqueue_emails`] under the planners' lock, in one transaction.
async fn enqueue_emails_locked(
    conn: &mut sqlx::MySqlConnection,
    emails: &[NewEmail],
    now: OffsetDateTime,
) -> Result<usize, StoreError> {
    use sqlx::Connection;
    let mut tx = conn.begin().await.map_err(db)?;
    let mut added = 0;
    for e in NewEmail::first_of_each(emails) {
        let (rtype, rid) = (e.recipient.sender_type().as_str(), e.recipient.raw_id());
        let open = sqlx::query(
            "SELECT id FROM tbl_chat_email_outbox WHERE recipient_type = ? AND recipient_id = ? \
             AND chat_id = ? AND kind = ? AND status IN ('pending', 'sending') LIMIT 1",
        )
        .bind(rtype)
        .bind(rid)
        .bind(e.chat_id.0)
        .bind(e.kind.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if open.is_some() {
            continue;
        }
        let done = sqlx::query(
            "INSERT INTO tbl_chat_email_outbox (kind, recipient_type, recipient_id, chat_id, first_message_id, \
             status, due_at, next_attempt_at, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
        )
        .bind(e.kind.as_str())
        .bind(rtype)
        .bind(rid)
        .bind(e.chat_id.0)
        .bind(e.first_message_id.0)
        .bind(e.due_at)
        .bind(e.due_at)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await;
        // This very email may have been queued before: re-planning is harmless.
        match rows::added_unless_duplicate(done) {
            Ok(a) => added += usize::from(a),
            Err(err) => {
                let _ = tx.rollback().await;
                return Err(db(err));
            }
        }
    }
    tx.commit().await.map_err(db)?;
    Ok(added)
}

/// A claim transaction, at READ COMMITTED whatever the server's default: under REPEATABLE
/// READ the claim's range scans leave gap locks that make the next claimer's UPDATE wait.
pub(crate) async fn begin_claim(
    conn: &mut MySqlConnection,
) -> Result<Transaction<'_, MySql>, StoreError> {
    conn.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        .await
        .map_err(db)?;
    conn.begin().await.map_err(db)
}

/// Claim inside a claim transaction: the rows stay locked (and skipped by other claimers)
/// until it ends.
pub(crate) async fn claim_in(
    tx: &mut MySqlConnection,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    limit: i64,
) -> Result<Vec<OutboxEmail>, StoreError> {
    let limit = rows::limit(limit);
    // Due pending rows, and rows left `sending` by a sender whose lease ran out.
    let mut due: Vec<(OffsetDateTime, i64)> = Vec::new();
    for status in ["pending", "sending"] {
        let rows = sqlx::query(
            "SELECT id, next_attempt_at FROM tbl_chat_email_outbox WHERE status = ? AND next_attempt_at <= ? \
             ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED",
        )
        .bind(status)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        for r in &rows {
            due.push((rows::time_col(r, "next_attempt_at")?, int(r, "id")?));
        }
    }
    due.sort();
    due.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; due.len()].join(", ");
    let mut update = sqlx::query(AssertSqlSafe(format!(
        "UPDATE tbl_chat_email_outbox SET status = 'sending', next_attempt_at = ?, updated_at = ? WHERE id IN ({marks})"
    )))
    .bind(lease_until)
    .bind(now);
    for (_, id) in &due {
        update = update.bind(*id);
    }
    update.execute(&mut *tx).await.map_err(db)?;
    let mut select = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLS} FROM tbl_chat_email_outbox WHERE id IN ({marks}) ORDER BY id"
    )));
    for (_, id) in &due {
        select = select.bind(*id);
    }
    let rows = select.fetch_all(&mut *tx).await.map_err(db)?;
    rows.iter().map(email).collect()
}

#[async_trait::async_trait]
impl chat_core::store::JobStore for MysqlStore {
    async fn job_cursor(&self, name: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT last_event_id FROM tbl_chat_job_cursors WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| int(&r, "last_event_id")).transpose()
    }

    async fn set_job_cursor(
        &self,
        name: &str,
        last_event_id: i64,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        crate::outbox::set_job_cursor(self, name, last_event_id, now).await
    }

    async fn enqueue_emails(
        &self,
        emails: &[NewEmail],
        now: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        if emails.is_empty() {
            return Ok(0);
        }
        let mut conn = self.pool.acquire().await.map_err(db)?;
        // Planners on several nodes take turns, so "one open row per (kind, recipient, chat)"
        // holds as it does behind SQLite's single writer. A named lock of the email planner's
        // own, not the chat rows: the chat's writer holds chat rows for a whole batch, and the
        // planner must not queue behind it (or it behind the planner). Taken before the
        // transaction begins, so its snapshot sees what the previous holder committed.
        let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK('nati-email-plan', 10)")
            .fetch_one(&mut *conn)
            .await
            .map_err(db)?;
        if got != Some(1) {
            return Err(StoreError::Database(
                "email planner: its lock was not free within 10 s".into(),
            ));
        }
        let done = enqueue_emails_locked(&mut conn, emails, now).await;
        // Release whatever happened; a dropped connection releases it too.
        let released = sqlx::query("DO RELEASE_LOCK('nati-email-plan')")
            .execute(&mut *conn)
            .await;
        let done = done?;
        released.map_err(db)?;
        Ok(done)
    }

    async fn claim_due_emails(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<OutboxEmail>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let mut tx = begin_claim(&mut conn).await?;
        let out = claim_in(&mut tx, now, lease_until, limit).await?;
        tx.commit().await.map_err(db)?;
        Ok(out)
    }

    async fn unread_for(
        &self,
        chat: ChatId,
        reader: &Actor,
        from: MessageId,
        limit: i64,
    ) -> Result<Vec<Message>, StoreError> {
        let (rt, rid) = (reader.sender_type().as_str(), reader.raw_id());
        let rows = sqlx::query(
        "SELECT m.message_id, m.chat_id, m.seq, m.sender_type, m.sender_id, m.sender_name, m.message, m.is_read, \
         m.client_id, m.created_at, m.is_private, m.attachments FROM tbl_chat_messages m WHERE m.chat_id = ? AND m.message_id >= ? \
         AND m.sender_type <> 'system' AND m.is_private = FALSE AND NOT (m.sender_type = ? AND m.sender_id = ?) \
         AND m.message_id > COALESCE((SELECT r.last_read_message_id FROM tbl_chat_read_positions r \
             WHERE r.chat_id = m.chat_id AND r.reader_type = ? AND r.reader_id = ?), 0) \
         ORDER BY m.message_id LIMIT ?",
    )
    .bind(chat.0)
    .bind(from.0)
    .bind(rt)
    .bind(rid)
    .bind(rt)
    .bind(rid)
    .bind(rows::limit(limit))
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
            "UPDATE tbl_chat_email_outbox SET status = 'sent', last_message_id = ?, idempotency_key = ?, sent_at = ?, \
             attempts = attempts + 1, last_error = NULL, updated_at = ? WHERE id = ?",
        )
        .bind(last_message_id.0)
        .bind(idempotency_key.as_str())
        .bind(now)
        .bind(now)
        .bind(id),
        EmailOutcome::Cancelled(why) => sqlx::query(
            "UPDATE tbl_chat_email_outbox SET status = 'cancelled', last_error = ?, updated_at = ? WHERE id = ?",
        )
        .bind(why.as_str())
        .bind(now)
        .bind(id),
        EmailOutcome::Retry { at, error } => sqlx::query(
            "UPDATE tbl_chat_email_outbox SET status = 'pending', attempts = attempts + 1, last_error = ?, \
             next_attempt_at = ?, updated_at = ? WHERE id = ?",
        )
        .bind(error.as_str())
        .bind(*at)
        .bind(now)
        .bind(id),
        EmailOutcome::Postpone(at) => sqlx::query(
            "UPDATE tbl_chat_email_outbox SET status = 'pending', next_attempt_at = ?, updated_at = ? WHERE id = ?",
        )
        .bind(*at)
        .bind(now)
        .bind(id),
        EmailOutcome::Failed(error) => sqlx::query(
            "UPDATE tbl_chat_email_outbox SET status = 'failed', attempts = attempts + 1, last_error = ?, updated_at = ? \
             WHERE id = ?",
        )
        .bind(error.as_str())
        .bind(now)
        .bind(id),
    };
        q.execute(&self.pool).await.map_err(db)?;
        Ok(())
    }

    async fn list_emails(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OutboxEmail>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLS} FROM tbl_chat_email_outbox WHERE (? IS NULL OR status = ?) ORDER BY id DESC LIMIT ?"
    )))
    .bind(status)
    .bind(status)
    .bind(rows::limit(limit))
    .fetch_all(&self.pool)
    .await
    .map_err(db)?;
        rows.iter().map(email).collect()
    }

    async fn email_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM tbl_chat_email_outbox GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| Ok((sqlx::Row::try_get(r, "status").map_err(db)?, int(r, "n")?)))
            .collect()
    }
}
