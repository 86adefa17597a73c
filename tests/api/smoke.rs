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

/// A list row previews the newest message someone wrote (never a system line such as
/// "… assigned the chat to …"), and says when it is the reader's own.
#[tokio::test]
async fn list_previews_show_the_last_real_message_and_whose_it_is() {
    let d = Desk::new().await;
    let (st, _) = d.u1.send_message(d.chat_u1, "Is my car ready?").await;
    assert_eq!(st, StatusCode::CREATED);
    // A system line after it: the chat is reassigned.
    d.assign(d.chat_u1, d.w2_id).await;
    let row = |list: &serde_json::Value| {
        list["chats"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["chat_id"] == d.chat_u1))
            .cloned()
            .expect("the chat is listed")
    };
    let (_, admin_list) = d.admin.get("/api/chat/list").await;
    let r = row(&admin_list);
    assert_eq!(
        r["last_message"], "Is my car ready?",
        "not the assignment line: {r}"
    );
    assert_eq!(r["last_message_mine"], false);
    let (_, user_list) = d.u1.get("/api/chat/list").await;
    assert_eq!(row(&user_list)["last_message_mine"], true);
    let (st, _) = d.w2.send_message(d.chat_u1, "Yes, since noon").await;
    assert_eq!(st, StatusCode::CREATED);
    let (_, worker_list) = d.w2.get("/api/chat/list").await;
    let r = row(&worker_list);
    assert_eq!(r["last_message"], "Yes, since noon");
    assert_eq!(r["last_message_mine"], true);
    let (_, user_list) = d.u1.get("/api/chat/list").await;
    assert_eq!(row(&user_list)["last_message_mine"], false);
    let (_, details) =
        d.u1.get(&format!("/api/chat/details?chat_id={}", d.chat_u1))
            .await;
    assert_eq!(details["chat"]["last_message"], "Yes, since noon");
}
