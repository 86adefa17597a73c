//! The webhook part of the conformance story (run at the end of
//! [`crate::conformance::run`], so every store passes it): the state a `chat.updated`
//! changed from, idempotent queuing, claims that keep each (endpoint, chat) in order, leases
//! that run out, every outcome, the log, its counts and "retry now".

use crate::actor::Actor;
use crate::ids::ChatId;
use crate::model::*;
use crate::status::ChatStatus;
use crate::store::Store;
use crate::webhook::{self, DeliveryOutcome, EventType, NewDelivery};
use time::{Duration, OffsetDateTime};

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn row(
    endpoint: &str,
    key: &str,
    chat: Option<ChatId>,
    due: OffsetDateTime,
    ord: i64,
) -> NewDelivery {
    NewDelivery {
        endpoint: endpoint.into(),
        event_type: EventType::MessageCreated,
        event_key: key.into(),
        webhook_id: webhook::webhook_id(key),
        chat_id: chat,
        due_at: due,
        ord,
        expires_at: due + Duration::days(1),
        body: format!("{{\"key\":\"{key}\"}}"),
    }
}

fn keys(rows: &[webhook::Delivery]) -> Vec<String> {
    let mut k: Vec<String> = rows
        .iter()
        .map(|d| {
            d.body
                .trim_start_matches("{\"key\":\"")
                .trim_end_matches("\"}")
                .to_owned()
        })
        .collect();
    k.sort();
    k
}

/// Run the webhook steps. Panics (with the step) on the first broken promise.
pub async fn run(store: &dyn Store) {
    // ---- the state before a change, from the event log
    let guest = store
        .create_guest("wh-guest", Some("Hook"), None, now())
        .await
        .expect("guest");
    let start = store
        .create_chat(
            &NewChat {
                customer: Actor::Guest(guest.guest_id),
                customer_name: "Hook".into(),
                topic: String::new(),
                first_message: Some("hi".into()),
                client_id: None,
            },
            now(),
        )
        .await
        .expect("chat");
    let x = start.chat.chat_id;
    let changed = store
        .update_chat(
            x,
            Box::new(|_| {
                Ok(ChatChange {
                    status: Some(ChatStatus::Open),
                    ..Default::default()
                })
            }),
            now(),
        )
        .await
        .expect("update");
    let before = store
        .chat_state_before(x, changed.last_seq)
        .await
        .expect("state before")
        .expect("there was one");
    assert_eq!(
        before.status,
        ChatStatus::Pending,
        "what the update changed from"
    );
    assert_eq!(before.chat_id, x);
    assert!(
        store.chat_state_before(x, 1).await.expect("q").is_none(),
        "nothing before the chat began"
    );
    let y = ChatId(x.0 + 1_000_000);

    // ---- queuing is idempotent per (endpoint, event)
    let t0 = now() - Duration::seconds(10);
    let batch = vec![
        row("a", "x1", Some(x), t0, 4),
        row("a", "x2", Some(x), t0, 5),
        row("a", "x3", Some(x), t0 + Duration::milliseconds(1), 6),
        row("a", "y1", Some(y), t0, 4),
        row("a", "g1", None, t0, 0),
        row("b", "x1", Some(x), t0, 4),
        // First in order but due later, never tried: claimed neither now nor holding the
        // chat back (a message.missed waiting for its moment).
        row("a", "x9", Some(x), now() + Duration::hours(1), 0),
    ];
    assert_eq!(
        store
            .enqueue_webhooks(&batch, now())
            .await
            .expect("enqueue"),
        7
    );
    assert_eq!(
        store.enqueue_webhooks(&batch, now()).await.expect("again"),
        0,
        "re-planning adds nothing"
    );

    // ---- claims: the first undelivered row of each (endpoint, chat) only
    let lease = now() + Duration::minutes(5);
    let first = store
        .claim_webhooks("node-a", now(), lease, 10)
        .await
        .expect("claim");
    assert_eq!(keys(&first), ["g1", "x1", "x1", "y1"], "heads only");
    assert!(first.iter().all(|d| d.status == "sending"));
    assert!(
        store
            .claim_webhooks("node-a", now(), lease, 10)
            .await
            .expect("claim")
            .is_empty(),
        "a claimed row blocks the rest of its chat, and is not claimed twice"
    );
    let a_x1 = first
        .iter()
        .find(|d| d.endpoint == "a" && d.chat_id == Some(x))
        .expect("a x1");
    assert_eq!(a_x1.webhook_id, webhook::webhook_id("x1"));
    assert_eq!(a_x1.event_type, EventType::MessageCreated);

    // A row waiting for its retry holds its chat back; due again, it comes back first,
    // still ahead of x2.
    store
        .finish_webhook(
            a_x1.id,
            a_x1.next_attempt_at,
            &DeliveryOutcome::Retry {
                at: now() + Duration::seconds(1),
                status_code: Some(503),
                error: "HTTP 503".into(),
            },
            now(),
        )
        .await
        .expect("retry");
    assert!(
        store
            .claim_webhooks("node-a", now(), lease, 10)
            .await
            .expect("claim")
            .is_empty(),
        "x2 waits for x1's retry"
    );
    let again = store
        .claim_webhooks("node-a", now() + Duration::seconds(2), lease, 10)
        .await
        .expect("claim");
    assert_eq!(keys(&again), ["x1"]);
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].last_status_code, Some(503));
    store
        .finish_webhook(
            again[0].id,
            again[0].next_attempt_at,
            &DeliveryOutcome::Delivered { status_code: 204 },
            now(),
        )
        .await
        .expect("delivered");
    let next = store
        .claim_webhooks("node-a", now(), lease, 10)
        .await
        .expect("claim");
    assert_eq!(keys(&next), ["x2"], "then the next of that chat, in order");

    // A lease that ran out (a node died mid-send): claimed again, by anyone.
    let later = lease + Duration::seconds(1);
    let expired = store
        .claim_webhooks("node-b", later, later + Duration::minutes(5), 10)
        .await
        .expect("claim");
    assert_eq!(keys(&expired), ["g1", "x1", "x2", "y1"]);
    assert_eq!(
        store
            .release_webhook_claims("node-a", later)
            .await
            .expect("release"),
        0,
        "a node gives back only what it holds itself, not another node's claims"
    );
    // The claim that held x2 before its lease ran out finishes late: it changes nothing,
    // the new claim's outcome stands.
    let old_x2 = &next[0];
    store
        .finish_webhook(
            old_x2.id,
            old_x2.next_attempt_at,
            &DeliveryOutcome::Delivered { status_code: 200 },
            now(),
        )
        .await
        .expect("late finish");
    let log = store.list_webhooks(None, None, 100).await.expect("log");
    let x2_now = log
        .iter()
        .find(|d| d.id == old_x2.id)
        .expect("x2 in the log");
    assert_eq!(x2_now.status, "sending", "still the new claim's");
    assert_eq!(x2_now.delivered_at, None);
    for d in &expired {
        let outcome = match d.body.as_str() {
            b if b.contains("x2") => DeliveryOutcome::Failed {
                status_code: Some(500),
                error: "gave up".into(),
            },
            b if b.contains("g1") => DeliveryOutcome::Cancelled("not wanted".into()),
            b if b.contains("y1") => DeliveryOutcome::Postpone(now() - Duration::seconds(1)),
            _ => DeliveryOutcome::Delivered { status_code: 200 },
        };
        store
            .finish_webhook(d.id, d.next_attempt_at, &outcome, now())
            .await
            .expect("finish");
    }
    let log = store.list_webhooks(None, None, 100).await.expect("log");
    let x2_row = log
        .iter()
        .find(|d| d.id == old_x2.id)
        .expect("x2 in the log");
    assert_eq!(
        x2_row.status, "failed",
        "the late finish of an expired claim changed nothing"
    );
    // A failed row no longer holds its chat back; a postponed one is due again.
    let rest = store
        .claim_webhooks("node-a", now(), lease, 10)
        .await
        .expect("claim");
    assert_eq!(keys(&rest), ["x3", "y1"]);
    let y1 = rest.iter().find(|d| d.chat_id == Some(y)).expect("y1");
    assert_eq!(y1.attempts, 0, "postponing is no attempt");

    // ---- the log, the counts, retry now
    let failed = store
        .list_webhooks(Some("failed"), None, 50)
        .await
        .expect("list");
    assert_eq!(keys(&failed), ["x2"]);
    assert_eq!(failed[0].last_status_code, Some(500));
    assert_eq!(failed[0].last_error.as_deref(), Some("gave up"));
    let b = store
        .list_webhooks(None, Some("b"), 50)
        .await
        .expect("list");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].status, "delivered");
    assert!(b[0].delivered_at.is_some());
    let all = store.list_webhooks(None, None, 50).await.expect("list");
    assert_eq!(all.len(), 7);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let counts = store.webhook_counts().await.expect("counts");
    let count = |e: &str, s: &str| {
        counts
            .iter()
            .find(|c| c.endpoint == e && c.status == s)
            .map_or(0, |c| c.count)
    };
    assert_eq!(count("a", "delivered"), 1);
    assert_eq!(count("a", "sending"), 2);
    assert_eq!(count("a", "pending"), 1);
    assert_eq!(count("a", "failed"), 1);
    assert_eq!(count("a", "cancelled"), 1);
    assert_eq!(count("b", "delivered"), 1);
    let fresh = now() + Duration::days(1);
    assert!(
        store
            .retry_webhook(failed[0].id, fresh, now())
            .await
            .expect("retry now")
    );
    assert!(
        !store
            .retry_webhook(failed[0].id, fresh, now())
            .await
            .expect("twice"),
        "only a failed delivery"
    );

    let back = store
        .list_webhooks(Some("pending"), Some("a"), 50)
        .await
        .expect("list");
    assert!(back.iter().any(|d| d.id == failed[0].id));

    // ---- a node that restarts gives back what its last run held, at once
    assert_eq!(count("a", "sending"), 2, "x3 and y1, held by node-a");
    assert_eq!(
        store
            .release_webhook_claims("node-a", now())
            .await
            .expect("release"),
        2
    );
    assert_eq!(
        store
            .release_webhook_claims("node-a", now())
            .await
            .expect("again"),
        0
    );
    let after = store.webhook_counts().await.expect("counts");
    assert!(
        !after.iter().any(|c| c.status == "sending"),
        "nothing left sending: {after:?}"
    );
    let due = store
        .claim_webhooks("node-b", now(), lease, 10)
        .await
        .expect("claim");
    assert!(
        due.iter().any(|d| d.chat_id == Some(y)),
        "the released row is due at once, long before its lease would have run out"
    );
    let y1_again = due.iter().find(|d| d.chat_id == Some(y)).expect("y1");
    assert_eq!(y1_again.attempts, 0, "giving back is no attempt");
}
