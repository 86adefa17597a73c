//! Host mode: the chat on top of a host site's own `tbl_user`, `tbl_admin`, `tbl_worker`.

use super::Db;
use crate::{Accounts, HostAccounts, MysqlOptions, MysqlStore};
use chat_core::prelude::*;
use chat_core::{AccountRole, ChatError, StoreError};
use sqlx::{Connection, Row};
use time::OffsetDateTime;

/// The host site's schema: `INT UNSIGNED` keys, columns of its own, `utf8mb4_general_ci`
/// (not the chat's own default collation), a few people.
const HOST_SCHEMA: &str = "
CREATE TABLE tbl_user (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    login VARCHAR(60) NOT NULL, email VARCHAR(190) NOT NULL, city VARCHAR(60) NULL,
    is_active TINYINT NOT NULL DEFAULT 1
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
CREATE TABLE tbl_admin (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username VARCHAR(60) NOT NULL, email VARCHAR(190) NOT NULL, level INT NOT NULL DEFAULT 1
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
CREATE TABLE tbl_worker (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    full_name VARCHAR(100) NOT NULL, email VARCHAR(190) NOT NULL, garage VARCHAR(60) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
INSERT INTO tbl_user (login, email, city) VALUES ('ursula', 'u@x.test', 'Haifa'), ('olga', 'o@x.test', NULL),
    ('lonely', 'lonely@x.test', 'Acre');
INSERT INTO tbl_admin (username, email, level) VALUES ('alice', 'a@x.test', 9);
INSERT INTO tbl_worker (full_name, email, garage) VALUES ('Walt W.', 'w1@x.test', 'North'), ('Wendy W.', 'w2@x.test', 'South');
";

fn host(pk_type: Option<&str>) -> MysqlOptions {
    MysqlOptions {
        accounts: Accounts::Host(HostAccounts {
            pk_column: "id".into(),
            pk_type: pk_type.map(String::from),
            email_column: Some("email".into()),
        }),
        ..MysqlOptions::default()
    }
}

/// The host's tables as the host sees them: definitions and rows.
async fn host_state(db: &Db) -> Vec<String> {
    let mut out = Vec::new();
    let mut c = db.conn().await;
    for t in ["tbl_user", "tbl_admin", "tbl_worker"] {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SHOW CREATE TABLE {t}")))
            .fetch_one(&mut c)
            .await
            .expect("show create");
        let ddl: String = row.try_get(1).expect("ddl");
        // The AUTO_INCREMENT counter is the host's business, not a definition change.
        out.push(
            ddl.split_whitespace()
                .filter(|w| !w.starts_with("AUTO_INCREMENT="))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    for r in db
        .rows("SELECT CONCAT_WS('|', id, login, email, IFNULL(city, '-'), is_active) FROM tbl_user ORDER BY id")
        .await
    {
        out.push(r.try_get(0).expect("row"));
    }
    out
}

fn sql_error_number(e: &sqlx::Error) -> Option<u16> {
    match e {
        sqlx::Error::Database(d) => d
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .map(|m| m.number()),
        _ => None,
    }
}

#[tokio::test]
async fn chat_on_top_of_the_hosts_tables() {
    let Some(db) = Db::new("chat_on_top_of_the_hosts_tables").await else {
        return;
    };
    db.exec(HOST_SCHEMA).await;
    let before = host_state(&db).await;

    // A key type that does not match is refused before anything is created (errno 150).
    let wrong = MysqlStore::open(&db.url, &host(Some("BIGINT UNSIGNED"))).await;
    assert!(
        matches!(&wrong, Err(StoreError::Database(m)) if m.contains("errno 150")),
        "{:?}",
        wrong.err()
    );
    // Own mode refuses to settle next to somebody else's tbl_user.
    let own = MysqlStore::open(&db.url, &MysqlOptions::default()).await;
    assert!(
        matches!(&own, Err(StoreError::Database(m)) if m.contains("accounts = \"host\"")),
        "{:?}",
        own.err()
    );
    let tables = db
        .rows("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
        .await;
    assert_eq!(
        tables[0].try_get::<i64, _>(0).expect("n"),
        3,
        "nothing created"
    );

    // The whole story, with the host's people.
    let store = db.open(&host(Some("int(10) unsigned"))).await;
    chat_core::conformance::run(&store).await;

    // The chat's rows join to the host's rows by the host's key.
    let joined = db
        .rows(
            "SELECT h.login, hw.garage, COUNT(*) FROM tbl_chats c JOIN tbl_user h ON h.id = c.user_id \
             JOIN tbl_worker hw ON hw.id = c.worker_id GROUP BY h.login, hw.garage",
        )
        .await;
    assert_eq!(joined.len(), 1);
    assert_eq!(
        (
            joined[0].try_get::<String, _>(0).expect("login"),
            joined[0].try_get::<String, _>(1).expect("garage")
        ),
        ("ursula".to_owned(), "South".to_owned())
    );
    // Text joins too: the chat's tables took the host's collation (no error 1267).
    let by_email = db
        .rows(
            "SELECT h.login, a.name FROM tbl_chat_user_accounts a JOIN tbl_user h ON h.email = a.email",
        )
        .await;
    assert_eq!(
        by_email[0].try_get::<String, _>(1).expect("name"),
        "Ursula 🚗"
    );
    let collations = db
        .rows(
            "SELECT DISTINCT TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() \
             AND TABLE_NAME LIKE 'tbl\\_chat%'",
        )
        .await;
    assert_eq!(collations.len(), 1);
    assert_eq!(
        collations[0].try_get::<String, _>(0).expect("c"),
        "utf8mb4_general_ci"
    );
    // What the chat's own default collation would have given: error 1267.
    let mut c = db.conn().await;
    sqlx::query("CREATE TABLE scratch_unicode (email VARCHAR(190)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci")
        .execute(&mut c)
        .await
        .expect("scratch");
    let mixed =
        sqlx::query("SELECT COUNT(*) FROM tbl_user h JOIN scratch_unicode s ON s.email = h.email")
            .fetch_all(&mut c)
            .await
            .expect_err("two collations in one comparison");
    assert_eq!(sql_error_number(&mixed), Some(1267), "{mixed}");
    sqlx::query("DROP TABLE scratch_unicode")
        .execute(&mut c)
        .await
        .expect("drop scratch");

    // A host row the chat references is protected by the foreign key.
    let refused = sqlx::query("DELETE FROM tbl_user WHERE login = 'ursula'")
        .execute(&mut c)
        .await
        .expect_err("the host cannot delete a person with chats");
    assert_eq!(sql_error_number(&refused), Some(1451), "{refused}");
    let refused = sqlx::query("DELETE FROM tbl_worker WHERE full_name = 'Wendy W.'")
        .execute(&mut c)
        .await
        .expect_err("nor a worker with chats");
    assert_eq!(sql_error_number(&refused), Some(1451), "{refused}");

    // Someone the host signs in: no password. Their chat profile goes with their host row.
    let lonely_id: i64 =
        sqlx::query("SELECT CAST(id AS SIGNED) FROM tbl_user WHERE login = 'lonely'")
            .fetch_one(&mut c)
            .await
            .expect("lonely")
            .try_get(0)
            .expect("id");
    let lonely = store
        .link_host_account(
            AccountRole::User,
            lonely_id,
            "lonely@x.test",
            "Lonely",
            "",
            OffsetDateTime::now_utc(),
        )
        .await
        .expect("link");
    assert_eq!(lonely.id, lonely_id);
    let (_, hash) = store
        .account_by_email(AccountRole::User, "lonely@x.test")
        .await
        .expect("q")
        .expect("found");
    assert_eq!(hash, "");
    sqlx::query("DELETE FROM tbl_user WHERE login = 'lonely'")
        .execute(&mut c)
        .await
        .expect("a person without chats can be deleted by the host");
    assert!(
        store
            .account(AccountRole::User, lonely_id)
            .await
            .expect("q")
            .is_none()
    );
    sqlx::query("INSERT INTO tbl_user (id, login, email, city) VALUES (?, 'lonely', 'lonely@x.test', 'Acre')")
        .bind(lonely_id)
        .execute(&mut c)
        .await
        .expect("the host's row back, for the comparison below");

    // Linking someone the host does not have, or an email it does not know, is refused.
    let ghost = store
        .link_host_account(
            AccountRole::Worker,
            999_999,
            "g@x.test",
            "Ghost",
            "",
            OffsetDateTime::now_utc(),
        )
        .await;
    assert!(
        matches!(ghost, Err(StoreError::Rule(ChatError::NotFound(_)))),
        "{ghost:?}"
    );
    let unknown = store
        .create_account(
            &chat_core::model::NewAccount {
                role: AccountRole::Admin,
                email: "nobody@x.test".into(),
                name: "Nobody".into(),
                password_hash: "x".into(),
            },
            OffsetDateTime::now_utc(),
        )
        .await;
    assert!(
        matches!(unknown, Err(StoreError::Rule(ChatError::Invalid { .. }))),
        "{unknown:?}"
    );

    // Nothing of the host's was altered.
    assert_eq!(host_state(&db).await, before);
    c.close().await.expect("close");
    store.close().await;
    drop(db);
}

#[tokio::test]
async fn host_sign_in_uses_the_hosts_key() {
    use chat_core::hosttoken::HostProfile;
    use chat_core::model::AccountSource;
    let Some(db) = Db::new("host_sign_in_uses_the_hosts_key").await else {
        return;
    };
    db.exec(HOST_SCHEMA).await;
    let store = db.open(&host(None)).await;
    let now = OffsetDateTime::now_utc();
    // Ursula (host id 1) was linked with a password before.
    let linked = store
        .link_host_account(AccountRole::User, 1, "u@x.test", "Ursula", "x", now)
        .await
        .expect("link");
    assert_eq!(linked.source, AccountSource::Password);
    // Olga (host id 2) signs in from the host with Ursula's email: another person.
    let profile = HostProfile {
        name: "Olga".into(),
        email: "u@x.test".into(),
        avatar_url: None,
    };
    let olga = store
        .upsert_host_account(AccountRole::User, "2", &profile, now)
        .await
        .expect("upsert");
    assert_eq!((olga.id, olga.host_id.as_deref()), (2, Some("2")));
    assert_eq!(olga.source, AccountSource::Host);
    let again = store
        .upsert_host_account(
            AccountRole::User,
            "2",
            &HostProfile {
                name: "Olga K.".into(),
                ..profile.clone()
            },
            now,
        )
        .await
        .expect("refresh");
    assert_eq!((again.id, again.name.as_str()), (2, "Olga K."));
    let (by_email, _) = store
        .account_by_email(AccountRole::User, "u@x.test")
        .await
        .expect("by email")
        .expect("found");
    assert_eq!(
        by_email.id, 1,
        "password sign-in finds the password account"
    );
    // The host id must be a row of the host's table, and an integer.
    for bad in ["999", "abc"] {
        let e = store
            .upsert_host_account(AccountRole::User, bad, &profile, now)
            .await;
        assert!(
            matches!(
                e,
                Err(StoreError::Rule(ChatError::Invalid { field: "sub", .. }))
            ),
            "{bad}: {e:?}"
        );
    }
    assert!(
        store
            .account_by_host_id(AccountRole::User, "1")
            .await
            .expect("lookup")
            .is_none(),
        "a linked password account is not host-verified"
    );
    store.close().await;
    drop(db);
}
