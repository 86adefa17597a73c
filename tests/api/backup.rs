//! `nati-chat backup` of a live SQLite server under load, then `restore` into a new data
//! directory and serve it: every message acknowledged before the backup began is there.

use crate::nodes::Node;
use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeSet;
use std::process::Command;
use std::sync::{Arc, Mutex};

fn cli(data_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nati-chat"))
        .args(args)
        .env("NATI_DATA_DIR", data_dir)
        .env_remove("NATI_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run nati-chat")
}

#[tokio::test]
async fn a_live_backup_restores_every_message_acknowledged_before_it() {
    if std::env::var("NATI_TEST_DATABASE_URL").is_ok_and(|u| is_server_url(&u)) {
        println!("backup/restore is for the embedded SQLite database; this leg is another backend");
        return;
    }
    let live_dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start_in(live_dir.path(), None, &[]);
    let (st, b) = Client::new(&node.base, None)
        .post("/api/chat/start", json!({"message": "first"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let token = b["guest_token"].as_str().map(String::from);
    let chat = b["chat"]["chat_id"].as_i64().expect("chat id");
    let guest = Client::new(&node.base, token.clone());
    // A photo, sent before the backup: its file comes back with the restore.
    let (st, photo) = crate::attachments::upload(
        &guest,
        chat,
        "ph-1",
        "light.jpg",
        "image/jpeg",
        crate::attachments::phone_photo(32, 24),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{photo}");
    let photo_id = photo["id"].as_str().expect("id").to_owned();
    let (st, b) = guest
        .post(
            "/api/chat/send_message",
            json!({"chat_id": chat, "attachments": [photo_id]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let original = guest
        .request(
            reqwest::Method::GET,
            &format!("/api/chat/attachments/{photo_id}"),
        )
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes");

    // A sender that keeps going during the backup, recording what was acknowledged.
    let acked: Arc<Mutex<Vec<i64>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let (acked, stop, guest) = (acked.clone(), stop.clone(), guest);
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let (st, b) = guest
                    .post(
                        "/api/chat/send_message",
                        json!({"chat_id": chat, "message": format!("m{i}"), "client_id": format!("c{i}")}),
                    )
                    .await;
                assert_eq!(st, StatusCode::CREATED, "{b}");
                acked
                    .lock()
                    .expect("acked")
                    .push(b["message"]["message_id"].as_i64().expect("id"));
                i += 1;
            }
            i
        })
    };
    while acked.lock().expect("acked").len() < 40 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let before: BTreeSet<i64> = acked.lock().expect("acked").iter().copied().collect();
    let file = live_dir.path().join("backup-1.db");
    let out = {
        let (dir, file) = (live_dir.path().to_path_buf(), file.clone());
        tokio::task::spawn_blocking(move || cli(&dir, &["backup", file.to_str().expect("utf-8")]))
            .await
            .expect("backup ran")
    };
    let during = acked.lock().expect("acked").len();
    assert!(
        out.status.success(),
        "backup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("checked"));
    // The server kept answering while the copy was made.
    while acked.lock().expect("acked").len() < during + 10 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let sent = sender.await.expect("sender");
    assert!(sent > before.len());
    // A second backup into the same file is refused, not overwritten.
    let again = cli(live_dir.path(), &["backup", file.to_str().expect("utf-8")]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    drop(node);

    // Restore into a new, empty data directory and serve it.
    let new_dir = tempfile::tempdir().expect("tempdir");
    let out = cli(new_dir.path(), &["restore", file.to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Not over an existing database.
    let twice = cli(new_dir.path(), &["restore", file.to_str().expect("utf-8")]);
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("empty data directory"));
    let restored = Node::start_in(new_dir.path(), None, &[]);
    let guest = Client::new(&restored.base, token);
    let mut have = BTreeSet::new();
    let mut after = 0;
    loop {
        let (st, page) = guest
            .get(&format!(
                "/api/chat/messages?chat_id={chat}&after={after}&limit=100"
            ))
            .await;
        assert_eq!(st, StatusCode::OK, "{page}");
        let msgs = page["messages"].as_array().cloned().unwrap_or_default();
        for m in &msgs {
            let id = m["message_id"].as_i64().expect("id");
            have.insert(id);
            after = after.max(id);
        }
        if page["has_more"] != true || msgs.is_empty() {
            break;
        }
    }
    let missing: Vec<_> = before.difference(&have).collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the backup but not restored: {missing:?}"
    );
    // The photo is there, byte for byte, and its thumbnail.
    for (path, want) in [
        (format!("/api/chat/attachments/{photo_id}"), Some(&original)),
        (format!("/api/chat/attachments/{photo_id}/thumb"), None),
    ] {
        let resp = guest
            .request(reqwest::Method::GET, &path)
            .send()
            .await
            .expect("download");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let got = resp.bytes().await.expect("bytes");
        if let Some(want) = want {
            assert_eq!(&got, want, "the restored photo is the same file");
        }
    }
    // The restored server takes new messages after the restored ones.
    let (st, b) = guest.send_message(chat, "after the restore").await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert!(b["message"]["message_id"].as_i64().expect("id") > after);
}

/// Run a database client tool; panics with what it printed when it fails.
fn tool(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The PostgreSQL and MariaDB commands of docs/operations.md: dump a serving database,
/// restore it into a new one, serve that, and find every acknowledged message.
#[tokio::test]
async fn the_documented_dump_and_restore_keep_every_message() {
    let Some(server) = std::env::var("NATI_TEST_DATABASE_URL")
        .ok()
        .filter(|u| is_server_url(u))
    else {
        println!("dump and restore are for PostgreSQL and MariaDB; their legs run this");
        return;
    };
    let from = ScratchDb::create(&server, "nati_it_").await.expect("db");
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start_in(dir.path(), Some(from.url()), &[]);
    let (st, b) = Client::new(&node.base, None)
        .post("/api/chat/start", json!({"message": "first"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let token = b["guest_token"].as_str().map(String::from);
    let chat = b["chat"]["chat_id"].as_i64().expect("chat id");
    let guest = Client::new(&node.base, token.clone());
    let mut acked = BTreeSet::new();
    for i in 0..20 {
        let (st, b) = guest.send_message(chat, &format!("m{i}")).await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
        acked.insert(b["message"]["message_id"].as_i64().expect("id"));
    }
    let to = ScratchDb::create(&server, "nati_it_").await.expect("db");
    let dump = dir.path().join("dump");
    let u = reqwest::Url::parse(from.url()).expect("url");
    let target = reqwest::Url::parse(to.url()).expect("url");
    if chat_store_mysql::handles(&server) {
        let args = |url: &reqwest::Url| {
            let mut a = vec![
                format!("-h{}", url.host_str().unwrap_or("127.0.0.1")),
                format!("-P{}", url.port().unwrap_or(3306)),
                format!("-u{}", url.username()),
            ];
            if let Some(p) = url.password() {
                a.push(format!("-p{p}"));
            }
            a
        };
        let sql = tool(
            Command::new("mysqldump")
                .args(args(&u))
                .args(["--single-transaction", "--routines", "--triggers"])
                .arg(u.path().trim_start_matches('/')),
        );
        std::fs::write(&dump, &sql).expect("write dump");
        tool(
            Command::new("sh")
                .arg("-c")
                .arg("exec mariadb \"$@\" < \"$DUMP\"")
                .arg("mariadb")
                .args(args(&target))
                .arg(target.path().trim_start_matches('/'))
                .env("DUMP", &dump),
        );
    } else {
        tool(
            Command::new("pg_dump")
                .arg("--format=custom")
                .arg(format!("--file={}", dump.display()))
                .arg(from.url()),
        );
        tool(
            Command::new("pg_restore")
                .arg("--no-owner")
                .arg(format!("--dbname={}", to.url()))
                .arg(&dump),
        );
    }
    drop(node);
    let restored_dir = tempfile::tempdir().expect("tempdir");
    let restored = Node::start_in(restored_dir.path(), Some(to.url()), &[]);
    let guest = Client::new(&restored.base, token);
    let (st, page) = guest
        .get(&format!("/api/chat/messages?chat_id={chat}&limit=100"))
        .await;
    assert_eq!(st, StatusCode::OK, "{page}");
    let have: BTreeSet<i64> = page["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["message_id"].as_i64())
        .collect();
    assert!(
        acked.is_subset(&have),
        "restored: {have:?}, acknowledged: {acked:?}"
    );
    let (st, b) = guest.send_message(chat, "after the restore").await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    drop(restored);
    from.drop_database().await.expect("drop");
    to.drop_database().await.expect("drop");
}
