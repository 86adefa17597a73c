//! The schema as the DBA meets it: types, time zones, migrations that fail halfway.

use super::Db;
use crate::{Accounts, HostAccounts, MysqlOptions, MysqlStore, SchemaParams};
use chat_core::model::NewAccount;
use chat_core::prelude::*;
use chat_core::{AccountRole, StoreError};
use sqlx::{Connection, Executor, Row};
use time::macros::{datetime, offset};

#[tokio::test]
async fn utc_times_utf8mb4_text_innodb_tables() {
    let Some(db) = Db::new("utc_times_utf8mb4_text_innodb_tables").await else {
        return;
    };
    let store = db.open(&MysqlOptions::default()).await;
    let t = datetime!(2024-02-29 23:59:58.123456 UTC);
    let account = store
        .create_account(
            &NewAccount {
                role: AccountRole::Worker,
                email: "w@x.test".into(),
                name: "Wrench 🔧 Ωmega".into(),
                password_hash: "x".into(),
            },
            t.to_offset(offset!(+5)),
        )
        .await
        .expect("create");
    assert_eq!(account.created_at, t);
    assert_eq!(account.created_at.offset(), offset!(UTC));
    assert_eq!(account.name, "Wrench 🔧 Ωmega");
    let guest = store
        .create_guest("tok", Some("Gus 🚗"), None, t)
        .await
        .expect("guest");
    assert_eq!(
        store
            .guest(guest.guest_id)
            .await
            .expect("q")
            .expect("g")
            .name
            .as_deref(),
        Some("Gus 🚗")
    );

    // A session in another time zone (a DBA's, the host's) reads the same UTC wall time.
    let mut c = db.conn().await;
    c.execute("SET time_zone = '+09:00'").await.expect("tz");
    let row = sqlx::query("SELECT DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f') FROM tbl_worker")
        .fetch_one(&mut c)
        .await
        .expect("select");
    assert_eq!(
        row.try_get::<String, _>(0).expect("t"),
        "2024-02-29 23:59:58.123456"
    );
    c.close().await.expect("close");

    // Every table InnoDB and utf8mb4; no column defaults to the server's clock.
    let tables = db
        .rows(
            "SELECT CAST(TABLE_NAME AS CHAR(64)), CAST(ENGINE AS CHAR(16)), CAST(TABLE_COLLATION AS CHAR(64)) \
             FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME <> '_nati_chat_migrations'",
        )
        .await;
    assert_eq!(tables.len(), 23);
    for r in &tables {
        let (name, engine, coll): (String, String, String) = (
            r.try_get(0).expect("n"),
            r.try_get(1).expect("e"),
            r.try_get(2).expect("c"),
        );
        assert_eq!(engine, "InnoDB", "{name}");
        assert!(coll.starts_with("utf8mb4_"), "{name}: {coll}");
    }
    let clock = db
        .rows(
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
             AND TABLE_NAME <> '_nati_chat_migrations' AND (LOWER(COLUMN_DEFAULT) LIKE '%current_timestamp%' \
             OR LOWER(COLUMN_DEFAULT) LIKE '%now(%' OR DATA_TYPE = 'timestamp')",
        )
        .await;
    assert_eq!(clock[0].try_get::<i64, _>(0).expect("n"), 0);
    store.close().await;
    drop(db);
}

#[tokio::test]
async fn a_migration_that_failed_halfway_is_reported_and_rerun() {
    let Some(db) = Db::new("a_migration_that_failed_halfway_is_reported_and_rerun").await else {
        return;
    };
    db.open(&MysqlOptions::default()).await.close().await;
    let applied = db
        .rows("SELECT version, success FROM _nati_chat_migrations ORDER BY version")
        .await;
    assert_eq!(applied.len(), 12);
    // Migration 3 died after its first table: marked failed, the second table missing.
    db.exec("UPDATE _nati_chat_migrations SET success = FALSE WHERE version = 3; DROP TABLE tbl_chat_job_cursors")
        .await;
    let refused = MysqlStore::open(&db.url, &MysqlOptions::default()).await;
    assert!(
        matches!(&refused, Err(StoreError::Database(m)) if m.contains("failed halfway")),
        "{:?}",
        refused.err()
    );
    // The documented recovery: delete its row, start again; what exists is skipped.
    db.exec("DELETE FROM _nati_chat_migrations WHERE version = 3")
        .await;
    let store = db.open(&MysqlOptions::default()).await;
    store
        .set_job_cursor("email", 5, time::OffsetDateTime::now_utc())
        .await
        .expect("the table is back");
    store.close().await;

    // Changing the accounts mode in place is refused, not half-done.
    let host = MysqlOptions {
        accounts: Accounts::Host(HostAccounts::default()),
        ..MysqlOptions::default()
    };
    let switched = MysqlStore::open(&db.url, &host).await;
    assert!(
        matches!(&switched, Err(StoreError::Database(m)) if m.contains("other settings")),
        "{:?}",
        switched.err()
    );
    drop(db);
}

#[tokio::test]
async fn the_plan_shows_pending_sql_without_running_it() {
    let Some(db) = Db::new("the_plan_shows_pending_sql_without_running_it").await else {
        return;
    };
    let mut plan = MysqlStore::plan(&db.url, &MysqlOptions::default())
        .await
        .expect("plan");
    assert!(!plan.recorded);
    assert_eq!(plan.params, SchemaParams::own());
    assert_eq!(plan.migrator.iter().count(), 12);
    assert!(
        plan.migrator
            .iter()
            .all(|m| m.sql.as_str().contains("CREATE TABLE IF NOT EXISTS")
                || m.sql.as_str().contains("ALTER TABLE"))
    );
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
    )
    .fetch_one(&mut plan.conn)
    .await
    .expect("count");
    assert_eq!(tables, 0, "planning creates nothing");
    plan.conn.close().await.expect("close");
    drop(db);
}
