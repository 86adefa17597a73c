//! Satisfaction ratings: a closed chat's customer (user or guest) gives 1-5 stars and an
//! optional comment, once; staff, strangers, open chats and bad input are refused and
//! change nothing; the chat's story says so live; lists carry the rating. Runs on every
//! backend the suite is pointed at.

use crate::support::*;
use crate::wsclient::Ws;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn rate(c: &Client, chat: i64, body: Value) -> (StatusCode, Value) {
    let mut body = body;
    body["chat_id"] = json!(chat);
    c.post("/api/chat/rate", body).await
}

#[tokio::test]
async fn the_customer_rates_a_closed_chat_once() {
    let d = Desk::new().await;
    // Not before it is closed.
    let got = rate(&d.u1, d.chat_u1, json!({"stars": 5})).await;
    assert_error(&got, StatusCode::CONFLICT, "conflict");
    let (st, _) =
        d.w1.post("/api/chat/close", json!({"chat_id": d.chat_u1}))
            .await;
    assert_eq!(st, StatusCode::OK);
    let before = d.chat_snapshot(d.chat_u1).await;

    // Staff may not; another customer does not even see the chat; bad input is named.
    for staff in [&d.w1, &d.admin] {
        let got = rate(staff, d.chat_u1, json!({"stars": 5})).await;
        assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    }
    let got = rate(&d.u2, d.chat_u1, json!({"stars": 1})).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let got = rate(&d.u1, 999_999, json!({"stars": 1})).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    for bad in [
        json!({"stars": 0}),
        json!({"stars": 6}),
        json!({"stars": 4, "comment": "x".repeat(1001)}),
        json!({"stars": 4, "comment": "bell\u{7}"}),
    ] {
        let got = rate(&d.u1, d.chat_u1, bad.clone()).await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    }
    let (st, _) = rate(&d.u1, d.chat_u1, json!({"stars": "five"})).await;
    assert!(st.is_client_error(), "{st}");
    let (st, _) = d
        .server
        .anon()
        .post("/api/chat/rate", json!({"chat_id": d.chat_u1, "stars": 5}))
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(
        d.chat_snapshot(d.chat_u1).await,
        before,
        "refusals change nothing"
    );

    // The customer rates: stored as written (trimmed), told to the staff live.
    let mut staff = Ws::connect(&d.server.base, d.w1.token.as_deref().expect("token"), "").await;
    let (st, b) = rate(
        &d.u1,
        d.chat_u1,
        json!({"stars": 4, "comment": "  Quick and <b>friendly</b> "}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["rating"]["stars"], 4);
    assert_eq!(b["rating"]["comment"], "Quick and <b>friendly</b>");
    assert_eq!(b["rating"]["rater_type"], "user");
    let line = "Umar rated the chat 4 of 5: “Quick and <b>friendly</b>”";
    let told = |ws: &Ws| {
        ws.events()
            .iter()
            .any(|e| e["type"] == "message.created" && e["data"]["message"] == line)
    };
    while !told(&staff) {
        staff.next().await;
    }
    // Once: a second rating, even a different one, is refused.
    let got = rate(&d.u1, d.chat_u1, json!({"stars": 1})).await;
    assert_error(&got, StatusCode::CONFLICT, "conflict");
    // The rating is on the chat for everyone who sees it; the chat stays closed.
    for c in [&d.u1, &d.w1, &d.admin] {
        let (st, b) = c
            .get(&format!("/api/chat/details?chat_id={}", d.chat_u1))
            .await;
        assert_eq!(st, StatusCode::OK, "{b}");
        assert_eq!(b["chat"]["rating"], 4, "{b}");
        assert_eq!(b["chat"]["status"], "closed");
    }
    let (_, list) = d.u2.get("/api/chat/list").await;
    assert!(
        list["chats"]
            .as_array()
            .expect("chats")
            .iter()
            .all(|c| c["rating"].is_null())
    );
}

#[tokio::test]
async fn a_guest_rates_and_racing_ratings_store_one() {
    let d = Desk::new().await;
    let (st, _) = d
        .admin
        .post("/api/chat/close", json!({"chat_id": d.chat_g}))
        .await;
    assert_eq!(st, StatusCode::OK);
    // Eight tabs rate at once: exactly one is stored.
    let tries = (1..=8).map(|i| {
        let g = d.guest.clone();
        let chat = d.chat_g;
        tokio::spawn(async move { rate(&g, chat, json!({"stars": (i % 5) + 1})).await })
    });
    let mut created = 0;
    for t in tries {
        let (st, b) = t.await.expect("task");
        match st {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {}
            other => panic!("{other}: {b}"),
        }
    }
    assert_eq!(created, 1);
    let lines: Vec<Value> = d
        .all_messages(d.chat_g)
        .await
        .into_iter()
        .filter(|m| {
            m["message"]
                .as_str()
                .is_some_and(|t| t.contains("rated the chat"))
        })
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["sender_type"], "system");
}
