//! The conformance story against a real PostgreSQL server, in a throwaway database.
//!
//! Set `NATI_TEST_PG_URL` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`) to run it;
//! without it the test says it was skipped and passes, so plain `cargo test` needs no
//! PostgreSQL. `scripts/test.sh` sets it.

use chat_core::Store;
use chat_store_postgres::scratch::{ScratchDb, ScratchGuard};
use chat_store_postgres::{PgOptions, PgStore};

fn server_url() -> Option<String> {
    match std::env::var("NATI_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            println!("skipped: NATI_TEST_PG_URL is not set (no PostgreSQL to test against)");
            None
        }
    }
}

#[tokio::test]
async fn conformance_story_on_a_real_postgres_database() {
    let Some(server) = server_url() else { return };
    let scratch = ScratchDb::create(&server, "nati_conf_")
        .await
        .expect("create database");
    // Dropped at the end, or when the story panics.
    let _guard = ScratchGuard::new(scratch.clone());
    let store = PgStore::open(scratch.url(), &PgOptions { max_connections: 4 })
        .await
        .expect("open");
    chat_core::conformance::run(&store).await;
    // Reopening applies no migration twice and keeps the data.
    store.close().await;
    let again = PgStore::open(scratch.url(), &PgOptions::default())
        .await
        .expect("reopen");
    assert!(again.last_event_id().await.expect("events") > 0);
    again.close().await;
}

#[tokio::test]
async fn two_nodes_on_one_database_hear_each_others_events() {
    use std::time::Duration;
    let Some(server) = server_url() else { return };
    let scratch = ScratchDb::create(&server, "nati_conf_")
        .await
        .expect("create database");
    let _guard = ScratchGuard::new(scratch.clone());
    let a = PgStore::open(scratch.url(), &PgOptions::default())
        .await
        .expect("open a");
    let b = PgStore::open(scratch.url(), &PgOptions::default())
        .await
        .expect("open b");
    // The first call starts listening and resolves at once (anything may have happened
    // before); after that, b wakes on a's announcements only.
    b.remote_events().await.expect("listen");
    let waiting = {
        let b = b.clone();
        tokio::spawn(async move { b.remote_events().await })
    };
    b.announce_events().await.expect("announce own");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "a node ignores its own announcements"
    );
    a.announce_events().await.expect("announce");
    tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("b hears a within 5 s")
        .expect("task")
        .expect("remote events");
    // Closing does not wait for the listener.
    tokio::time::timeout(Duration::from_secs(5), b.close())
        .await
        .expect("b closes");
    a.close().await;
}

#[tokio::test]
async fn host_identity_story_on_a_real_postgres_database() {
    let Some(server) = server_url() else { return };
    let scratch = ScratchDb::create(&server, "nati_conf_")
        .await
        .expect("create database");
    let _guard = ScratchGuard::new(scratch.clone());
    let store = PgStore::open(scratch.url(), &PgOptions { max_connections: 4 })
        .await
        .expect("open");
    chat_core::conformance::host_identity(&store).await;
    store.close().await;
}
