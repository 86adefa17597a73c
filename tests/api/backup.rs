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
    // The restored server takes new messages after the restored ones.
    let (st, b) = guest.send_message(chat, "after the restore").await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert!(b["message"]["message_id"].as_i64().expect("id") > after);
}
