//! Tests against a real MariaDB/MySQL server, each in a database of its own
//! (`nati_conf_<random>`, dropped at the end, also when a test fails). They need `NATI_TEST_MYSQL_URL` (for example
//! `mysql://root@127.0.0.1:3306/test`, any database the user may connect to); without it
//! each prints that it was skipped and passes, so plain `cargo test` needs no server.

mod concurrency;
mod host;
mod schema;

use crate::scratch::{ScratchDb, ScratchGuard};
use crate::{MysqlOptions, MysqlStore};
use chat_core::prelude::*;
use sqlx::mysql::{MySqlConnection, MySqlRow};
use sqlx::{ConnectOptions, Connection, Executor};

/// The server to test against, or `None` (and a note) when the variable is unset.
fn server_url(test: &str) -> Option<String> {
    match std::env::var("NATI_TEST_MYSQL_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!(
                "skipped {test}: set NATI_TEST_MYSQL_URL (e.g. mysql://root@127.0.0.1:3306/test) to run it against MariaDB"
            );
            None
        }
    }
}

/// A throwaway database, dropped at the end of the test (also when it panics).
pub(crate) struct Db {
    pub url: String,
    _guard: ScratchGuard,
}

impl Db {
    pub async fn new(test: &str) -> Option<Db> {
        let server = server_url(test)?;
        let scratch = ScratchDb::create(&server, "nati_conf_")
            .await
            .expect("create a throwaway database");
        Some(Db {
            url: scratch.url().to_owned(),
            _guard: ScratchGuard::new(scratch),
        })
    }

    pub async fn conn(&self) -> MySqlConnection {
        crate::connect_options(&self.url)
            .expect("url")
            .connect()
            .await
            .expect("connect")
    }

    /// Run statements (raw SQL of the test's own).
    pub async fn exec(&self, sql: &'static str) {
        let mut c = self.conn().await;
        c.execute(sql).await.expect(sql);
        c.close().await.expect("close");
    }

    pub async fn rows(&self, sql: &'static str) -> Vec<MySqlRow> {
        let mut c = self.conn().await;
        let rows = sqlx::query(sql).fetch_all(&mut c).await.expect(sql);
        c.close().await.expect("close");
        rows
    }

    pub async fn open(&self, opts: &MysqlOptions) -> MysqlStore {
        MysqlStore::open(&self.url, opts).await.expect("open store")
    }
}

#[tokio::test]
async fn conformance_story_on_mariadb() {
    let Some(db) = Db::new("conformance_story_on_mariadb").await else {
        return;
    };
    let store = db.open(&MysqlOptions::default()).await;
    chat_core::conformance::run(&store).await;
    // Reopening applies no migration twice and keeps the data.
    store.close().await;
    let again = db.open(&MysqlOptions::default()).await;
    assert!(again.last_event_id().await.expect("events") > 0);
    again.close().await;
    drop(db);
}

#[tokio::test]
async fn host_identity_story_on_mariadb() {
    let Some(db) = Db::new("host_identity_story_on_mariadb").await else {
        return;
    };
    let store = db.open(&MysqlOptions::default()).await;
    chat_core::conformance::host_identity(&store).await;
    store.close().await;
    drop(db);
}
