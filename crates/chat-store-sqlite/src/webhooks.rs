//! The webhook outbox: its SQL.

use crate::SqliteStore;
use crate::rows::{self, db, ts};
use chat_core::model::Chat;
use chat_core::webhook::{Delivery, DeliveryCount, DeliveryOutcome, NewDelivery};
use chat_core::{ChatId, StoreError};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;

const COLS: &str = "id, endpoint, event_type, webhook_id, chat_id, body, status, attempts, last_status_code, \
    last_error, due_at, next_attempt_at, expires_at, delivered_at, created_at";

fn delivery(row: &SqliteRow) -> Result<Delivery, StoreError> {
    chat_core::rows::delivery(&rows::Cols(row))
}

#[async_trait::async_trait]
impl chat_core::store::WebhookStore for SqliteStore {
    async fn chat_state_before(&self, chat: ChatId, seq: i64) -> Result<Option<Chat>, StoreError> {
        let payload: Option<String> = sqlx::query_scalar(
            "SELECT payload FROM tbl_chat_events WHERE chat_id = ?1 AND seq < ?2 \
         AND kind IN ('chat.created', 'chat.updated') ORDER BY seq DESC LIMIT 1",
        )
        .bind(chat.0)
        .bind(seq)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        payload
            .map(|p| serde_json::from_str(&p).map_err(|e| StoreError::Database(e.to_string())))
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
        let mut tx = self.begin_write().await?;
        let mut added = 0;
        for d in deliveries {
            let done = sqlx::query(
            "INSERT INTO tbl_chat_webhook_deliveries (endpoint, event_type, event_key, webhook_id, chat_id, ord, body, \
             status, due_at, next_attempt_at, expires_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?8, ?9, ?10, ?10) \
             ON CONFLICT (endpoint, event_key) DO NOTHING",
        )
        .bind(&d.endpoint)
        .bind(d.event_type.as_str())
        .bind(&d.event_key)
        .bind(&d.webhook_id)
        .bind(d.chat_id.map(|c| c.0))
        .bind(d.ord)
        .bind(&d.body)
        .bind(ts(d.due_at))
        .bind(ts(d.expires_at))
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
            added += done.rows_affected() as usize;
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
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE tbl_chat_webhook_deliveries SET status = 'sending', next_attempt_at = ?1, updated_at = ?2, claimed_by = ?4 \
         WHERE id IN (SELECT d.id FROM tbl_chat_webhook_deliveries d \
           WHERE d.status IN ('pending', 'sending') AND d.next_attempt_at <= ?2 \
           AND NOT EXISTS (SELECT 1 FROM tbl_chat_webhook_deliveries e \
             WHERE e.endpoint = d.endpoint AND e.chat_id = d.chat_id AND e.status IN ('pending', 'sending') \
             AND (e.attempts > 0 OR e.status = 'sending' OR e.next_attempt_at <= ?2) \
             AND (e.ord < d.ord OR (e.ord = d.ord AND e.id < d.id))) \
           ORDER BY d.next_attempt_at, d.id LIMIT ?3) \
         RETURNING {COLS}"
        ));
        let rows = sqlx::query(sql)
            .bind(ts(lease_until))
            .bind(ts(now))
            .bind(limit)
            .bind(node)
            .fetch_all(&self.writer)
            .await
            .map_err(db)?;
        let mut out: Vec<Delivery> = rows.iter().map(delivery).collect::<Result<_, _>>()?;
        out.sort_by_key(|d| d.id);
        Ok(out)
    }

    /// Give back what `node` held before it restarted (see `Store::release_webhook_claims`).
    async fn release_webhook_claims(
        &self,
        node: &str,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE tbl_chat_webhook_deliveries SET status = 'pending', next_attempt_at = ?1, \
         claimed_by = NULL, updated_at = ?1 WHERE status = 'sending' AND claimed_by = ?2",
        )
        .bind(ts(now))
        .bind(node)
        .execute(&self.writer)
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
        let mut tx = self.begin_write().await?;
        let held: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM tbl_chat_webhook_deliveries WHERE id = ?1 AND status = 'sending' AND next_attempt_at = ?2",
    )
    .bind(id)
    .bind(ts(lease_until))
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
             last_status_code = ?2, last_error = NULL, delivered_at = ?3, updated_at = ?3 WHERE id = ?1",
        )
        .bind(id)
        .bind(*status_code)
        .bind(ts(now)),
        DeliveryOutcome::Retry {
            at,
            status_code,
            error,
        } => sqlx::query(
            "UPDATE tbl_chat_webhook_deliveries SET status = 'pending', attempts = attempts + 1, \
             last_status_code = ?2, last_error = ?3, next_attempt_at = ?4, updated_at = ?5 WHERE id = ?1",
        )
        .bind(id)
        .bind(*status_code)
        .bind(error.as_str())
        .bind(ts(*at))
        .bind(ts(now)),
        DeliveryOutcome::Failed { status_code, error } => sqlx::query(
            "UPDATE tbl_chat_webhook_deliveries SET status = 'failed', attempts = attempts + 1, \
             last_status_code = COALESCE(?2, last_status_code), last_error = ?3, updated_at = ?4 WHERE id = ?1",
        )
        .bind(id)
        .bind(*status_code)
        .bind(error.as_str())
        .bind(ts(now)),
        DeliveryOutcome::Cancelled(why) => sqlx::query(
            "UPDATE tbl_chat_webhook_deliveries SET status = 'cancelled', last_error = ?2, updated_at = ?3 WHERE id = ?1",
        )
        .bind(id)
        .bind(why.as_str())
        .bind(ts(now)),
        DeliveryOutcome::Postpone(at) => sqlx::query(
            "UPDATE tbl_chat_webhook_deliveries SET status = 'pending', next_attempt_at = ?2, updated_at = ?3 WHERE id = ?1",
        )
        .bind(id)
        .bind(ts(*at))
        .bind(ts(now)),
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
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM tbl_chat_webhook_deliveries WHERE (?1 IS NULL OR status = ?1) \
         AND (?2 IS NULL OR endpoint = ?2) ORDER BY id DESC LIMIT ?3"
        ));
        let rows = sqlx::query(sql)
            .bind(status)
            .bind(endpoint)
            .bind(limit)
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        rows.iter().map(delivery).collect()
    }

    async fn webhook_counts(&self) -> Result<Vec<DeliveryCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT endpoint, status, COUNT(*) AS n FROM tbl_chat_webhook_deliveries \
         GROUP BY endpoint, status ORDER BY endpoint, status",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryCount {
                    endpoint: r.try_get("endpoint").map_err(db)?,
                    status: r.try_get("status").map_err(db)?,
                    count: r.try_get("n").map_err(db)?,
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
        "UPDATE tbl_chat_webhook_deliveries SET status = 'pending', next_attempt_at = ?2, expires_at = ?3, \
         updated_at = ?2 WHERE id = ?1 AND status = 'failed'",
    )
    .bind(id)
    .bind(ts(now))
    .bind(ts(expires_at))
    .execute(&self.writer)
    .await
    .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }
}
