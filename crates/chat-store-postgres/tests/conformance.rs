//! The conformance story against a real PostgreSQL server, in a throwaway database.
//!
//! Set `NATI_TEST_PG_URL` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`) to run it;
//! without it the test says it was skipped and passes, so plain `cargo test` needs no
//! PostgreSQL. `scripts/test.sh` sets it.

use chat_core::prelude::*;
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

/// Many writers, pollers and claimers at once (chat-core's concurrency checks), on more
/// connections than writers: event ids must still become visible in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrency_on_a_real_postgres_database() {
    let Some(server) = server_url() else { return };
    let scratch = ScratchDb::create(&server, "nati_conf_")
        .await
        .expect("create database");
    let _guard = ScratchGuard::new(scratch.clone());
    let opts = PgOptions {
        max_connections: 12,
    };
    let store = PgStore::open(scratch.url(), &opts).await.expect("open");
    chat_core::conformance_concurrency::run(std::sync::Arc::new(store.clone())).await;
    store.close().await;
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

/// `sslmode=require` in the URL: the store's connections are encrypted (managed PostgreSQL
/// services insist on it). Debian's PostgreSQL has TLS on with its snakeoil certificate.
#[tokio::test]
async fn tls_connections_when_the_url_asks_for_them() {
    let Some(server) = server_url() else { return };
    let scratch = ScratchDb::create(&server, "nati_conf_")
        .await
        .expect("create database");
    let _guard = ScratchGuard::new(scratch.clone());
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&server)
        .await
        .expect("admin connection");
    let ssl: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(&mut admin)
        .await
        .expect("SHOW ssl");
    if ssl != "on" {
        println!("skipped: this PostgreSQL server has ssl = {ssl}; Debian's default is on");
        return;
    }
    let sep = if scratch.url().contains('?') {
        '&'
    } else {
        '?'
    };
    let tls_url = format!("{}{sep}sslmode=require", scratch.url());
    let store = PgStore::open(&tls_url, &PgOptions { max_connections: 2 })
        .await
        .expect("open over TLS");
    assert_eq!(store.last_event_id().await.expect("query over TLS"), 0);
    // Seen from the server: every connection of the store to this database is TLS.
    let (n, all_tls): (i64, Option<bool>) = sqlx::query_as(
        "SELECT COUNT(*), bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.datname = $1 AND a.application_name = 'nati-chat'",
    )
    .bind(scratch.name())
    .fetch_one(&mut admin)
    .await
    .expect("pg_stat_ssl");
    assert!(n >= 1, "the store holds a connection");
    assert_eq!(all_tls, Some(true), "every store connection uses TLS");
    store.close().await;
}
