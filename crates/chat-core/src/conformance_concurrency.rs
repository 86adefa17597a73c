//! What every [`Store`] must keep with many writers, pollers and claimers at once, as on
//! several nodes: run by each backend's tests against a fresh database, next to the
//! [`conformance`](crate::conformance) story. Each function takes a store of its own.

use crate::actor::{AccountRole, Actor};
use crate::error::ChatError;
use crate::ids::*;
use crate::model::*;
use crate::store::{ChatRule, Store, StoreError};
use crate::webhook::{Delivery, EventType, NewDelivery, webhook_id};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use time::OffsetDateTime;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn ok() -> ChatRule {
    Box::new(|_: &Chat| Ok(ChatChange::default()))
}

fn text(chat_id: ChatId, sender: Actor, text: String) -> NewMessage {
    NewMessage {
        chat_id,
        sender,
        sender_name: "Customer".into(),
        text,
        client_id: None,
        private: false,
        attachments: Vec::new(),
    }
}

async fn guest_chat(store: &dyn Store, topic: &str) -> (Actor, ChatId) {
    let guest = store
        .create_guest(&format!("g-{topic}"), Some("Guest"), None, now())
        .await
        .expect("guest");
    let customer = Actor::Guest(guest.guest_id);
    let new = NewChat {
        customer,
        customer_name: "Guest".into(),
        topic: topic.into(),
        first_message: None,
        client_id: None,
    };
    let chat = store.create_chat(&new, now()).await.expect("chat");
    (customer, chat.chat.chat_id)
}

async fn all_messages(store: &dyn Store, chat: ChatId) -> Vec<Message> {
    let page = Page {
        before: None,
        after: None,
        limit: 500,
        private_notes: true,
    };
    store.messages(chat, page).await.expect("messages")
}

/// Sequence numbers from 2 (seq 1 is the chat.created event) without a gap.
fn assert_gap_free(stored: &[Message], why: &str) {
    let seqs: Vec<i64> = stored.iter().map(|m| m.seq).collect();
    let expected: Vec<i64> = (2..=stored.len() as i64 + 1).collect();
    assert_eq!(seqs, expected, "{why}");
}

/// Many concurrent message writes share batches and commits; one refused by its rule is
/// refused alone; every accepted one is stored once, with gap-free sequence numbers.
pub async fn batched_writes(store: Arc<dyn Store>) {
    let (customer, chat) = guest_chat(&*store, "brakes").await;
    let start = store.last_event_id().await.expect("last");
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let refuse = i % 7 == 3;
                let rule: ChatRule = Box::new(move |_: &Chat| {
                    if refuse {
                        Err(ChatError::Conflict("refused".into()))
                    } else {
                        Ok(ChatChange::default())
                    }
                });
                let sent = store.send_message(text(chat, customer, format!("m{i}")), rule, now());
                (i, refuse, sent.await)
            })
        })
        .collect();
    let mut accepted = Vec::new();
    for t in tasks {
        match t.await.expect("task") {
            (i, false, Ok((SendOutcome::Created(m), _))) => accepted.push((i, m)),
            (_, true, Err(StoreError::Rule(_))) => {}
            (i, refuse, other) => panic!("message {i} (refuse {refuse}): {other:?}"),
        }
    }
    let stored = all_messages(&*store, chat).await;
    assert_eq!(stored.len(), accepted.len());
    assert_gap_free(&stored, "sequence numbers are gap-free");
    for (i, m) in &accepted {
        let found = stored.iter().find(|s| s.message_id == m.message_id);
        assert_eq!(found.map(|s| s.message.clone()), Some(format!("m{i}")));
    }
    let events = store.events_after(start, 1000).await.expect("events");
    let created = events.iter().filter(|e| e.kind == "message.created");
    assert_eq!(created.count(), accepted.len());
}

/// A write whose request goes away mid-way neither blocks later writes nor leaves half of
/// itself behind; other writes (batched or not) go on.
pub async fn abandoned_writes(store: Arc<dyn Store>) {
    let (customer, chat) = guest_chat(&*store, "tyres").await;
    let Actor::Guest(guest) = customer else {
        unreachable!("a guest chat")
    };
    let wait = Duration::from_secs(10);
    for attempt in 0..20 {
        // Poll a send a few steps, then drop it wherever it is.
        let gone = store.send_message(text(chat, customer, format!("gone{attempt}")), ok(), now());
        let _ = tokio::time::timeout(Duration::from_micros(50 * attempt), gone).await;
        let kept = store.send_message(text(chat, customer, format!("kept{attempt}")), ok(), now());
        let (out, _) = tokio::time::timeout(wait, kept)
            .await
            .expect("a later write is not blocked")
            .expect("later write");
        assert!(matches!(out, SendOutcome::Created(_)));
        tokio::time::timeout(wait, store.touch_guest(guest, now()))
            .await
            .expect("a plain write is not blocked")
            .expect("touch");
    }
    let stored = all_messages(&*store, chat).await;
    let kept = stored.iter().filter(|m| m.message.starts_with("kept"));
    assert_eq!(kept.count(), 20);
    assert_gap_free(&stored, "no half-written message left a gap");
}

/// A poller that moves its cursor past every id it sees never misses one: with concurrent
/// writers, an event id may only become visible after all smaller ones.
pub async fn events_visible_in_order(store: Arc<dyn Store>) {
    let user = store
        .create_account(
            &NewAccount {
                role: AccountRole::User,
                email: "order@x.test".into(),
                name: "U".into(),
                password_hash: "x".into(),
            },
            now(),
        )
        .await
        .expect("user");
    let customer = Actor::User(UserId(user.id));
    let mut chats = Vec::new();
    for i in 0..6 {
        let new = NewChat {
            customer,
            customer_name: "U".into(),
            topic: format!("t{i}"),
            first_message: None,
            client_id: None,
        };
        chats.push(
            store
                .create_chat(&new, now())
                .await
                .expect("chat")
                .chat
                .chat_id,
        );
    }
    let start = store.last_event_id().await.expect("last");
    let done = Arc::new(AtomicBool::new(false));
    let poller = {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            let (mut last, mut seen) = (start, Vec::new());
            loop {
                let finished = done.load(Ordering::SeqCst);
                for e in store.events_after(last, 1000).await.expect("poll") {
                    seen.push(e.event_id);
                    last = e.event_id;
                }
                if finished {
                    return seen;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let writers: Vec<_> = chats
        .iter()
        .map(|&chat| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..25 {
                    let m = text(chat, customer, format!("m{n}"));
                    store.send_message(m, ok(), now()).await.expect("send");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    done.store(true, Ordering::SeqCst);
    let seen = poller.await.expect("poller");
    let all = store.events_after(start, 100_000).await.expect("all");
    let all: Vec<i64> = all.iter().map(|e| e.event_id).collect();
    assert_eq!(all.len(), 6 * 25);
    assert_eq!(seen, all, "the poller saw every event, in order");
}

/// Four claimers at once until `claim` gives nothing: the ids each got.
async fn claim_all<F, Fut>(claim: F) -> Vec<i64>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Vec<i64>> + Send,
{
    let claimers: Vec<_> = (0..4)
        .map(|_| {
            let claim = claim.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let batch = claim().await;
                    if batch.is_empty() {
                        return got;
                    }
                    got.extend(batch);
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for c in claimers {
        all.extend(c.await.expect("claimer"));
    }
    all
}

/// Email and webhook claimers on several nodes at once never take the same row, and a
/// chat's second webhook waits until its first is done.
pub async fn claimers_get_distinct_work(store: Arc<dyn Store>) {
    let (_, chat) = guest_chat(&*store, "claims").await;
    let past = now() - time::Duration::seconds(5);
    let lease = now() + time::Duration::minutes(5);
    for i in 0..40 {
        let email = NewEmail {
            kind: EmailKind::Missed,
            recipient: Actor::Worker(WorkerId(1000 + i)),
            chat_id: chat,
            first_message_id: MessageId(1),
            due_at: past + time::Duration::milliseconds(i),
        };
        assert!(store.enqueue_email(&email, now()).await.expect("enqueue"));
    }
    let emails = {
        let store = store.clone();
        claim_all(move || {
            let store = store.clone();
            async move {
                let got = store
                    .claim_due_emails(now(), lease, 3)
                    .await
                    .expect("claim");
                got.iter().map(|e| e.id).collect()
            }
        })
        .await
    };
    let distinct: BTreeSet<i64> = emails.iter().copied().collect();
    assert_eq!(
        (emails.len(), distinct.len()),
        (40, 40),
        "no email claimed twice"
    );
    let sending = store.list_emails(Some("sending"), 100).await.expect("list");
    assert_eq!(sending.len(), 40);
    let counts = store.email_counts().await.expect("counts");
    assert_eq!(counts, [("sending".to_owned(), 40)], "the outbox by status");

    let row = |chat: i64, key: String, at: OffsetDateTime, ord: i64| NewDelivery {
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
    let claimed = {
        let store = store.clone();
        claim_all(move || {
            let store = store.clone();
            async move {
                let got: Vec<Delivery> = store
                    .claim_webhooks("node", now(), lease, 3)
                    .await
                    .expect("claim");
                got.iter().map(|d| d.id).collect()
            }
        })
        .await
    };
    let distinct: BTreeSet<i64> = claimed.iter().copied().collect();
    assert_eq!(
        (claimed.len(), distinct.len()),
        (40, 40),
        "every chat's head once, none twice, chat 1's second row not yet"
    );
}

/// Every check above, each on the store given (they share it: each makes its own chats).
pub async fn run(store: Arc<dyn Store>) {
    batched_writes(store.clone()).await;
    abandoned_writes(store.clone()).await;
    events_visible_in_order(store.clone()).await;
    claimers_get_distinct_work(store).await;
}
