//! The webhook outbox's records: what is queued, what the delivery log shows, how an
//! attempt ended. Stored by each backend's `webhooks` module.

use super::{EventType, WebhookEvent};
use crate::ids::ChatId;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;

/// A delivery to queue: one event for one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub endpoint: String,
    pub event_type: EventType,
    /// With `endpoint`, unique: queuing the same event again adds nothing.
    pub event_key: String,
    pub webhook_id: String,
    pub chat_id: Option<ChatId>,
    /// Not sent before this.
    pub due_at: OffsetDateTime,
    /// Deliveries of one endpoint and chat go out in `(ord, id)` order.
    pub ord: i64,
    /// Give up after this.
    pub expires_at: OffsetDateTime,
    pub body: String,
}

impl NewDelivery {
    pub fn new(endpoint: &str, e: &WebhookEvent, max_age: Duration) -> NewDelivery {
        NewDelivery {
            endpoint: endpoint.to_owned(),
            event_type: e.event_type,
            event_key: e.key.clone(),
            webhook_id: e.webhook_id(),
            chat_id: e.chat_id,
            due_at: e.at,
            ord: e.ord,
            expires_at: e.at + max_age,
            body: e.body(),
        }
    }
}

/// A row of the webhook outbox, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    pub id: i64,
    /// The endpoint's `name` in the settings.
    pub endpoint: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The `webhook-id` header: the same on every attempt.
    pub webhook_id: String,
    pub chat_id: Option<ChatId>,
    /// `pending`, `sending`, `delivered`, `failed` (gave up) or `cancelled` (a missed
    /// message read in time, or the endpoint no longer wants it).
    pub status: String,
    pub attempts: i64,
    /// The HTTP status of the last attempt, if the endpoint answered.
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The request body (not shown in the log).
    #[serde(skip)]
    pub body: String,
}

/// How a claimed delivery ended.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    /// A 2xx answer.
    Delivered { status_code: i64 },
    /// Try again at `at`.
    Retry {
        at: OffsetDateTime,
        status_code: Option<i64>,
        error: String,
    },
    /// Gave up (too old, or the endpoint is gone from the settings).
    Failed {
        status_code: Option<i64>,
        error: String,
    },
    /// Nothing to send.
    Cancelled(String),
    /// Handed back unattempted (shutting down).
    Postpone(OffsetDateTime),
}

/// Deliveries of one endpoint in one status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryCount {
    pub endpoint: String,
    pub status: String,
    pub count: i64,
}

/// The delivery statuses.
pub const STATUSES: [&str; 5] = ["pending", "sending", "delivered", "failed", "cancelled"];
