//! The queue and automatic assignment: admins choose the mode and capacity; available
//! workers (a panel open, not Away) are given waiting chats oldest first and never past
//! their capacity, even when many chats arrive at once; a worker who frees a slot gets the
//! next one; offline workers get none. Runs on every backend the suite is pointed at.

use crate::support::*;
use crate::wsclient::Ws;
use chat_core::AccountRole;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const ROUTING: &str = "/api/admin/routing";

fn token(c: &Client) -> &str {
    c.token.as_deref().expect("token")
}

async fn routing(admin: &Client) -> Value {
    let (st, b) = admin.get(ROUTING).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    b
}

/// Open chats per worker name, as the routing view says.
fn loads(view: &Value) -> Vec<(String, i64)> {
    view["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| {
            (
                w["name"].as_str().expect("name").to_owned(),
                w["open_chats"].as_i64().expect("open"),
            )
        })
        .collect()
}

/// Wait until `ok` holds for the routing view (10 s at most).
async fn until(admin: &Client, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let v = routing(admin).await;
        if ok(&v) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: {}", routing(admin).await);
}

#[tokio::test]
async fn admins_choose_and_only_admins() {
    let d = Desk::new().await;
    for c in [&d.w1, &d.u1, &d.guest] {
        assert_eq!(c.get(ROUTING).await.0, StatusCode::FORBIDDEN);
        let got = c
            .put(ROUTING, json!({"mode": "least_busy", "capacity": 2}))
            .await;
        assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    }
    let v = routing(&d.admin).await;
    assert_eq!(
        v["settings"],
        json!({"mode": "manual", "capacity": 3, "capacities": {}, "silence_secs": 0, "on_silence": "queue", "workers_may_take": false})
    );
    for bad in [
        json!({"mode": "least_busy", "capacity": 0}),
        json!({"mode": "least_busy", "capacity": 51}),
    ] {
        let got = d.admin.put(ROUTING, bad).await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    }
    let (st, _) = d
        .admin
        .put(ROUTING, json!({"mode": "by_magic", "capacity": 2}))
        .await;
    assert!(st.is_client_error(), "{st}");
    assert_eq!(routing(&d.admin).await["settings"]["mode"], "manual");
    // Manual: the queue shows both waiting chats, oldest first, and nobody is given one.
    let ids: Vec<i64> = v["queue"]
        .as_array()
        .expect("queue")
        .iter()
        .filter_map(|q| q["chat_id"].as_i64())
        .collect();
    assert_eq!(ids, [d.chat_u2, d.chat_g]);
}

#[tokio::test]
async fn available_workers_are_given_the_queue_up_to_their_capacity() {
    let d = Desk::on(TestServer::start_with(|s| s.routing_poll_millis = 50).await).await;
    let (_offline, offline_id) = d
        .server
        .account(AccountRole::Worker, "w3@t.test", "Otto Offline")
        .await;
    let _w1 = Ws::connect(&d.server.base, token(&d.w1), "").await;
    let _w2 = Ws::connect(&d.server.base, token(&d.w2), "").await;
    // Walt has u1's chat already; u2's and the guest's wait.
    let (st, v) = d
        .admin
        .put(ROUTING, json!({"mode": "least_busy", "capacity": 2}))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // Given out at once: Wendy (none) gets the oldest, then Walt and Wendy are even.
    assert_eq!(d.chat(d.chat_u2).await["worker_id"], d.w2_id);
    assert_eq!(d.chat(d.chat_g).await["worker_id"], d.w1_id);
    assert_eq!(
        loads(&v),
        [
            ("Otto Offline".to_owned(), 0),
            ("Walt".to_owned(), 2),
            ("Wendy".to_owned(), 1)
        ]
    );
    let story = d.all_messages(d.chat_u2).await;
    assert!(
        story
            .iter()
            .any(|m| m["message"] == "The chat was assigned to Wendy (automatic, least busy)"),
        "{story:?}"
    );
    // Three more chats: one fits (Wendy's second), two wait; Otto is offline.
    let mut later = Vec::new();
    for i in 0..3 {
        let (_, chat, _) = d.server.guest_chat(&format!("G{i}"), "hello").await;
        later.push(chat);
    }
    let v = until(&d.admin, "two left waiting", |v| {
        v["queue"].as_array().is_some_and(|q| q.len() == 2)
    })
    .await;
    assert_eq!(d.chat(later[0]).await["worker_id"], d.w2_id);
    assert!(v["queue"][0]["waiting_secs"].as_i64().is_some());
    assert!(loads(&v).iter().all(|(_, n)| *n <= 2), "over capacity: {v}");
    assert_eq!(
        v["workers"]
            .as_array()
            .expect("workers")
            .iter()
            .find(|w| w["worker_id"] == offline_id)
            .expect("Otto")["available"],
        false
    );
    // Walt resolves one: the oldest waiting chat is his at once.
    let (st, _) =
        d.w1.post("/api/chat/close", json!({"chat_id": d.chat_g}))
            .await;
    assert_eq!(st, StatusCode::OK);
    until(&d.admin, "the oldest waiting chat given to Walt", |v| {
        v["queue"].as_array().is_some_and(|q| q.len() == 1)
    })
    .await;
    assert_eq!(d.chat(later[1]).await["worker_id"], d.w1_id);
    assert!(d.chat(later[2]).await["worker_id"].is_null());
    // Back to manual: nothing more is given out.
    d.admin
        .put(ROUTING, json!({"mode": "manual", "capacity": 2}))
        .await;
    d.w2.post("/api/chat/close", json!({"chat_id": d.chat_u2}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(d.chat(later[2]).await["worker_id"].is_null());
}

#[tokio::test]
async fn a_burst_of_new_chats_never_takes_a_worker_past_capacity() {
    let d = Desk::on(TestServer::start_with(|s| s.routing_poll_millis = 20).await).await;
    let _w1 = Ws::connect(&d.server.base, token(&d.w1), "").await;
    let _w2 = Ws::connect(&d.server.base, token(&d.w2), "").await;
    let (st, b) = d
        .admin
        .put(ROUTING, json!({"mode": "round_robin", "capacity": 3}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    // Twelve visitors at once, while the router runs.
    let starts = (0..12).map(|i| {
        let server_base = d.server.base.clone();
        tokio::spawn(async move {
            let anon = Client::new(&server_base, None);
            let (st, b) = anon
                .post(
                    "/api/chat/start",
                    json!({"name": format!("V{i}"), "message": "hi"}),
                )
                .await;
            assert_eq!(st, StatusCode::CREATED, "{b}");
        })
    });
    for s in starts {
        s.await.expect("start");
    }
    // Another admin request routes at the same time as the job.
    let (_, _) = d
        .admin
        .put(ROUTING, json!({"mode": "round_robin", "capacity": 3}))
        .await;
    let v = until(&d.admin, "both workers full", |v| {
        loads(v).iter().all(|(_, n)| *n == 3)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let v2 = routing(&d.admin).await;
    assert_eq!(loads(&v2), loads(&v), "nobody past capacity: {v2}");
    // u1's chat was Walt's before; 12 + 2 waiting - 5 given = 9 wait.
    assert_eq!(v2["queue"].as_array().expect("queue").len(), 9, "{v2}");
}

fn said(story: &[Value], part: &str) -> usize {
    story
        .iter()
        .filter(|m| m["message"].as_str().is_some_and(|t| t.contains(part)))
        .count()
}

#[tokio::test]
async fn a_silent_worker_loses_the_chat_once_and_an_answer_keeps_it() {
    let d = Desk::on(TestServer::start_with(|s| s.routing_poll_millis = 30).await).await;
    let (st, b) = d
        .admin
        .put(
            ROUTING,
            json!({"mode": "manual", "capacity": 3, "silence_secs": 1}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["settings"]["on_silence"], "queue");
    let bad = d
        .admin
        .put(
            ROUTING,
            json!({"mode": "manual", "capacity": 3, "silence_secs": 86401}),
        )
        .await;
    assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    // Wendy answers the guest at once; Walt leaves Umar waiting.
    d.assign(d.chat_g, d.w2_id).await;
    let (st, _) = d.w2.send_message(d.chat_g, "Hello, how can I help?").await;
    assert_eq!(st, StatusCode::CREATED);
    let mut walt = Ws::connect(&d.server.base, token(&d.w1), "").await;
    let (st, _) = d.u1.send_message(d.chat_u1, "anyone there?").await;
    assert_eq!(st, StatusCode::CREATED);
    for _ in 0..200 {
        if d.chat(d.chat_u1).await["worker_id"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let chat = d.chat(d.chat_u1).await;
    assert!(chat["worker_id"].is_null(), "{chat}");
    assert_eq!(chat["status"], "pending");
    // Walt hears it leave; he no longer sees it.
    loop {
        let f = walt.next().await;
        if f["type"] == "chat.updated"
            && f["chat_id"] == d.chat_u1
            && f["data"]["worker_id"].is_null()
        {
            break;
        }
    }
    assert_eq!(
        d.w1.get(&format!("/api/chat/details?chat_id={}", d.chat_u1))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // Once, with the reason; the answered chat is untouched.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let story = d.all_messages(d.chat_u1).await;
    assert_eq!(
        said(
            &story,
            "Walt did not answer within 1 second; the chat is back in the queue"
        ),
        1,
        "{story:?}"
    );
    assert_eq!(d.chat(d.chat_g).await["worker_id"], d.w2_id);
    // To the admins instead: unassigned and marked "needs admin".
    d.admin
        .put(
            ROUTING,
            json!({"mode": "manual", "capacity": 3, "silence_secs": 1, "on_silence": "admins"}),
        )
        .await;
    d.assign(d.chat_u2, d.w2_id).await;
    d.u2.send_message(d.chat_u2, "hello?").await;
    for _ in 0..200 {
        if d.chat(d.chat_u2).await["status"] == "escalated" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let chat = d.chat(d.chat_u2).await;
    assert_eq!(chat["status"], "escalated", "{chat}");
    assert!(chat["worker_id"].is_null());
    let story = d.all_messages(d.chat_u2).await;
    assert_eq!(
        said(
            &story,
            "Wendy did not answer within 1 second; an admin is asked to take over"
        ),
        1
    );
}

#[tokio::test]
async fn workers_take_waiting_chats_when_allowed_and_within_capacity() {
    let d = Desk::new().await;
    let take = |c: &Client, chat: i64| {
        let c = c.clone();
        async move { c.post("/api/chat/take", json!({"chat_id": chat})).await }
    };
    // Not allowed yet: no queue, no taking.
    assert_eq!(d.w1.get("/api/chat/queue").await.0, StatusCode::FORBIDDEN);
    let got = take(&d.w1, d.chat_u2).await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    let (st, b) = d
        .admin
        .put(
            ROUTING,
            json!({"mode": "manual", "capacity": 2, "workers_may_take": true}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, q) = d.w1.get("/api/chat/queue").await;
    assert_eq!(st, StatusCode::OK, "{q}");
    assert_eq!(q["workers_may_take"], true);
    let ids: Vec<i64> = q["queue"]
        .as_array()
        .expect("queue")
        .iter()
        .filter_map(|c| c["chat_id"].as_i64())
        .collect();
    assert_eq!(ids, [d.chat_u2, d.chat_g]);
    for c in [&d.u1, &d.guest] {
        assert_eq!(c.get("/api/chat/queue").await.0, StatusCode::FORBIDDEN);
    }
    // Walt takes Ursula's chat: his now, and the story says so.
    let (st, b) = take(&d.w1, d.chat_u2).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["chat"]["worker_id"], d.w1_id);
    let story = d.all_messages(d.chat_u2).await;
    assert_eq!(said(&story, "Walt took the chat from the queue"), 1);
    // Taken is taken; Walt is full (2 of 2); Wendy has room; only workers take.
    let got = take(&d.w2, d.chat_u2).await;
    assert_error(&got, StatusCode::CONFLICT, "conflict");
    let got = take(&d.w1, d.chat_g).await;
    assert_error(&got, StatusCode::CONFLICT, "conflict");
    for c in [&d.admin, &d.u1, &d.guest] {
        let got = take(c, d.chat_g).await;
        assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    }
    let got = take(&d.w2, 999_999).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let (st, b) = take(&d.w2, d.chat_g).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(d.chat(d.chat_g).await["worker_id"], d.w2_id);
}

#[tokio::test]
async fn a_worker_may_have_a_capacity_of_their_own() {
    let d = Desk::on(TestServer::start_with(|s| s.routing_poll_millis = 30).await).await;
    let _w1 = Ws::connect(&d.server.base, token(&d.w1), "").await;
    let _w2 = Ws::connect(&d.server.base, token(&d.w2), "").await;
    let bad = d
        .admin
        .put(
            ROUTING,
            json!({"mode": "least_busy", "capacity": 5, "capacities": {d.w1_id.to_string(): 51}}),
        )
        .await;
    assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    // Walt takes none automatically; Wendy up to 5.
    let (st, v) = d
        .admin
        .put(
            ROUTING,
            json!({"mode": "least_busy", "capacity": 5, "capacities": {d.w1_id.to_string(): 0}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let walt = v["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .find(|w| w["worker_id"] == d.w1_id)
        .expect("Walt")
        .clone();
    assert_eq!(walt["capacity"], 0, "{walt}");
    assert_eq!(d.chat(d.chat_u2).await["worker_id"], d.w2_id);
    assert_eq!(d.chat(d.chat_g).await["worker_id"], d.w2_id);
}

#[tokio::test]
async fn an_admin_takes_a_chat_out_of_the_queue_and_puts_it_back() {
    let d = Desk::on(TestServer::start_with(|s| s.routing_poll_millis = 30).await).await;
    let _w2 = Ws::connect(&d.server.base, token(&d.w2), "").await;
    // Ada takes Ursula's chat before the router may give it out.
    let (st, b) = d
        .admin
        .post("/api/chat/assign_to_me", json!({"chat_id": d.chat_u2}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert!(b["chat"]["worker_id"].is_null());
    assert_eq!(b["chat"]["assigned_by"], d.admin_id);
    let got = d
        .admin
        .post("/api/chat/assign_to_me", json!({"chat_id": d.chat_u2}))
        .await;
    assert_error(&got, StatusCode::CONFLICT, "conflict");
    for c in [&d.w1, &d.u2] {
        let (st, _) = c
            .post("/api/chat/assign_to_me", json!({"chat_id": d.chat_u2}))
            .await;
        assert!(
            st == StatusCode::FORBIDDEN || st == StatusCode::NOT_FOUND,
            "{st}"
        );
    }
    // Automatic assignment on: the guest's chat goes to Wendy, Ada's stays Ada's.
    d.admin
        .put(ROUTING, json!({"mode": "least_busy", "capacity": 5}))
        .await;
    let v = routing(&d.admin).await;
    let queued: Vec<i64> = v["queue"]
        .as_array()
        .expect("queue")
        .iter()
        .filter_map(|q| q["chat_id"].as_i64())
        .collect();
    assert!(!queued.contains(&d.chat_u2), "{v}");
    assert_eq!(d.chat(d.chat_g).await["worker_id"], d.w2_id);
    assert!(d.chat(d.chat_u2).await["worker_id"].is_null());
    let story = d.all_messages(d.chat_u2).await;
    assert_eq!(said(&story, "Ada Admin took the chat"), 1);
    // Back to the queue: Wendy gets it.
    let (st, b) = d
        .admin
        .post("/api/chat/unassign", json!({"chat_id": d.chat_u2}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    for _ in 0..200 {
        if d.chat(d.chat_u2).await["worker_id"] == d.w2_id {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(d.chat(d.chat_u2).await["worker_id"], d.w2_id);
    let story = d.all_messages(d.chat_u2).await;
    assert_eq!(said(&story, "Ada Admin put the chat back in the queue"), 1);
}
