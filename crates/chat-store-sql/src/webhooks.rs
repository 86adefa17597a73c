//! The webhook outbox and its delivery log.

use crate::{Dialect, Sql, SqlTx, args};
use chat_core::model::Chat;
use chat_core::rows::{self, Columns};
use chat_core::webhook::{Delivery, DeliveryCount, DeliveryOutcome, NewDelivery};
use chat_core::{ChatId, StoreError};
use time::OffsetDateTime;

/// The deliveries' columns, as `chat_core::rows::delivery` reads them.
macro_rules! delivery_cols {
    () => {
        "id, endpoint, event_type, webhook_id, chat_id, body, status, attempts, \
         last_status_code, last_error, due_at, next_attempt_at, expires_at, delivered_at, created_at"
    };
}

/// The chat as it was before its event `seq`: the payload of its last created/updated
/// event before that.
pub async fn chat_state_before(
    db: &impl Sql,
    chat: ChatId,
    seq: i64,
) -> Result<Option<Chat>, StoreError> {
    let sql = "SELECT payload FROM tbl_chat_events WHERE chat_id = $1 AND seq < $2 \
               AND kind IN ('chat.created', 'chat.updated') ORDER BY seq DESC LIMIT 1";
    let Some(row) = db.read_one(sql, args![chat.0, seq]).await? else {
        return Ok(None);
    };
    serde_json::from_value(row.json("payload")?)
        .map(Some)
        .map_err(|e| StoreError::Database(format!("chat payload: {e}")))
}

/// Queue deliveries in one transaction; one already queued for its endpoint and event is
/// left alone. How many were added.
pub async fn enqueue_webhooks(
    db: &impl Sql,
    deliveries: &[NewDelivery],
    now: OffsetDateTime,
) -> Result<usize, StoreError> {
    if deliveries.is_empty() {
        return Ok(0);
    }
    let sql = "INSERT INTO tbl_chat_webhook_deliveries (endpoint, event_type, event_key, \
               webhook_id, chat_id, ord, body, status, due_at, next_attempt_at, expires_at, \
               created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $8, $9, $10, $10) \
               ON CONFLICT (endpoint, event_key) DO NOTHING";
    let mut tx = db.begin().await?;
    let mut added = 0;
    for d in deliveries {
        let args = args![
            &d.endpoint,
            d.event_type.as_str(),
            &d.event_key,
            &d.webhook_id,
            d.chat_id.map(|c| c.0),
            d.ord,
            &d.body,
            d.due_at,
            d.expires_at,
            now,
        ];
        added += tx.run(sql, args).await?;
    }
    tx.commit().await?;
    Ok(usize::try_from(added).unwrap_or(usize::MAX))
}

/// Take due deliveries for `node` until `lease_until`, at most one waiting per endpoint
/// and chat (a chat's deliveries go out in order). On PostgreSQL, `SKIP LOCKED`: two
/// claimers never take the same row, nor wait for each other; a row another claimer holds
/// is still pending in this snapshot, so it keeps blocking the rows after it in its chat.
pub async fn claim_webhooks<D: Sql>(
    db: &D,
    node: &str,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    limit: i64,
) -> Result<Vec<Delivery>, StoreError> {
    macro_rules! claim {
        ($lock:literal) => {
            concat!(
                "UPDATE tbl_chat_webhook_deliveries SET status = 'sending', next_attempt_at = $1, \
                 updated_at = $2, claimed_by = $4 WHERE id IN (SELECT d.id \
                 FROM tbl_chat_webhook_deliveries d \
                 WHERE d.status IN ('pending', 'sending') AND d.next_attempt_at <= $2 \
                 AND NOT EXISTS (SELECT 1 FROM tbl_chat_webhook_deliveries e \
                 WHERE e.endpoint = d.endpoint AND e.chat_id = d.chat_id \
                 AND e.status IN ('pending', 'sending') \
                 AND (e.attempts > 0 OR e.status = 'sending' OR e.next_attempt_at <= $2) \
                 AND (e.ord, e.id) < (d.ord, d.id)) \
                 ORDER BY d.next_attempt_at, d.id LIMIT $3",
                $lock,
                ") RETURNING ",
                delivery_cols!()
            )
        };
    }
    let sql = match D::DIALECT {
        Dialect::Postgres => claim!(" FOR UPDATE SKIP LOCKED"),
        Dialect::Sqlite => claim!(""),
    };
    let found = db
        .write_rows(sql, args![lease_until, now, limit, node])
        .await?;
    let mut out = found
        .iter()
        .map(rows::delivery)
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by_key(|d| d.id);
    Ok(out)
}

/// Give back what `node` held before it restarted.
pub async fn release_webhook_claims(
    db: &impl Sql,
    node: &str,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let sql = "UPDATE tbl_chat_webhook_deliveries SET status = 'pending', next_attempt_at = $1, \
               claimed_by = NULL, updated_at = $1 WHERE status = 'sending' AND claimed_by = $2";
    db.write(sql, args![now, node]).await
}

/// Record how a claimed delivery ended, if this claim still holds it: a send that outlived
/// its lease may have been claimed again by another node, whose outcome wins.
pub async fn finish_webhook<D: Sql>(
    db: &D,
    id: i64,
    lease_until: OffsetDateTime,
    outcome: &DeliveryOutcome,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    macro_rules! held {
        ($lock:literal) => {
            concat!(
                "SELECT id FROM tbl_chat_webhook_deliveries WHERE id = $1 \
                 AND status = 'sending' AND next_attempt_at = $2",
                $lock
            )
        };
    }
    let mut tx = db.begin().await?;
    let held = match D::DIALECT {
        Dialect::Postgres => held!(" FOR UPDATE"),
        Dialect::Sqlite => held!(""),
    };
    if tx.rows(held, args![id, lease_until]).await?.is_empty() {
        return tx.commit().await;
    }
    match outcome {
        DeliveryOutcome::Delivered { status_code } => {
            let sql = "UPDATE tbl_chat_webhook_deliveries SET status = 'delivered', \
                       attempts = attempts + 1, last_status_code = $2, last_error = NULL, \
                       delivered_at = $3, updated_at = $3 WHERE id = $1";
            tx.run(sql, args![id, *status_code, now]).await
        }
        DeliveryOutcome::Retry {
            at,
            status_code,
            error,
        } => {
            let sql = "UPDATE tbl_chat_webhook_deliveries SET status = 'pending', \
                       attempts = attempts + 1, last_status_code = $2, last_error = $3, \
                       next_attempt_at = $4, updated_at = $5 WHERE id = $1";
            tx.run(sql, args![id, *status_code, error.as_str(), *at, now])
                .await
        }
        DeliveryOutcome::Failed { status_code, error } => {
            let sql = "UPDATE tbl_chat_webhook_deliveries SET status = 'failed', \
                       attempts = attempts + 1, last_status_code = COALESCE($2, last_status_code), \
                       last_error = $3, updated_at = $4 WHERE id = $1";
            tx.run(sql, args![id, *status_code, error.as_str(), now])
                .await
        }
        DeliveryOutcome::Cancelled(why) => {
            let sql = "UPDATE tbl_chat_webhook_deliveries SET status = 'cancelled', \
                       last_error = $2, updated_at = $3 WHERE id = $1";
            tx.run(sql, args![id, why.as_str(), now]).await
        }
        DeliveryOutcome::Postpone(at) => {
            let sql = "UPDATE tbl_chat_webhook_deliveries SET status = 'pending', \
                       next_attempt_at = $2, updated_at = $3 WHERE id = $1";
            tx.run(sql, args![id, *at, now]).await
        }
    }?;
    tx.commit().await
}

/// The newest deliveries, of one status and endpoint or all.
pub async fn list_webhooks(
    db: &impl Sql,
    status: Option<&str>,
    endpoint: Option<&str>,
    limit: i64,
) -> Result<Vec<Delivery>, StoreError> {
    let sql = concat!(
        "SELECT ",
        delivery_cols!(),
        " FROM tbl_chat_webhook_deliveries WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) \
         AND (CAST($2 AS TEXT) IS NULL OR endpoint = $2) ORDER BY id DESC LIMIT $3"
    );
    let found = db.read(sql, args![status, endpoint, limit]).await?;
    found.iter().map(rows::delivery).collect()
}

/// How many deliveries each endpoint has in each status.
pub async fn webhook_counts(db: &impl Sql) -> Result<Vec<DeliveryCount>, StoreError> {
    let sql = "SELECT endpoint, status, COUNT(*) AS n FROM tbl_chat_webhook_deliveries \
               GROUP BY endpoint, status ORDER BY endpoint, status";
    let found = db.read(sql, &[]).await?;
    found
        .iter()
        .map(|r| {
            Ok(DeliveryCount {
                endpoint: r.text("endpoint")?,
                status: r.text("status")?,
                count: r.int("n")?,
            })
        })
        .collect()
}

/// Send a failed delivery again, now; false when it has not failed.
pub async fn retry_webhook(
    db: &impl Sql,
    id: i64,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let sql = "UPDATE tbl_chat_webhook_deliveries SET status = 'pending', next_attempt_at = $2, \
               expires_at = $3, updated_at = $2 WHERE id = $1 AND status = 'failed'";
    Ok(db.write(sql, args![id, now, expires_at]).await? == 1)
}

/// `impl WebhookStore` for a store that implements [`Sql`](crate::Sql).
#[macro_export]
macro_rules! webhook_store {
    ($store:ty) => {
        $crate::forward!($store, WebhookStore, webhooks;
            fn chat_state_before(chat: ChatId, seq: i64) -> Option<Chat>;
            fn enqueue_webhooks(deliveries: &[NewDelivery], now: OffsetDateTime) -> usize;
            fn claim_webhooks(node: &str, now: OffsetDateTime, lease_until: OffsetDateTime, limit: i64) -> Vec<Delivery>;
            fn release_webhook_claims(node: &str, now: OffsetDateTime) -> u64;
            fn finish_webhook(id: i64, lease_until: OffsetDateTime, outcome: &DeliveryOutcome, now: OffsetDateTime) -> ();
            fn list_webhooks(status: Option<&str>, endpoint: Option<&str>, limit: i64) -> Vec<Delivery>;
            fn webhook_counts() -> Vec<DeliveryCount>;
            fn retry_webhook(id: i64, expires_at: OffsetDateTime, now: OffsetDateTime) -> bool;
        );
    };
}
