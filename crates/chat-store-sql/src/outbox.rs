//! The email outbox and the background jobs' cursors.

use crate::{Dialect, Sql, args};
use chat_core::model::*;
use chat_core::rows::{self, Columns};
use chat_core::{Actor, ChatId, MessageId, StoreError};
use time::OffsetDateTime;

/// The outbox's columns, as `chat_core::rows::email` reads them.
macro_rules! email_cols {
    () => {
        "id, kind, recipient_type, recipient_id, chat_id, first_message_id, last_message_id, \
         status, attempts, last_error, idempotency_key, due_at, next_attempt_at, sent_at"
    };
}

/// Queuing a batch of planned emails: each backend's own statements (one `UNNEST` insert
/// under the planners' lock on PostgreSQL, short multi-row transactions on SQLite).
#[async_trait::async_trait]
pub trait EmailBatch {
    /// Queue those of `emails` whose recipient has no open email about their chat; how
    /// many were added. `emails` are [`NewEmail::first_of_each`] already.
    async fn insert_emails(
        &self,
        emails: &[&NewEmail],
        now: OffsetDateTime,
    ) -> Result<usize, StoreError>;
}

pub async fn job_cursor(db: &impl Sql, name: &str) -> Result<Option<i64>, StoreError> {
    let sql = "SELECT last_event_id FROM tbl_chat_job_cursors WHERE name = $1";
    let row = db.read_one(sql, args![name]).await?;
    row.map(|r| r.int("last_event_id")).transpose()
}

/// A job's cursor only moves forward.
pub async fn set_job_cursor(
    db: &impl Sql,
    name: &str,
    last: i64,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let sql = "INSERT INTO tbl_chat_job_cursors (name, last_event_id, updated_at) \
               VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET last_event_id = \
               CASE WHEN excluded.last_event_id > tbl_chat_job_cursors.last_event_id \
               THEN excluded.last_event_id ELSE tbl_chat_job_cursors.last_event_id END, \
               updated_at = excluded.updated_at";
    db.write(sql, args![name, last, now]).await.map(drop)
}

pub async fn enqueue_emails(
    db: &(impl Sql + EmailBatch),
    emails: &[NewEmail],
    now: OffsetDateTime,
) -> Result<usize, StoreError> {
    if emails.is_empty() {
        return Ok(0);
    }
    db.insert_emails(&NewEmail::first_of_each(emails), now)
        .await
}

/// Take due emails for sending until `lease_until`, oldest first. On PostgreSQL, `SKIP
/// LOCKED`: two claimers never take the same row, nor wait for each other (SQLite has one
/// writer).
pub async fn claim_due_emails<D: Sql>(
    db: &D,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    limit: i64,
) -> Result<Vec<OutboxEmail>, StoreError> {
    macro_rules! claim {
        ($lock:literal) => {
            concat!(
                "UPDATE tbl_chat_email_outbox SET status = 'sending', next_attempt_at = $1, \
                 updated_at = $2 WHERE id IN (SELECT id FROM tbl_chat_email_outbox \
                 WHERE status IN ('pending', 'sending') AND next_attempt_at <= $2 \
                 ORDER BY next_attempt_at, id LIMIT $3",
                $lock,
                ") RETURNING ",
                email_cols!()
            )
        };
    }
    let sql = match D::DIALECT {
        Dialect::Postgres => claim!(" FOR UPDATE SKIP LOCKED"),
        Dialect::Sqlite => claim!(""),
    };
    let found = db.write_rows(sql, args![lease_until, now, limit]).await?;
    let mut out = found
        .iter()
        .map(rows::email)
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by_key(|e| e.id);
    Ok(out)
}

/// The messages of `chat` from `from` on that `reader` has not read, not counting its own
/// and system lines. Private notes are never emailed.
pub async fn unread_for(
    db: &impl Sql,
    chat: ChatId,
    reader: &Actor,
    from: MessageId,
    limit: i64,
) -> Result<Vec<Message>, StoreError> {
    let sql = "SELECT m.message_id, m.chat_id, m.seq, m.sender_type, m.sender_id, \
               m.sender_name, m.message, m.is_read, m.client_id, m.created_at, m.is_private, m.attachments \
               FROM tbl_chat_messages m WHERE m.chat_id = $1 AND m.message_id >= $4 \
               AND m.sender_type <> 'system' AND m.is_private = FALSE AND NOT (m.sender_type = $2 AND m.sender_id = $3) \
               AND m.message_id > COALESCE((SELECT r.last_read_message_id \
               FROM tbl_chat_read_positions r WHERE r.chat_id = $1 AND r.reader_type = $2 \
               AND r.reader_id = $3), 0) ORDER BY m.message_id LIMIT $5";
    let reader_type = reader.sender_type().as_str();
    let args = args![chat.0, reader_type, reader.raw_id(), from.0, limit];
    db.read(sql, args)
        .await?
        .iter()
        .map(rows::message)
        .collect()
}

pub async fn finish_email(
    db: &impl Sql,
    id: i64,
    outcome: &EmailOutcome,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    match outcome {
        EmailOutcome::Sent {
            last_message_id,
            idempotency_key,
        } => {
            let sql = "UPDATE tbl_chat_email_outbox SET status = 'sent', last_message_id = $2, \
                       idempotency_key = $3, sent_at = $4, attempts = attempts + 1, \
                       last_error = NULL, updated_at = $4 WHERE id = $1";
            let args = args![id, last_message_id.0, idempotency_key.as_str(), now];
            db.write(sql, args).await
        }
        EmailOutcome::Cancelled(why) => {
            let sql = "UPDATE tbl_chat_email_outbox SET status = 'cancelled', last_error = $2, \
                       updated_at = $3 WHERE id = $1";
            db.write(sql, args![id, why.as_str(), now]).await
        }
        EmailOutcome::Retry { at, error } => {
            let sql = "UPDATE tbl_chat_email_outbox SET status = 'pending', \
                       attempts = attempts + 1, last_error = $2, next_attempt_at = $3, \
                       updated_at = $4 WHERE id = $1";
            db.write(sql, args![id, error.as_str(), *at, now]).await
        }
        EmailOutcome::Postpone(at) => {
            let sql = "UPDATE tbl_chat_email_outbox SET status = 'pending', next_attempt_at = $2, \
                       updated_at = $3 WHERE id = $1";
            db.write(sql, args![id, *at, now]).await
        }
        EmailOutcome::Failed(error) => {
            let sql = "UPDATE tbl_chat_email_outbox SET status = 'failed', \
                       attempts = attempts + 1, last_error = $2, updated_at = $3 WHERE id = $1";
            db.write(sql, args![id, error.as_str(), now]).await
        }
    }
    .map(drop)
}

/// The newest emails, of one status or all.
pub async fn list_emails(
    db: &impl Sql,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<OutboxEmail>, StoreError> {
    let sql = concat!(
        "SELECT ",
        email_cols!(),
        " FROM tbl_chat_email_outbox WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) \
         ORDER BY id DESC LIMIT $2"
    );
    let found = db.read(sql, args![status, limit]).await?;
    found.iter().map(rows::email).collect()
}

pub async fn email_counts(db: &impl Sql) -> Result<Vec<(String, i64)>, StoreError> {
    let sql =
        "SELECT status, COUNT(*) AS n FROM tbl_chat_email_outbox GROUP BY status ORDER BY status";
    let found = db.read(sql, &[]).await?;
    found
        .iter()
        .map(|r| Ok((r.text("status")?, r.int("n")?)))
        .collect()
}

/// `impl JobStore` for a store that implements [`Sql`](crate::Sql) and [`EmailBatch`].
#[macro_export]
macro_rules! job_store {
    ($store:ty) => {
        $crate::forward!($store, JobStore, outbox;
            fn job_cursor(name: &str) -> Option<i64>;
            fn set_job_cursor(name: &str, last: i64, now: OffsetDateTime) -> ();
            fn enqueue_emails(emails: &[NewEmail], now: OffsetDateTime) -> usize;
            fn claim_due_emails(now: OffsetDateTime, lease_until: OffsetDateTime, limit: i64) -> Vec<OutboxEmail>;
            fn unread_for(chat: ChatId, reader: &$crate::chat_core::Actor, from: MessageId, limit: i64) -> Vec<Message>;
            fn finish_email(id: i64, outcome: &EmailOutcome, now: OffsetDateTime) -> ();
            fn list_emails(status: Option<&str>, limit: i64) -> Vec<OutboxEmail>;
            fn email_counts() -> Vec<(String, i64)>;
        );
    };
}
