//! Event ids are committed in order: a reader following the log with `events_after` never
//! skips an event, however many connections write at once. Needs `NATI_TEST_PG_URL`, like
//! the conformance test (skipped without it).

use chat_core::model::*;
use chat_core::policy::{self, ChatAction};
use chat_core::prelude::*;
use chat_core::{AccountRole, Actor, Store, UserId};
use chat_store_postgres::scratch::{ScratchDb, ScratchGuard};
use chat_store_postgres::{PgOptions, PgStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use time::OffsetDateTime;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_following_the_log_never_skips_an_event() {
    let Some(server) = std::env::var("NATI_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        println!("skipped: NATI_TEST_PG_URL is not set (no PostgreSQL to test against)");
        return;
    };
    let scratch = ScratchDb::create(&server, "nati_conf_")
        .await
        .expect("create database");
    // Dropped at the end, or when the story panics.
    let _guard = ScratchGuard::new(scratch.clone());
    let store = Arc::new(
        PgStore::open(
            scratch.url(),
            &PgOptions {
                max_connections: 12,
            },
        )
        .await
        .expect("open"),
    );
    let now = OffsetDateTime::now_utc;
    // Eight customers, one chat each: writers never wait on each other's chat row.
    let mut chats = Vec::new();
    for i in 0..8 {
        let acc = store
            .create_account(
                &NewAccount {
                    role: AccountRole::User,
                    email: format!("u{i}@x.test"),
                    name: format!("U{i}"),
                    password_hash: "x".into(),
                },
                now(),
            )
            .await
            .expect("account");
        let who = Actor::User(UserId(acc.id));
        let start = store
            .create_chat(
                &NewChat {
                    customer: who,
                    customer_name: acc.name.clone(),
                    topic: String::new(),
                    first_message: None,
                    client_id: None,
                },
                now(),
            )
            .await
            .expect("chat");
        chats.push((who, start.chat.chat_id));
    }

    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            let (mut cursor, mut seen) = (0i64, Vec::new());
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = store.events_after(cursor, 1000).await.expect("read");
                for e in &page {
                    seen.push(e.event_id);
                    cursor = e.event_id;
                }
                if finished && page.is_empty() {
                    return seen;
                }
            }
        })
    };
    let mut writers = Vec::new();
    for (who, chat) in chats {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for n in 0..40 {
                let m = NewMessage {
                    chat_id: chat,
                    sender: who,
                    sender_name: "U".into(),
                    text: format!("m{n}"),
                    client_id: None,
                };
                store
                    .send_message(m, policy::rule(who, "U", ChatAction::Message), now())
                    .await
                    .expect("send");
            }
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.await.expect("reader");
    let all: Vec<i64> = store
        .events_after(0, 1_000_000)
        .await
        .expect("all")
        .iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(all.len(), 8 + 8 * 40);
    assert_eq!(seen, all, "the follower saw every event, in order");
    store.close().await;
}
