//! The first thing a newcomer does: start, sign in, open a chat, answer it.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_guest_asks_and_an_assigned_worker_answers() {
    let d = Desk::new().await;
    let (st, b) = d.w1.send_message(d.chat_u1, "Bring it in at 9").await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["chat_status"], "open");
    let (st, b) =
        d.u1.get(&format!("/api/chat/messages?chat_id={}", d.chat_u1))
            .await;
    assert_eq!(st, StatusCode::OK);
    let texts: Vec<&str> = b["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["message"].as_str())
        .collect();
    assert_eq!(texts.first(), Some(&"hello"));
    assert_eq!(texts.last(), Some(&"Bring it in at 9"));
    let (st, b) = d.u1.get("/api/chat/unread_count").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b["total"], 1);
    let (st, _) = d
        .admin
        .post("/api/chat/close", json!({"chat_id": d.chat_g}))
        .await;
    assert_eq!(st, StatusCode::OK);
}
