//! Several writers, pollers and claimers at once, as on several nodes.

use super::Db;
use crate::{MysqlOptions, outbox};
use chat_core::model::*;
use chat_core::prelude::*;
use chat_core::{Actor, ChatId, MessageId, Store, WorkerId};
use sqlx::Row;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Many writers, pollers and claimers at once (chat-core's concurrency checks).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrency_on_mariadb() {
    let Some(db) = Db::new("concurrency_on_mariadb").await else {
        return;
    };
    let store = Arc::new(db.open(&MysqlOptions::default()).await);
    chat_core::conformance_concurrency::run(store.clone()).await;
    store.close().await;
    drop(db);
}

/// Claimers on several nodes each get work of their own, at once, never the same row.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outbox_claimers_get_distinct_work() {
    let Some(db) = Db::new("outbox_claimers_get_distinct_work").await else {
        return;
    };
    let store = Arc::new(db.open(&MysqlOptions::default()).await);
    let guest = store
        .create_guest("g", Some("G"), None, now())
        .await
        .expect("guest");
    let chat: ChatId = store
        .create_chat(
            &NewChat {
                customer: Actor::Guest(guest.guest_id),
                customer_name: "G".into(),
                topic: String::new(),
                first_message: Some("hi".into()),
                client_id: None,
            },
            now(),
        )
        .await
        .expect("chat")
        .chat
        .chat_id;
    let past = now() - time::Duration::seconds(5);
    for i in 0..40 {
        let queued = store
            .enqueue_email(
                &NewEmail {
                    kind: EmailKind::Missed,
                    recipient: Actor::Worker(WorkerId(1000 + i)),
                    chat_id: chat,
                    first_message_id: MessageId(1),
                    due_at: past + time::Duration::milliseconds(i),
                },
                now(),
            )
            .await
            .expect("enqueue");
        assert!(queued);
    }
    let lease = now() + time::Duration::minutes(5);

    // The claim reads the index in order: no sort of every due row first.
    let plan = db
        .rows(
            "EXPLAIN SELECT id, next_attempt_at FROM tbl_chat_email_outbox WHERE status = 'pending' \
             AND next_attempt_at <= '2999-01-01' ORDER BY next_attempt_at, id LIMIT 5",
        )
        .await;
    let key: Option<String> = plan[0].try_get("key").expect("key");
    let extra: Option<String> = plan[0].try_get("Extra").expect("extra");
    assert_eq!(key.as_deref(), Some("idx_chat_email_outbox_due"));
    assert!(!extra.unwrap_or_default().contains("filesort"));

    // One claimer holds its rows (its transaction is still open); another gets the next
    // rows at once instead of waiting or getting nothing.
    let mut conn = store.pool.acquire().await.expect("acquire");
    let mut holding = outbox::begin_claim(&mut conn).await.expect("begin");
    let first = outbox::claim_in(&mut holding, now(), lease, 5)
        .await
        .expect("claim");
    assert_eq!(first.len(), 5);
    let second = tokio::time::timeout(
        Duration::from_secs(5),
        store.claim_due_emails(now(), lease, 5),
    )
    .await
    .expect("not blocked by the other claimer")
    .expect("claim");
    assert_eq!(second.len(), 5, "the next rows, not nothing");
    let ids = |v: &[OutboxEmail]| v.iter().map(|e| e.id).collect::<BTreeSet<_>>();
    assert!(ids(&first).is_disjoint(&ids(&second)));
    holding.commit().await.expect("commit");
    drop(conn);

    store.close().await;
    drop(db);
}

/// Webhook claimers on several nodes each get work of their own at once, never the same
/// row, and never the second row of a chat whose first another claimer holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_claimers_get_distinct_work_in_order_per_chat() {
    use crate::webhooks;
    use chat_core::webhook::{EventType, NewDelivery, webhook_id};
    let Some(db) = Db::new("webhook_claimers_get_distinct_work_in_order_per_chat").await else {
        return;
    };
    let store = Arc::new(db.open(&MysqlOptions::default()).await);
    let past = now() - time::Duration::seconds(5);
    let row = |chat: i64, key: String, at: time::OffsetDateTime, ord: i64| NewDelivery {
        endpoint: "bell".into(),
        event_type: EventType::MessageCreated,
        webhook_id: webhook_id(&key),
        event_key: key,
        chat_id: Some(ChatId(chat)),
        due_at: at,
        ord,
        expires_at: at + time::Duration::days(1),
        body: "{}".into(),
    };
    // Chat 1 has a second row behind its first; chats 2..=40 one row each.
    let mut batch = vec![row(
        1,
        "c1-second".into(),
        past + time::Duration::seconds(1),
        8,
    )];
    for chat in 1..=40 {
        batch.push(row(
            chat,
            format!("c{chat}"),
            past + time::Duration::milliseconds(chat),
            4,
        ));
    }
    assert_eq!(
        store
            .enqueue_webhooks(&batch, now())
            .await
            .expect("enqueue"),
        41
    );
    let lease = now() + time::Duration::minutes(5);

    // The candidates are read through the index, in its order: no sort of every due row.
    let plan = db
        .rows(
            "EXPLAIN SELECT d.id FROM tbl_chat_webhook_deliveries d WHERE d.status = 'pending' \
             AND d.next_attempt_at <= '2999-01-01' ORDER BY d.next_attempt_at, d.id LIMIT 5",
        )
        .await;
    let key: Option<String> = plan[0].try_get("key").expect("key");
    let extra: Option<String> = plan[0].try_get("Extra").expect("extra");
    assert_eq!(key.as_deref(), Some("idx_chat_webhook_due"));
    assert!(!extra.unwrap_or_default().contains("filesort"));

    // One claimer holds chat 1's first row (its transaction is still open); another gets
    // the next rows at once, and not chat 1's second row.
    let mut conn = store.pool.acquire().await.expect("acquire");
    let mut holding = outbox::begin_claim(&mut conn).await.expect("begin");
    let first = webhooks::claim_in(&mut holding, "node-a", now(), lease, 5)
        .await
        .expect("claim");
    assert_eq!(first.len(), 5);
    assert!(first.iter().any(|d| d.chat_id == Some(ChatId(1))));
    let second = tokio::time::timeout(
        Duration::from_secs(5),
        store.claim_webhooks("node-b", now(), lease, 5),
    )
    .await
    .expect("not blocked by the other claimer")
    .expect("claim");
    assert_eq!(second.len(), 5, "the next rows, not nothing");
    let ids = |v: &[chat_core::webhook::Delivery]| v.iter().map(|d| d.id).collect::<BTreeSet<_>>();
    assert!(ids(&first).is_disjoint(&ids(&second)));
    assert!(
        second.iter().all(|d| d.chat_id != Some(ChatId(1))),
        "chat 1's second row waits for its first"
    );
    holding.commit().await.expect("commit");
    drop(conn);

    store.close().await;
    drop(db);
}
