//! The DBA's path on MariaDB, end to end, as `docs/mariadb.md` tells it: print the SQL,
//! apply it by hand with the `mariadb` client, run `nati-chat migrate` (which must finish,
//! not fail on what is already there), print the grants for a serving account, create that
//! account with exactly those grants, and serve as it: accounts, chats, messages, a socket,
//! preferences. Also the repair of a migration that failed halfway. Runs in the test
//! script's MariaDB leg (`NATI_TEST_DATABASE_URL=mysql://...`); elsewhere it says so.

use crate::nodes::Node;
use crate::support::*;
use crate::wsclient::Ws;
use reqwest::StatusCode;
use serde_json::json;
use std::io::Write;
use std::process::{Command, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nati-chat"));
    c.env("RUST_LOG", "warn").env("NO_COLOR", "1");
    c
}

/// Run the CLI on `url`; its stdout, or a panic with what it printed.
fn cli(url: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = bin()
        .args(args)
        .env("NATI_DATABASE_URL", url)
        .env("NATI_DATA_DIR", dir.path())
        .output()
        .expect("run nati-chat");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "nati-chat {args:?} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Feed `sql` to the `mariadb` command-line client, as a DBA would, on `url`'s server
/// and database as `url`'s user.
fn mariadb_client(url: &str, sql: &str) {
    let u = reqwest::Url::parse(url).expect("url");
    let mut cmd = Command::new("mariadb");
    cmd.arg(format!("-h{}", u.host_str().unwrap_or("127.0.0.1")))
        .arg(format!("-P{}", u.port().unwrap_or(3306)))
        .arg(format!("-u{}", u.username()))
        .arg("--batch");
    if let Some(p) = u.password() {
        cmd.arg(format!("-p{p}"));
    }
    cmd.arg(u.path().trim_start_matches('/'))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .expect("the mariadb client (Debian package mariadb-client) runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(sql.as_bytes())
        .expect("write the SQL");
    let out = child.wait_with_output().expect("mariadb client");
    assert!(
        out.status.success(),
        "the mariadb client refused the SQL:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mariadb_url() -> Option<String> {
    match std::env::var("NATI_TEST_DATABASE_URL") {
        Ok(url) if chat_store_mysql::handles(&url) => Some(url),
        _ => {
            println!(
                "the DBA path needs NATI_TEST_DATABASE_URL=mysql://...; the test script's MariaDB leg runs it"
            );
            None
        }
    }
}

#[tokio::test]
async fn sql_applied_by_hand_then_migrate_then_serve_with_exactly_the_printed_grants() {
    let Some(server) = mariadb_url() else { return };
    let db = ScratchDb::create(&server, "nati_it_").await.expect("db");
    let url = db.url().to_owned();

    // 1. The DBA reads the SQL and applies it by hand.
    let sql = cli(&url, &["migrate", "--print-sql"]);
    assert!(sql.contains("migration 0004"), "{sql}");
    mariadb_client(&url, &sql);

    // 2. The chat's own migrate then finishes: nothing fails on what is already there.
    cli(&url, &["migrate"]);
    let status = cli(&url, &["migrate", "--status"]);
    assert!(!status.contains("FAILED"), "{status}");
    assert!(!status.contains("pending"), "{status}");
    assert_eq!(status.matches(" applied").count(), 12, "{status}");
    let again = cli(&url, &["migrate", "--print-sql"]);
    assert!(again.contains("Nothing to run"), "{again}");

    // 3. The grants for a serving account, applied as printed.
    let user = format!("nati_t_{:08x}", rand_u32());
    let grants = cli(
        &url,
        &["migrate", "--print-grants", &format!("'{user}'@'%'")],
    );
    assert!(
        grants.contains("tbl_chat_api_keys")
            && grants.contains("tbl_chat_host_token_ids")
            && grants.contains("tbl_chat_webhook_deliveries"),
        "every chat table: {grants}"
    );
    assert!(
        !grants
            .lines()
            .filter(|l| !l.starts_with("--"))
            .any(|l| l.contains(".*") || l.contains("CREATE") || l.contains("ALTER")),
        "serving needs no privilege on the whole database and no DDL: {grants}"
    );
    let password = "Serve-only-9f2c";
    mariadb_client(
        &url,
        &format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{password}';\n{grants}"),
    );
    let mut serving = reqwest::Url::parse(&url).expect("url");
    serving.set_username(&user).expect("user");
    serving.set_password(Some(password)).expect("password");
    let serving = serving.to_string();

    // It may not create anything: the schema is the DBA's.
    let denied = {
        let dir = tempfile::tempdir().expect("tempdir");
        bin()
            .args(["migrate", "--print-sql"])
            .env("NATI_DATABASE_URL", &serving)
            .env("NATI_DATA_DIR", dir.path())
            .output()
            .expect("run")
    };
    assert!(denied.status.success(), "reading the plan needs no DDL");

    // 4. Serve as that account: people, chats, messages, a socket, preferences.
    cli(
        &serving,
        &[
            "account",
            "create",
            "--role",
            "admin",
            "--email",
            "a@dba.test",
            "--name",
            "Ada",
            "--password",
            PASSWORD,
        ],
    );
    cli(
        &serving,
        &[
            "account",
            "create",
            "--role",
            "user",
            "--email",
            "u@dba.test",
            "--name",
            "Uli",
            "--password",
            PASSWORD,
        ],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start_in(dir.path(), Some(&serving), &[]);
    let login = |email: &'static str| {
        let base = node.base.clone();
        async move {
            let (st, b) = Client::new(&base, None)
                .post(
                    "/api/auth/login",
                    json!({"email": email, "password": PASSWORD}),
                )
                .await;
            assert_eq!(st, StatusCode::OK, "{b}");
            Client::new(&base, b["token"].as_str().map(String::from))
        }
    };
    let admin = login("a@dba.test").await;
    let customer = login("u@dba.test").await;
    let mut ws = Ws::connect(&node.base, admin.token.as_deref().expect("token"), "").await;
    let (st, started) = customer
        .post(
            "/api/chat/start",
            json!({"message": "Brakes squeak", "topic": "Brakes"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{started}");
    let chat = started["chat"]["chat_id"].as_i64().expect("chat id");
    let (st, _) = admin.send_message(chat, "Bring it in on Monday").await;
    assert_eq!(st, StatusCode::CREATED);
    while !ws.texts(chat).contains(&"Bring it in on Monday".to_owned()) {
        ws.next().await;
    }
    let (st, guest) = Client::new(&node.base, None)
        .post("/api/chat/start", json!({"message": "Guest here"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{guest}");
    let (st, list) = admin.get("/api/chat/list").await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["chats"].as_array().map(Vec::len), Some(2), "{list}");
    let (st, prefs) = customer.get("/api/me/preferences").await;
    assert_eq!(st, StatusCode::OK);
    let mut prefs = prefs;
    prefs["time_zone"] = json!("Europe/Berlin");
    let (st, saved) = customer.put("/api/me/preferences", prefs).await;
    assert_eq!(st, StatusCode::OK, "{saved}");
    assert_eq!(saved["time_zone"], "Europe/Berlin");
    drop(ws);
    drop(node);
    mariadb_client(&url, &format!("DROP USER '{user}'@'%';"));
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn a_migration_that_failed_halfway_is_finished_by_the_documented_repair() {
    let Some(server) = mariadb_url() else { return };
    let db = ScratchDb::create(&server, "nati_it_").await.expect("db");
    let url = db.url().to_owned();
    cli(&url, &["migrate"]);
    // Migration 4 stopped after its first ALTER: marked failed, the rest not done.
    mariadb_client(
        &url,
        "UPDATE _nati_chat_migrations SET success = FALSE WHERE version = 4;\n\
         ALTER TABLE tbl_worker DROP INDEX uq_worker_password_email, DROP INDEX uq_worker_host_subject, \
         DROP COLUMN password_email, ADD UNIQUE KEY uq_worker_email (email);\n\
         ALTER TABLE tbl_worker DROP COLUMN host_subject;\n\
         ALTER TABLE tbl_user DROP INDEX uq_user_password_email, DROP INDEX uq_user_host_subject, \
         DROP COLUMN password_email, ADD UNIQUE KEY uq_user_email (email);\n\
         ALTER TABLE tbl_user DROP COLUMN host_subject;",
    );
    let status = cli(&url, &["migrate", "--status"]);
    assert!(status.contains("FAILED"), "{status}");
    let refused = {
        let dir = tempfile::tempdir().expect("tempdir");
        bin()
            .arg("migrate")
            .env("NATI_DATABASE_URL", &url)
            .env("NATI_DATA_DIR", dir.path())
            .output()
            .expect("run")
    };
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("failed halfway"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // The documented repair: forget the failed attempt, run migrate again.
    mariadb_client(
        &url,
        "DELETE FROM _nati_chat_migrations WHERE version = 4 AND success = 0;",
    );
    cli(&url, &["migrate"]);
    let status = cli(&url, &["migrate", "--status"]);
    assert!(!status.contains("FAILED"), "{status}");
    // What was missing is there now, and works: a worker account by email.
    cli(
        &url,
        &[
            "account",
            "create",
            "--role",
            "worker",
            "--email",
            "w@dba.test",
            "--name",
            "Wim",
            "--password",
            PASSWORD,
        ],
    );
    db.drop_database().await.expect("drop");
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish() as u32
}
