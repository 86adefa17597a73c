//! The webhook outbox: its SQL.
//!
//! Claims run on several nodes at once, in two steps inside one READ COMMITTED
//! transaction: a plain read finds the due rows that are first in their (endpoint, chat)
//! (see the migration for what "first" means)
//! — through the index `(status, next_attempt_at, id)`, in its order, one status at a
//! time — and `SELECT ... FOR UPDATE SKIP LOCKED` by primary key then takes those no other
//! claimer holds, checking again that they are still due; when others hold them, the next
//! page of candidates is read. A row another claimer holds but
//! has not committed is still `pending` to the plain read, so it keeps blocking the rows
//! after it in its chat: order per chat holds across nodes.

use crate::MysqlStore;
use crate::outbox::begin_claim;
use crate::rows::{self, db, int};
use chat_core::model::Chat;
use chat_core::webhook::{Delivery, DeliveryCount, DeliveryOutcome, NewDelivery};
use chat_core::{ChatId, StoreError};
use sqlx::mysql::{MySqlConnection, MySqlRow};
use sqlx::{AssertSqlSafe, Row};
use time::OffsetDateTime;

/// Pages of candidates a claim looks through at most, per status.
const MAX_PAGES: usize = 10;

const COLS: &str = "id, endpoint, event_type, webhook_id, chat_id, body, status, attempts, last_status_code, \
    last_error, due_at, next_attempt_at, expires_at, delivered_at, created_at";

fn delivery(row: &MySqlRow) -> Result<Delivery, StoreError> {
    chat_core::rows::delivery(&rows::Cols(row))
}

/// Claim inside a claim transaction: the rows stay locked (and skipped by other claimers)
/// until it ends.
pub(crate) async fn claim_in(
    tx: &mut MySqlConnection,
    node: &str,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    limit: i64,
) -> Result<Vec<Delivery>, StoreError> {
    let limit = rows::limit(limit);
    let want = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut taken: Vec<i64> = Vec::new();
    for status in ["pending", "sending"] {
        // Page through the candidates (keyset, in index order) until enough are locked:
        // the first ones may be held by another claimer.
        let mut after = (OffsetDateTime::UNIX_EPOCH, 0i64);
        for _page in 0..MAX_PAGES {
            if taken.len() >= want {
                break;
            }
            let heads = sqlx::query(
                "SELECT d.id, d.next_attempt_at FROM tbl_chat_webhook_deliveries d \
                 WHERE d.status = ? AND d.next_attempt_at <= ? \
                 AND (d.next_attempt_at > ? OR (d.next_attempt_at = ? AND d.id > ?)) \
                 AND NOT EXISTS (SELECT 1 FROM tbl_chat_webhook_deliveries e \
                   WHERE e.endpoint = d.endpoint AND e.chat_id = d.chat_id AND e.status IN ('pending', 'sending') \
                   AND (e.attempts > 0 OR e.status = 'sending' OR e.next_attempt_at <= ?) \
                   AND (e.ord < d.ord OR (e.ord = d.ord AND e.id < d.id))) \
                 ORDER BY d.next_attempt_at, d.id LIMIT ?",
            )
            .bind(status)
            .bind(now)
            .bind(after.0)
            .bind(after.0)
            .bind(after.1)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
            let mut ids = Vec::with_capacity(heads.len());
            for r in &heads {
                after = (rows::time_col(r, "next_attempt_at")?, int(r, "id")?);
                ids.push(after.1);
            }
            if ids.is_empty() {
                break;
            }
            let marks = vec!["?"; ids.len()].join(", ");
            let mut lock = sqlx::query(AssertSqlSafe(format!(
                "SELECT id FROM tbl_chat_webhook_deliveries WHERE id IN ({marks}) AND status = ? \
                 AND next_attempt_at <= ? ORDER BY id FOR UPDATE SKIP LOCKED"
            )));
            for id in &ids {
                lock = lock.bind(*id);
            }
            let locked = lock
                .bind(status)
                .bind(now)
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
            for r in &locked {
                taken.push(int(r, "id")?);
            }
            if (ids.len() as i64) < limit {
                break;
            }
        }
    }
    taken.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    if taken.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; taken.len()].join(", ");
    let mut update = sqlx::query(AssertSqlSafe(format!(
        "UPDATE tbl_chat_webhook_deliveries SET status = 'sending', next_attempt_at = ?, updated_at = ?, claimed_by = ? WHERE id IN ({marks})"
    )))
    .bind(lease_until)
    .bind(now)
    .bind(node);
    for id in &taken {
        update = update.bind(*id);
    }
    update.execute(&mut *tx).await.map_err(db)?;
    let mut select = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLS} FROM tbl_chat_webhook_deliveries WHERE id IN ({marks}) ORDER BY id"
    )));
    for id in &taken {
        select = select.bind(*id);
    }
    let rows = select.fetch_all(&mut *tx).await.map_err(db)?;
    rows.iter().map(delivery).collect()
}

#[async_trait::async_trait]
impl chat_core::store::WebhookStore for MysqlStore {
    async fn chat_state_before(&self, chat: ChatId, seq: i64) -> Result<Option<Chat>, StoreError> {
        let row = sqlx::query(
            "SELECT payload FROM tbl_chat_events WHERE chat_id = ? AND seq < ? \
         AND kind IN ('chat.created', 'chat.updated') ORDER BY seq DESC LIMIT 1",
        )
        .bind(chat.0)
        .bind(seq)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| {
            let p: String = r.try_get("payload").map_err(db)?;
            serde_json::from_str(&p).map_err(|e| StoreError::Database(e.to_string()))
        })
        .transpose()
    }

    async fn enqueue_webhooks(
        &self,
        deliveries: &[NewDelivery],
        now: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await.map_err(db)?;
        let mut added = 0;
        for d in deliveries {
            let done = sqlx::query(
            "INSERT INTO tbl_chat_webhook_deliveries (endpoint, event_type, event_key, webhook_id, chat_id, ord, body, \
             status, due_at, next_attempt_at, expires_at, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
        )
        .bind(&d.endpoint)
        .bind(d.event_type.as_str())
        .bind(&d.event_key)
        .bind(&d.webhook_id)
        .bind(d.chat_id.map(|c| c.0))
        .bind(d.ord)
        .bind(&d.body)
        .bind(d.due_at)
        .bind(d.due_at)
        .bind(d.expires_at)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await;
            // Queued before: re-planning is harmless.
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

    async fn claim_webhooks(
        &self,
        node: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let mut tx = begin_claim(&mut conn).await?;
        let out = claim_in(&mut tx, node, now, lease_until, limit).await?;
        tx.commit().await.map_err(db)?;
        Ok(out)
    }

    /// Give back what `node` held before it restarted (see `Store::release_webhook_claims`).
    async fn release_webhook_claims(
        &self,
        node: &str,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE tbl_chat_webhook_deliveries SET status = 'pending', next_attempt_at = ?, \
         claimed_by = NULL, updated_at = ? WHERE status = 'sending' AND claimed_by = ?",
        )
        .bind(now)
        .bind(now)
        .bind(node)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    /// Record how a claimed delivery ended, if this claim still holds it: a send that
    /// outlived its lease may have been claimed again by another node, whose outcome wins.
    async fn finish_webhook(
        &self,
        id: i64,
        lease_until: OffsetDateTime,
        outcome: &DeliveryOutcome,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let held: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM tbl_chat_webhook_deliveries WHERE id = ? AND status = 'sending' AND next_attempt_at = ? FOR UPDATE",
    )
    .bind(id)
    .bind(lease_until)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db)?;
        if held.is_none() {
            tx.commit().await.map_err(db)?;
            return Ok(());
        }
        let q = match outcome {
        DeliveryOutcome::Delivered { status_code } => sqlx::query(
            "UPDATE tbl_chat_webhook_deliveries SET status = 'delivered', attempts = attempts + 1, \
             last_status_code = ?, last_error = NULL, delivered_at = ?, updated_at = ? WHERE id = ?",
        )
        .bind(*status_code)
        .bind(now)
        .bind(now)
        .bind(id),
        DeliveryOutcome::Retry {
            at,
            status_code,
            error,
        } => sqlx::query(
            "UPDATE tbl_chat_webhook_deliveries SET status = 'pending', attempts = attempts + 1, \
             last_status_code = ?, last_error = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?",
        )
        .bind(*status_code)
        .bind(error.as_str())
        .bind(*at)
        .bind(now)
        .bind(id),
        DeliveryOutcome::Failed { status_code, error } => sqlx::query(
            "UPDATE tbl_chat_webhook_deliveries SET status = 'failed', attempts = attempts + 1, \
             last_status_code = COALESCE(?, last_status_code), last_error = ?, updated_at = ? WHERE id = ?",
        )
        .bind(*status_code)
        .bind(error.as_str())
        .bind(now)
        .bind(id),
        DeliveryOutcome::Cancelled(why) => sqlx::query(
            "UPDATE tbl_chat_webhook_deliveries SET status = 'cancelled', last_error = ?, updated_at = ? WHERE id = ?",
        )
        .bind(why.as_str())
        .bind(now)
        .bind(id),
        DeliveryOutcome::Postpone(at) => sqlx::query(
            "UPDATE tbl_chat_webhook_deliveries SET status = 'pending', next_attempt_at = ?, updated_at = ? WHERE id = ?",
        )
        .bind(*at)
        .bind(now)
        .bind(id),
    };
        q.execute(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn list_webhooks(
        &self,
        status: Option<&str>,
        endpoint: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLS} FROM tbl_chat_webhook_deliveries WHERE (? IS NULL OR status = ?) \
         AND (? IS NULL OR endpoint = ?) ORDER BY id DESC LIMIT ?"
        )))
        .bind(status)
        .bind(status)
        .bind(endpoint)
        .bind(endpoint)
        .bind(rows::limit(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(delivery).collect()
    }

    async fn webhook_counts(&self) -> Result<Vec<DeliveryCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT endpoint, status, COUNT(*) AS n FROM tbl_chat_webhook_deliveries \
         GROUP BY endpoint, status ORDER BY endpoint, status",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryCount {
                    endpoint: r.try_get("endpoint").map_err(db)?,
                    status: r.try_get("status").map_err(db)?,
                    count: int(r, "n")?,
                })
            })
            .collect()
    }

    async fn retry_webhook(
        &self,
        id: i64,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
        "UPDATE tbl_chat_webhook_deliveries SET status = 'pending', next_attempt_at = ?, expires_at = ?, \
         updated_at = ? WHERE id = ? AND status = 'failed'",
    )
    .bind(now)
    .bind(expires_at)
    .bind(now)
    .bind(id)
    .execute(&self.pool)
    .await
    .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }
}
