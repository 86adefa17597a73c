//! Private notes: the staff who see a chat (admins, its worker) write and read them; the
//! customer never meets one — not on a socket (live or replayed), not in the history, the
//! list preview, search, or the unread count. Customers may not write them. Runs on every
//! backend the suite is pointed at.

use crate::support::*;
use crate::wsclient::Ws;
use reqwest::StatusCode;
use serde_json::{Value, json};

const SECRET_WORD: &str = "zebracrossing";

fn token(c: &Client) -> &str {
    c.token.as_deref().expect("token")
}

async fn note(c: &Client, chat: i64, text: &str) -> (StatusCode, Value) {
    c.post(
        "/api/chat/send_message",
        json!({"chat_id": chat, "message": text, "private": true}),
    )
    .await
}

async fn history(c: &Client, chat: i64) -> Vec<Value> {
    let (st, b) = c
        .get(&format!("/api/chat/messages?chat_id={chat}&limit=100"))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    b["messages"].as_array().expect("messages").clone()
}

fn mentions_secret(v: &Value) -> bool {
    v.to_string().contains(SECRET_WORD)
}

#[tokio::test]
async fn a_note_reaches_the_staff_and_never_the_customer() {
    let d = Desk::new().await;
    let mut customer = Ws::connect(&d.server.base, token(&d.u1), "").await;
    let mut worker = Ws::connect(&d.server.base, token(&d.w1), "").await;
    let mut admin = Ws::connect(&d.server.base, token(&d.admin), "").await;
    let before = d.chat(d.chat_u1).await;

    let text = format!("customer sounds upset, <b>{SECRET_WORD}</b>");
    let (st, b) = note(&d.w1, d.chat_u1, &text).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["message"]["is_private"], true);
    assert_eq!(b["message"]["message"], text, "stored exactly as written");
    let note_id = b["message"]["message_id"].as_i64().expect("id");
    // A note moves nothing the customer could notice.
    let after = d.chat(d.chat_u1).await;
    assert_eq!(after["updated_at"], before["updated_at"]);
    assert_eq!(after["last_message_at"], before["last_message_at"]);
    assert_eq!(after["status"], before["status"]);

    // The customer may not write one; a worker not on the chat cannot see it to write.
    let got = note(&d.u1, d.chat_u1, "mine").await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    let got = note(&d.guest, d.chat_g, "mine").await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    let got = note(&d.w2, d.chat_u1, "not mine").await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");

    // A message after it, which everybody gets: by then the customer's socket would have
    // had the note, since events arrive in order.
    let (st, b) = d.admin.send_message(d.chat_u1, "public again").await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    for ws in [&mut customer, &mut worker, &mut admin] {
        while !ws.texts(d.chat_u1).contains(&"public again".to_owned()) {
            ws.next().await;
        }
    }
    assert!(
        !customer.events().iter().any(|e| mentions_secret(e)),
        "the customer's socket carried the note: {:?}",
        customer.events()
    );
    for ws in [&worker, &admin] {
        let got = ws
            .events()
            .into_iter()
            .find(|e| e["data"]["message_id"] == note_id)
            .expect("the staff get the note live");
        assert_eq!(got["data"]["is_private"], true);
    }

    // History: the staff read it, the customer does not.
    assert!(
        history(&d.admin, d.chat_u1)
            .await
            .iter()
            .any(mentions_secret)
    );
    assert!(history(&d.w1, d.chat_u1).await.iter().any(mentions_secret));
    let theirs = history(&d.u1, d.chat_u1).await;
    assert!(!theirs.iter().any(mentions_secret), "{theirs:?}");
    assert!(theirs.iter().any(|m| m["message"] == "public again"));

    // A note written last is not the customer's preview, nor unread, nor searchable.
    d.u1.post("/api/chat/mark_read", json!({"chat_id": d.chat_u1}))
        .await;
    let (st, _) = note(&d.admin, d.chat_u1, &format!("{SECRET_WORD} again")).await;
    assert_eq!(st, StatusCode::CREATED);
    let (_, list) = d.u1.get("/api/chat/list").await;
    let mine = list["chats"]
        .as_array()
        .expect("chats")
        .iter()
        .find(|c| c["chat_id"] == d.chat_u1)
        .expect("u1's chat")
        .clone();
    assert_eq!(mine["last_message"], "public again");
    assert_eq!(mine["unread"], 0, "{mine}");
    let (_, unread) = d.u1.get("/api/chat/unread_count").await;
    assert_eq!(unread["total"], 0, "{unread}");
    let (_, found) =
        d.u1.get_query("/api/chat/list", &[("q", SECRET_WORD)])
            .await;
    assert!(chat_ids(&found).is_empty(), "search found a note: {found}");
    let (_, found) = d
        .admin
        .get_query("/api/chat/list", &[("q", SECRET_WORD)])
        .await;
    assert_eq!(chat_ids(&found), [d.chat_u1]);
    // The preview is the conversation with the customer, for the staff too.
    let (_, list) = d.w1.get("/api/chat/list").await;
    let theirs = list["chats"]
        .as_array()
        .expect("chats")
        .iter()
        .find(|c| c["chat_id"] == d.chat_u1)
        .expect("w1's chat")
        .clone();
    assert_eq!(theirs["last_message"], "public again", "{theirs}");

    // A socket that resumes from the beginning replays no note either.
    let mut replay = Ws::connect(&d.server.base, token(&d.u1), "?after=0").await;
    let (_, b) = d.w1.send_message(d.chat_u1, "last public").await;
    let last_id = b["message"]["message_id"].as_i64().expect("id");
    while !replay
        .events()
        .iter()
        .any(|e| e["data"]["message_id"] == last_id)
    {
        replay.next().await;
    }
    assert!(!replay.events().iter().any(|e| mentions_secret(e)));
}

#[tokio::test]
async fn a_note_on_a_guest_chat_stays_with_the_staff() {
    let d = Desk::new().await;
    d.assign(d.chat_g, d.w2_id).await;
    let mut guest = Ws::connect(&d.server.base, token(&d.guest), "").await;
    let (st, b) = note(&d.w2, d.chat_g, SECRET_WORD).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let (st, _) = d.w2.send_message(d.chat_g, "hello guest").await;
    assert_eq!(st, StatusCode::CREATED);
    while !guest.texts(d.chat_g).contains(&"hello guest".to_owned()) {
        guest.next().await;
    }
    assert!(!guest.events().iter().any(|e| mentions_secret(e)));
    assert!(
        !history(&d.guest, d.chat_g)
            .await
            .iter()
            .any(mentions_secret)
    );
    let (_, unread) = d.guest.get("/api/chat/unread_count").await;
    assert_eq!(unread["total"], 1, "the reply only: {unread}");
    // Over the socket too: the staff may send a note, the guest may not.
    let mut staff = Ws::connect(&d.server.base, token(&d.w2), "").await;
    staff
        .send(json!({"type": "send", "chat_id": d.chat_g, "message": "by socket", "private": true, "client_id": "n1"}))
        .await;
    let ack = staff.next_of("ack").await;
    assert_eq!(ack["is_private"], true, "{ack}");
    guest
        .send(json!({"type": "send", "chat_id": d.chat_g, "message": "sneaky", "private": true, "client_id": "g1"}))
        .await;
    let refused = guest.next_of("error").await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    assert!(
        !history(&d.admin, d.chat_g)
            .await
            .iter()
            .any(|m| m["message"] == "sneaky")
    );
}
