//! The webhook job: a planner and a sender, both driven by the database, on every node.
//!
//! - **Planner**: reads the event log after its cursor (`webhook_planner` in
//!   `tbl_chat_job_cursors`), turns each event into webhook events with
//!   [`chat_core::webhook::from_stored`], adds `message.missed` for each person the
//!   missed-message rule names (the email job's own rule, see
//!   [`super::email::missed_dues`], on the webhook channel), and queues one delivery per
//!   endpoint that wants the event. The `(endpoint, event)` key makes re-planning after a
//!   crash, or by a second node, add nothing. `guest.expired` is queued by the expiry job
//!   ([`guest_expired`]).
//! - **Sender**: claims due deliveries (a lease, so a node that dies mid-send leaves them
//!   to be claimed again; one per endpoint and chat at a time, so each chat's go out in
//!   order), signs them ([`chat_core::webhook::sign`]) and POSTs them. A 2xx answer is
//!   `delivered`; anything else retries with exponential backoff and jitter until the
//!   delivery is `webhook_max_age_secs` old, then it is `failed`. A `message.missed` whose
//!   message was read by then is `cancelled`, as the email would be.

use crate::config::WebhookEndpoint;
use crate::state::AppState;
use crate::webhook_http::{SendError, WebhookClient};
use chat_core::model::Chat;
use chat_core::webhook::{self, Delivery, DeliveryOutcome, EventType, NewDelivery};
use chat_core::{AccountRole, ChatId, GuestId, MessageId, StoreError, notify};
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;

const CURSOR: &str = "webhook_planner";
/// Deliveries claimed (and sent side by side) at once.
const BATCH: i64 = 20;

fn max_age(state: &AppState) -> time::Duration {
    time::Duration::seconds(state.settings.webhook_max_age_secs.min(i64::MAX as u64) as i64)
}

/// One delivery per endpoint that wants `e`.
fn for_endpoints(state: &AppState, e: &webhook::WebhookEvent, out: &mut Vec<NewDelivery>) {
    for ep in state
        .settings
        .webhooks
        .iter()
        .filter(|ep| ep.wants(e.event_type))
    {
        out.push(NewDelivery::new(&ep.name, e, max_age(state)));
    }
}

/// Read new events and queue deliveries. Returns how many were queued.
pub async fn plan(state: &AppState) -> Result<usize, StoreError> {
    let store = &state.store;
    let now = OffsetDateTime::now_utc();
    let cursor = store.job_cursor(CURSOR).await?;
    let Some(mut cursor) = cursor else {
        // A first run without the migration's cursor: start from now on.
        let last = store.last_event_id().await?;
        store.set_job_cursor(CURSOR, last, now).await?;
        return Ok(0);
    };
    if state.settings.webhooks.is_empty() {
        // Nothing to send from this node. The cursor is shared: another node may have
        // endpoints (a rolling configuration change), so it is left where it is. Events
        // older than the age limit are not sent when endpoints appear later (below).
        return Ok(0);
    }
    let oldest = now - max_age(state);
    let wants_missed = state
        .settings
        .webhooks
        .iter()
        .any(|ep| ep.wants(EventType::MessageMissed));
    let mut queued = 0;
    loop {
        let events = store.events_after(cursor, 500).await?;
        if events.is_empty() {
            break;
        }
        let mut chats: HashMap<ChatId, Chat> = HashMap::new();
        let mut host_ids: HashMap<(AccountRole, i64), Option<String>> = HashMap::new();
        let mut dues_cache = super::email::DueCache::default();
        if wants_missed {
            dues_cache.prefetch(store.as_ref(), &events).await?;
        }
        let mut batch = Vec::new();
        for e in &events {
            cursor = e.event_id;
            if e.created_at < oldest {
                // Past the age limit already: it would only be given up.
                continue;
            }
            let previous = match (e.kind.as_str(), chats.get(&e.chat_id)) {
                ("chat.updated", Some(c)) => Some(c.clone()),
                ("chat.updated", None) => store.chat_state_before(e.chat_id, e.seq).await?,
                _ => None,
            };
            let mut found = webhook::from_stored(e, previous.as_ref());
            if matches!(e.kind.as_str(), "chat.created" | "chat.updated")
                && let Ok(c) = serde_json::from_value::<Chat>(e.payload.clone())
            {
                chats.insert(e.chat_id, c);
            }
            if wants_missed
                && e.kind == "message.created"
                && let Some(message_id) = e.payload["message_id"].as_i64()
            {
                let dues =
                    super::email::missed_dues(state, e, notify::Channel::Webhook, &mut dues_cache)
                        .await?;
                for d in dues {
                    let due_at = e.created_at + time::Duration::seconds(d.delay_secs);
                    found.push(webhook::missed(
                        e.chat_id,
                        MessageId(message_id),
                        &d.recipient,
                        due_at,
                        e.event_id,
                    ));
                }
            }
            for w in &mut found {
                fill_host_ids(store.as_ref(), &mut w.data, &mut host_ids).await?;
                for_endpoints(state, w, &mut batch);
            }
        }
        queued += store
            .enqueue_webhooks(&batch, OffsetDateTime::now_utc())
            .await?;
        store
            .set_job_cursor(CURSOR, cursor, OffsetDateTime::now_utc())
            .await?;
    }
    Ok(queued)
}

/// Give each person in a payload (an object with `role` and `id`) the host site's id for
/// them, when their account is one the host signs in: the host's bell keys people by its
/// own ids. Guests and password accounts have none.
async fn fill_host_ids(
    store: &dyn chat_core::Store,
    data: &mut serde_json::Value,
    cache: &mut HashMap<(AccountRole, i64), Option<String>>,
) -> Result<(), StoreError> {
    let mut stack = vec![data];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(map) => {
                let person = match (
                    map.get("role").and_then(|r| r.as_str()),
                    map.get("id").and_then(|i| i.as_i64()),
                ) {
                    (Some(role), Some(id)) => role.parse::<AccountRole>().ok().map(|r| (r, id)),
                    _ => None,
                };
                if let Some(key) = person {
                    let host_id = match cache.get(&key) {
                        Some(h) => h.clone(),
                        None => {
                            let h = store.account(key.0, key.1).await?.and_then(|a| a.host_id);
                            cache.insert(key, h.clone());
                            h
                        }
                    };
                    if let Some(h) = host_id {
                        map.insert("host_id".into(), serde_json::Value::String(h));
                    }
                } else {
                    stack.extend(map.values_mut());
                }
            }
            serde_json::Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
    Ok(())
}

/// Queue `guest.expired`. Called by the expiry job before it expires the guest, so that
/// a crash in between still sends it (the key makes a second call harmless).
pub async fn guest_expired(
    state: &AppState,
    guest: GuestId,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut batch = Vec::new();
    for_endpoints(state, &webhook::guest_expired(guest, at), &mut batch);
    state.store.enqueue_webhooks(&batch, at).await?;
    Ok(())
}

/// The HTTP client for deliveries: a short timeout, no redirects followed.
pub fn client(state: &AppState) -> Result<WebhookClient, SendError> {
    WebhookClient::new(Duration::from_millis(
        state.settings.webhook_timeout_millis.max(1),
    ))
}

/// What to do after a failed attempt: retry later, or give up when that would be past
/// the delivery's age limit.
fn after_failure(
    state: &AppState,
    row: &Delivery,
    status_code: Option<i64>,
    error: String,
) -> DeliveryOutcome {
    let s = &state.settings;
    let attempt = u32::try_from(row.attempts + 1).unwrap_or(u32::MAX);
    let wait = webhook::retry_delay(
        s.webhook_retry_base_millis,
        s.webhook_retry_max_secs.saturating_mul(1000),
        attempt,
        rand::random::<f64>(),
    );
    let at = OffsetDateTime::now_utc() + wait;
    if at > row.expires_at {
        DeliveryOutcome::Failed {
            status_code,
            error: format!(
                "gave up after {attempt} attempt{}: {error}",
                if attempt == 1 { "" } else { "s" }
            ),
        }
    } else {
        DeliveryOutcome::Retry {
            at,
            status_code,
            error,
        }
    }
}

/// Decide and, if needed, make one attempt at a claimed delivery.
async fn attempt(
    state: &AppState,
    client: &WebhookClient,
    row: &Delivery,
) -> Result<DeliveryOutcome, StoreError> {
    let Some(ep): Option<&WebhookEndpoint> = state
        .settings
        .webhooks
        .iter()
        .find(|e| e.name == row.endpoint)
    else {
        return Ok(DeliveryOutcome::Failed {
            status_code: None,
            error: format!("endpoint `{}` is no longer configured", row.endpoint),
        });
    };
    if !ep.wants(row.event_type) {
        return Ok(DeliveryOutcome::Cancelled(
            "the endpoint no longer takes this event type".into(),
        ));
    }
    if let Some((chat, message, reader)) = webhook::missed_subject(&row.body) {
        let unread = state.store.unread_for(chat, &reader, message, 1).await?;
        if unread.first().map(|m| m.message_id) != Some(message) {
            return Ok(DeliveryOutcome::Cancelled("read in time".into()));
        }
    }
    let now = OffsetDateTime::now_utc();
    if now > row.expires_at {
        return Ok(DeliveryOutcome::Failed {
            status_code: None,
            error: "gave up: older than webhook_max_age_secs".into(),
        });
    }
    let timestamp = now.unix_timestamp();
    let signature = match webhook::sign(&ep.secrets, &row.webhook_id, timestamp, &row.body) {
        Ok(s) => s,
        Err(e) => {
            return Ok(DeliveryOutcome::Failed {
                status_code: None,
                error: e.to_string(),
            });
        }
    };
    let headers = [
        ("webhook-id", row.webhook_id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ];
    Ok(
        match client.post(&ep.url, &headers, row.body.clone()).await {
            Ok(code) if (200..300).contains(&code) => DeliveryOutcome::Delivered {
                status_code: i64::from(code),
            },
            Ok(code) => after_failure(state, row, Some(i64::from(code)), format!("HTTP {code}")),
            Err(e) => after_failure(state, row, None, e.to_string()),
        },
    )
}

/// Claim and send what is due, side by side. Returns how many were claimed.
pub async fn send_due(
    state: &AppState,
    client: &WebhookClient,
    stopping: &tokio::sync::watch::Receiver<bool>,
) -> Result<usize, StoreError> {
    let now = OffsetDateTime::now_utc();
    let lease =
        time::Duration::milliseconds(state.settings.webhook_timeout_millis.min(3_600_000) as i64)
            + time::Duration::seconds(60);
    let rows = state
        .store
        .claim_webhooks(&state.node, now, now + lease, BATCH)
        .await?;
    let claimed = rows.len();
    let mut tasks = tokio::task::JoinSet::new();
    for row in rows {
        if *stopping.borrow() {
            // Give it back at once rather than waiting out the lease.
            state
                .store
                .finish_webhook(
                    row.id,
                    row.next_attempt_at,
                    &DeliveryOutcome::Postpone(now),
                    now,
                )
                .await?;
            continue;
        }
        let (state, client) = (state.clone(), client.clone());
        tasks.spawn(async move {
            let outcome = attempt(&state, &client, &row).await?;
            match &outcome {
                DeliveryOutcome::Retry { error, .. } | DeliveryOutcome::Failed { error, .. } => {
                    tracing::warn!(delivery = row.id, endpoint = %row.endpoint, error = %error, "webhook not delivered");
                }
                _ => {}
            }
            state
                .store
                .finish_webhook(row.id, row.next_attempt_at, &outcome, OffsetDateTime::now_utc())
                .await
        });
    }
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "webhook delivery not recorded; its lease will run out")
            }
            Err(e) => tracing::warn!(error = %e, "webhook delivery task failed"),
        }
    }
    Ok(claimed)
}

/// Plan and send every `webhook_poll_millis` (at once again while there is work) until
/// the server shuts down.
pub fn start(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Whatever this node held when its last process ended (a crash mid-send) is due
        // again now, not when the lease runs out.
        match state
            .store
            .release_webhook_claims(&state.node, OffsetDateTime::now_utc())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                released = n,
                "webhook deliveries left sending by this node's last run are due again"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "could not release this node's old webhook leases; they run out on their own")
            }
        }
        let client = match client(&state) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhooks disabled: no HTTP client");
                return;
            }
        };
        let mut stopping = state.hub.shutdown_signal();
        let every = Duration::from_millis(state.settings.webhook_poll_millis.max(10));
        loop {
            if let Err(e) = plan(&state).await {
                tracing::warn!(error = %e, "webhook planner failed; will retry");
            }
            let busy = match send_due(&state, &client, &stopping).await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook sender failed; will retry");
                    false
                }
            };
            if *stopping.borrow() {
                return;
            }
            if busy {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stopping.changed() => return,
            }
        }
    })
}
