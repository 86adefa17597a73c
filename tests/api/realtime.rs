//! The WebSocket stream against the real server: exactly once, in order, only to those
//! who may see, resumable, bounded.

use crate::support::*;
use crate::wsclient::{Closed, Ws};
use chat_core::AccountRole;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

fn token(c: &Client) -> &str {
    c.token.as_deref().expect("token")
}

/// Every participant's socket receives every message of the chat exactly once, in order.
async fn all_receive_in_order(extra_admins: usize) {
    let d = Desk::new().await;
    let mut people = vec![d.u1.clone(), d.w1.clone(), d.admin.clone()];
    for i in 0..extra_admins {
        let (c, _) = d
            .server
            .account(
                AccountRole::Admin,
                &format!("a{i}@t.test"),
                &format!("Admin {i}"),
            )
            .await;
        people.push(c);
    }
    let mut sockets = Vec::new();
    for p in &people {
        sockets.push(Ws::connect(&d.server.base, token(p), "").await);
    }
    // Everyone who may write writes, interleaved.
    let writers = [&d.u1, &d.w1, &d.admin];
    let mut sent = Vec::new();
    for i in 0..12 {
        let text = format!("m{i}");
        let (st, b) = writers[i % 3].send_message(d.chat_u1, &text).await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
        sent.push(text);
    }
    let last = sent.last().cloned().expect("sent");
    for ws in &mut sockets {
        while !ws.texts(d.chat_u1).contains(&last) {
            ws.next().await;
        }
        assert_eq!(ws.texts(d.chat_u1), sent, "every message once, in order");
        let seqs: Vec<i64> = ws
            .events()
            .iter()
            .filter(|e| e["chat_id"] == d.chat_u1)
            .filter_map(|e| e["seq"].as_i64())
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "seq increases: {seqs:?}"
        );
        let ids: Vec<i64> = ws
            .events()
            .iter()
            .filter_map(|e| e["event_id"].as_i64())
            .collect();
        assert_eq!(
            ids.len(),
            ids.iter().collect::<HashSet<_>>().len(),
            "no event twice"
        );
    }
    assert_eq!(people.len(), 3 + extra_admins);
}

#[tokio::test]
async fn three_participants_receive_every_message_once_in_order() {
    all_receive_in_order(0).await;
}

#[tokio::test]
async fn fifty_participants_receive_every_message_once_in_order() {
    all_receive_in_order(47).await;
}

#[tokio::test]
async fn two_participants_over_the_socket_with_acks() {
    let d = Desk::new().await;
    let mut user = Ws::connect(&d.server.base, token(&d.u1), "").await;
    let mut worker = Ws::connect(&d.server.base, token(&d.w1), "").await;
    user.send(json!({"type": "send", "chat_id": d.chat_u1, "message": "over the socket", "client_id": "c-1"})).await;
    let ack = user.next_of("ack").await;
    assert_eq!(ack["client_id"], "c-1");
    assert_eq!(ack["duplicate"], false);
    // Skip anything from the setup that may still arrive live right after connecting.
    let got = loop {
        let v = worker.next_of("message.created").await;
        if v["data"]["message"] == "over the socket" {
            break v;
        }
    };
    assert_eq!(got["data"]["message_id"], ack["message_id"]);
    // A retry after a "dropped connection": same id, stored once, delivered once.
    user.send(json!({"type": "send", "chat_id": d.chat_u1, "message": "over the socket", "client_id": "c-1"})).await;
    let again = user.next_of("ack").await;
    assert_eq!(again["message_id"], ack["message_id"]);
    assert_eq!(again["duplicate"], true);
    worker
        .send(json!({"type": "send", "chat_id": d.chat_u1, "message": "answer"}))
        .await;
    worker.next_of("ack").await;
    while !user.texts(d.chat_u1).contains(&"answer".to_owned()) {
        user.next().await;
    }
    let texts: Vec<String> = user
        .texts(d.chat_u1)
        .into_iter()
        .filter(|t| t != "hello")
        .collect();
    assert_eq!(
        texts,
        ["over the socket", "answer"],
        "the setup's hello may arrive live; nothing else"
    );
    let (_, page) =
        d.u1.get(&format!("/api/chat/messages?chat_id={}", d.chat_u1))
            .await;
    let n = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["message"] == "over the socket")
        .count();
    assert_eq!(n, 1, "a retried send is stored once");
    // Errors come back as frames, and change nothing.
    user.send(json!({"type": "send", "chat_id": d.chat_u2, "message": "not mine"}))
        .await;
    let err = user.next_of("error").await;
    assert_eq!(err["code"], "not_found");
    user.send(json!({"type": "send", "chat_id": d.chat_u1, "message": "   "}))
        .await;
    assert_eq!(user.next_of("error").await["code"], "invalid");
    user.send(json!({"type": "nonsense"})).await;
    assert_eq!(user.next_of("error").await["code"], "bad_request");
}

#[tokio::test]
async fn resume_replays_exactly_what_was_missed_then_goes_live() {
    let d = Desk::new().await;
    let mut ws = Ws::connect(&d.server.base, token(&d.u1), "").await;
    d.w1.send_message(d.chat_u1, "before").await;
    while !ws.texts(d.chat_u1).contains(&"before".to_owned()) {
        ws.next().await;
    }
    let seen = ws.last_event_id();
    drop(ws);
    for i in 0..5 {
        d.w1.send_message(d.chat_u1, &format!("missed {i}")).await;
    }
    // Events in a chat the user cannot see must not be replayed.
    d.u2.send_message(d.chat_u2, "other customer").await;
    let mut ws = Ws::connect(&d.server.base, token(&d.u1), &format!("?after={seen}")).await;
    for i in 0..5 {
        let e = ws.next_of("message.created").await;
        assert_eq!(e["data"]["message"], format!("missed {i}"));
        assert!(e["event_id"].as_i64().expect("id") > seen);
    }
    d.w1.send_message(d.chat_u1, "live").await;
    let e = ws.next_of("message.created").await;
    assert_eq!(e["data"]["message"], "live");
    assert!(
        ws.events().iter().all(|e| e["chat_id"] == d.chat_u1),
        "nothing from other chats"
    );
    let ids: Vec<i64> = ws
        .events()
        .iter()
        .filter_map(|e| e["event_id"].as_i64())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "in order, no duplicates: {ids:?}"
    );
}

#[tokio::test]
async fn reassigning_a_worker_moves_the_stream() {
    let d = Desk::new().await;
    let mut w1 = Ws::connect(&d.server.base, token(&d.w1), "").await;
    let mut w2 = Ws::connect(&d.server.base, token(&d.w2), "").await;
    let (st, _) = d
        .admin
        .post(
            "/api/chat/assign_worker",
            json!({"chat_id": d.chat_u1, "worker_id": d.w2_id}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    // The setup's own assignment may still arrive live right after connecting: wait for
    // this reassignment specifically.
    let moved_to_w2 = |v: &serde_json::Value| {
        v["type"] == "chat.updated"
            && v["chat_id"] == d.chat_u1
            && v["data"]["worker_id"] == d.w2_id
    };
    while !w1.seen.iter().any(moved_to_w2) {
        w1.next().await;
    }
    // ...the old worker hears the chat moved away, and the new worker receives it.
    while !w2.seen.iter().any(moved_to_w2) {
        w2.next().await;
    }
    d.u1.send_message(d.chat_u1, "after the move").await;
    assert_eq!(
        w2.next_of("message.created").await["data"]["message"],
        "after the move"
    );
    // w1 receives nothing more about it: prove it with a later event w1 may see.
    d.admin
        .post(
            "/api/chat/assign_worker",
            json!({"chat_id": d.chat_u2, "worker_id": d.w1_id}),
        )
        .await;
    while !w1
        .seen
        .iter()
        .any(|v| v["type"] == "chat.updated" && v["chat_id"] == d.chat_u2)
    {
        w1.next().await;
    }
    assert!(
        w1.texts(d.chat_u1).is_empty(),
        "no messages of a chat moved away"
    );
}

#[tokio::test]
async fn bell_counts_follow_messages_and_reads() {
    let d = Desk::new().await;
    let mut ws = Ws::connect(&d.server.base, token(&d.u1), "").await;
    let first = ws.next_of("unread").await;
    assert_eq!(
        (first["total"].as_i64(), first["snapshot"].as_bool()),
        (Some(0), Some(true))
    );
    d.w1.send_message(d.chat_u1, "one").await;
    d.w1.send_message(d.chat_u1, "two").await;
    let mut last = json!(null);
    while last["total"] != 2 {
        last = ws.next_of("unread").await;
    }
    assert_eq!(last["chats"][0]["unread"], 2);
    assert_eq!(last["snapshot"], false, "a change, to merge");
    ws.send(json!({"type": "read", "chat_id": d.chat_u1})).await;
    ws.next_of("read_ack").await;
    let mut after = json!(null);
    while after["total"] != 0 {
        after = ws.next_of("unread").await;
    }
    let (_, http) = d.u1.get("/api/chat/unread_count").await;
    assert_eq!(http["total"], 0, "the socket and the API agree");
    // The worker sees the read receipt.
    let mut w = Ws::connect(&d.server.base, token(&d.w1), "?after=0").await;
    let receipt = w.next_of("message.read").await;
    assert_eq!(receipt["data"]["reader_type"], "user");
}

#[tokio::test]
async fn typing_and_presence_reach_only_those_who_may_see() {
    let d = Desk::new().await;
    let mut guest = Ws::connect(&d.server.base, token(&d.guest), "").await;
    let (_, p) = d.server.anon().get("/api/chat/presence").await;
    assert_eq!(p["staff_online"], 0);
    let mut w1 = Ws::connect(&d.server.base, token(&d.w1), "").await;
    let presence = guest.next_of("presence").await;
    assert_eq!(presence["staff_online"], 1);
    let (_, p) = d.server.anon().get("/api/chat/presence").await;
    assert_eq!(p["staff_online"], 1);
    let mut u1 = Ws::connect(&d.server.base, token(&d.u1), "").await;
    let mut u2 = Ws::connect(&d.server.base, token(&d.u2), "").await;
    w1.send(json!({"type": "typing", "chat_id": d.chat_u1, "state": "started"}))
        .await;
    let t = u1.next_of("typing").await;
    assert_eq!(
        (
            t["chat_id"].as_i64(),
            t["state"].as_str(),
            t["sender_type"].as_str()
        ),
        (Some(d.chat_u1), Some("started"), Some("worker"))
    );
    // Non-participants: an error for the typist, nothing for others.
    w1.send(json!({"type": "typing", "chat_id": d.chat_u2, "state": "started"}))
        .await;
    assert_eq!(w1.next_of("error").await["code"], "not_found");
    d.u2.send_message(d.chat_u2, "sync").await;
    u2.next_of("message.created").await;
    assert!(
        u2.seen.iter().all(|v| v["type"] != "typing"),
        "u2 never sees typing in another chat"
    );
    // Away staff no longer count as online.
    w1.send(json!({"type": "presence", "status": "away"})).await;
    let p = guest.next_of("presence").await;
    assert_eq!(p["staff_online"], 0);
    drop(w1);
}

#[tokio::test]
async fn deactivated_accounts_and_signed_out_sessions_are_disconnected() {
    let d = Desk::new().await;
    let mut ws = Ws::connect(&d.server.base, token(&d.u2), "").await;
    let (st, _) = d
        .admin
        .post(
            "/api/admin/accounts/deactivate",
            json!({"role": "user", "id": d.u2_id}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(ws.closed().await, Closed::Code(4401));
    assert!(
        Ws::try_connect(&d.server.base, Some(token(&d.u2)), "", &[])
            .await
            .is_err(),
        "and cannot come back"
    );
    let mut ws = Ws::connect(&d.server.base, token(&d.u1), "").await;
    let (st, _) = d.u1.post("/api/auth/logout", json!({})).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(ws.closed().await, Closed::Code(4401));
}

#[tokio::test]
async fn an_expired_guest_is_disconnected() {
    let server = TestServer::start_with(|s| {
        s.guest_inactivity_secs = 1;
        s.expiry_sweep_secs = 1;
    })
    .await;
    let (guest, chat, _) = server.guest_chat("Gus", "hi").await;
    let mut ws = Ws::connect(&server.base, token(&guest), "").await;
    assert_eq!(ws.closed().await, Closed::Code(4401));
    let (st, b) = guest
        .get(&format!("/api/chat/messages?chat_id={chat}"))
        .await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("guest_expired"))
    );
}

#[tokio::test]
async fn socket_credentials_tickets_and_origins() {
    let d = Desk::new().await;
    let base = &d.server.base;
    assert!(
        Ws::try_connect(base, None, "", &[]).await.is_err(),
        "no credentials"
    );
    assert!(
        Ws::try_connect(base, Some("ns_forged"), "", &[])
            .await
            .is_err(),
        "bad token"
    );
    let (st, t) = d.u1.post("/api/chat/ws_ticket", json!({})).await;
    assert_eq!(st, StatusCode::OK, "{t}");
    let ticket = t["ticket"].as_str().expect("ticket").to_owned();
    let q = format!("?ticket={ticket}");
    let ws = Ws::try_connect(base, None, &q, &[])
        .await
        .expect("a ticket opens the socket");
    drop(ws);
    assert!(
        Ws::try_connect(base, None, &q, &[]).await.is_err(),
        "a ticket is single use"
    );
    // Cookie from another site: refused. From our own origin: accepted.
    let cookie = format!("nati_session={}", token(&d.u1));
    let evil = [
        ("cookie", cookie.as_str()),
        ("origin", "http://evil.example"),
    ];
    assert!(
        Ws::try_connect(base, None, "", &evil).await.is_err(),
        "cross-site socket refused"
    );
    let ours = [("cookie", cookie.as_str()), ("origin", base.as_str())];
    assert!(
        Ws::try_connect(base, None, "", &ours).await.is_ok(),
        "same-origin cookie accepted"
    );
    // The guest's ticket works too.
    let (_, t) = d.guest.post("/api/chat/ws_ticket", json!({})).await;
    let q = format!("?ticket={}", t["ticket"].as_str().expect("ticket"));
    assert!(Ws::try_connect(base, None, &q, &[]).await.is_ok());
}

#[tokio::test]
async fn silent_clients_time_out_and_shutdown_says_reconnect() {
    let server = TestServer::start_with(|s| {
        s.ws_ping_secs = 1;
        s.ws_idle_secs = 1;
    })
    .await;
    let (user, _) = server.account(AccountRole::User, "u@t.test", "U").await;
    let mut silent = Ws::connect(&server.base, token(&user), "").await;
    // Not reading means not answering pings.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(silent.closed().await, Closed::Code(4001));

    let server = TestServer::start().await;
    let (user, _) = server.account(AccountRole::User, "u@t.test", "U").await;
    let mut ws = Ws::connect(&server.base, token(&user), "").await;
    let stopping = tokio::spawn(server.stop());
    assert_eq!(ws.closed().await, Closed::Code(1012));
    let _ = stopping.await;
}

/// A tiny deterministic generator, so the property run is reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Random chats, assignments and reassignments: no socket ever receives an event for a
/// chat its account could not see at that moment, and each receives all it could.
#[tokio::test]
async fn property_no_socket_sees_what_it_may_not() {
    for seed in [7u64, 1234, 99991] {
        let server = TestServer::start().await;
        let mut rng = Rng(seed);
        let (admin, _) = server.account(AccountRole::Admin, "a@t.test", "A").await;
        let mut workers = Vec::new();
        for i in 0..3 {
            workers.push(
                server
                    .account(
                        AccountRole::Worker,
                        &format!("w{i}@t.test"),
                        &format!("W{i}"),
                    )
                    .await,
            );
        }
        let mut customers = Vec::new();
        for i in 0..3 {
            let (c, _) = server
                .account(AccountRole::User, &format!("u{i}@t.test"), &format!("U{i}"))
                .await;
            customers.push(c);
        }
        let (g, gchat, _) = server.guest_chat("G", "hello").await;
        let mut sockets: Vec<Ws> = Vec::new();
        for (w, _) in &workers {
            sockets.push(Ws::connect(&server.base, token(w), "").await);
        }
        for c in &customers {
            sockets.push(Ws::connect(&server.base, token(c), "").await);
        }
        sockets.push(Ws::connect(&server.base, token(&g), "").await);
        // chat id -> (customer index (3 = guest), current worker index)
        let mut chats: HashMap<i64, (usize, Option<usize>)> = HashMap::new();
        chats.insert(gchat, (3, None));
        for (i, c) in customers.iter().enumerate() {
            let (_, b) = c.post("/api/chat/start", json!({"message": "start"})).await;
            chats.insert(b["chat"]["chat_id"].as_i64().expect("id"), (i, None));
        }
        // Per chat, the visibility of each event seq: which worker saw it (and the previous).
        let mut visible: HashMap<(i64, i64), (Option<usize>, Option<usize>)> = HashMap::new();
        let ids: Vec<i64> = {
            let mut v: Vec<i64> = chats.keys().copied().collect();
            v.sort();
            v
        };
        let last_seq = |b: &serde_json::Value| b["chat"]["last_seq"].as_i64().expect("seq");
        let mut known_seq: HashMap<i64, i64> = HashMap::new();
        for &c in &ids {
            let (_, b) = admin.get(&format!("/api/chat/details?chat_id={c}")).await;
            for s in 1..=last_seq(&b) {
                visible.insert((c, s), (None, None));
            }
            known_seq.insert(c, last_seq(&b));
        }
        for _ in 0..40 {
            let chat = ids[rng.next(ids.len())];
            let (cust, worker) = chats[&chat];
            let op = rng.next(4);
            let before = worker;
            match op {
                0 => {
                    let w = rng.next(3);
                    if Some(w) != worker {
                        let (st, _) = admin
                            .post(
                                "/api/chat/assign_worker",
                                json!({"chat_id": chat, "worker_id": workers[w].1}),
                            )
                            .await;
                        assert_eq!(st, StatusCode::OK);
                        chats.insert(chat, (cust, Some(w)));
                    }
                }
                1 => {
                    if let Some(w) = worker {
                        let (st, _) = workers[w].0.send_message(chat, "from worker").await;
                        assert_eq!(st, StatusCode::CREATED);
                    }
                }
                2 => {
                    let c = if cust == 3 { &g } else { &customers[cust] };
                    let (st, _) = c.send_message(chat, "from customer").await;
                    assert_eq!(st, StatusCode::CREATED);
                }
                _ => {
                    if worker.is_some() {
                        let (st, _) = admin
                            .post("/api/chat/unassign", json!({"chat_id": chat}))
                            .await;
                        assert_eq!(st, StatusCode::OK);
                        chats.insert(chat, (cust, None));
                    }
                }
            }
            let (_, b) = admin
                .get(&format!("/api/chat/details?chat_id={chat}"))
                .await;
            let now_worker = chats[&chat].1;
            let prev = known_seq[&chat];
            for s in prev + 1..=last_seq(&b) {
                visible.insert(
                    (chat, s),
                    (now_worker, if before != now_worker { before } else { None }),
                );
            }
            known_seq.insert(chat, last_seq(&b));
        }
        // Flush: an event every socket may see, newer than everything above.
        for (i, (_, wid)) in workers.iter().enumerate() {
            let (_, b) = customers[0]
                .post("/api/chat/start", json!({"message": format!("flush {i}")}))
                .await;
            let c = b["chat"]["chat_id"].as_i64().expect("id");
            admin
                .post(
                    "/api/chat/assign_worker",
                    json!({"chat_id": c, "worker_id": wid}),
                )
                .await;
            while !sockets[i]
                .seen
                .iter()
                .any(|v| v["type"] == "chat.updated" && v["chat_id"] == c)
            {
                sockets[i].next().await;
            }
        }
        for (k, chat) in ids.iter().enumerate().take(4) {
            let _ = k;
            let (st, _) = admin.send_message(*chat, "flush").await;
            assert_eq!(st, StatusCode::CREATED);
        }
        for (si, ws) in sockets.iter_mut().enumerate().skip(3) {
            let cust = si - 3;
            let mine: Vec<i64> = ids.iter().copied().filter(|c| chats[c].0 == cust).collect();
            for c in mine {
                while !ws.seen.iter().any(|v| {
                    v["type"] == "message.created"
                        && v["chat_id"] == c
                        && v["data"]["message"] == "flush"
                }) {
                    ws.next().await;
                }
            }
        }
        // Check every socket against the model.
        for (si, ws) in sockets.iter().enumerate() {
            for e in ws.events() {
                let chat = e["chat_id"].as_i64().expect("chat");
                let seq = e["seq"].as_i64().expect("seq");
                if si < 3 {
                    if !ids.contains(&chat) {
                        continue; // a flush chat
                    }
                    let (w, prev) = visible.get(&(chat, seq)).copied().unwrap_or((None, None));
                    let moved_away = prev == Some(si) && e["type"] == "chat.updated";
                    assert!(
                        w == Some(si) || moved_away,
                        "seed {seed}: worker {si} got chat {chat} seq {seq} ({})",
                        e["type"]
                    );
                } else if ids.contains(&chat) {
                    assert_eq!(
                        chats.get(&chat).map(|c| c.0),
                        Some(si - 3),
                        "seed {seed}: customer socket {si} got chat {chat}"
                    );
                } else {
                    assert_eq!(
                        si, 3,
                        "seed {seed}: only customer 0 started the flush chats"
                    );
                }
            }
            // Completeness for workers: every event of the model visible to them arrived.
            if si < 3 {
                for ((chat, seq), (w, _)) in &visible {
                    if *w == Some(si) && *seq > 1 {
                        assert!(
                            ws.events()
                                .iter()
                                .any(|e| e["chat_id"] == *chat && e["seq"] == *seq),
                            "seed {seed}: worker {si} missed chat {chat} seq {seq}"
                        );
                    }
                }
            }
        }
    }
}

/// Sends written back to back, without waiting for acks, are stored in the order they
/// were sent and answered in that order; a refused one in the middle changes nothing
/// for the others. (The socket stores them in a task of its own while it keeps delivering.)
#[tokio::test]
async fn pipelined_sends_are_stored_and_acknowledged_in_order() {
    let d = Desk::new().await;
    let mut user = Ws::connect(&d.server.base, token(&d.u1), "").await;
    for i in 0..40 {
        let chat = if i == 17 { d.chat_u2 } else { d.chat_u1 };
        user.send(json!({"type": "send", "chat_id": chat, "message": format!("p{i}"), "client_id": format!("p-{i}")}))
            .await;
    }
    let mut answers = Vec::new();
    let mut acked = std::collections::HashSet::new();
    let mut own_created = 0;
    while answers.len() < 40 || own_created < 39 {
        let v = user.next().await;
        if v["type"] == "ack" || v["type"] == "error" {
            if let Some(id) = v["message_id"].as_i64() {
                acked.insert(id);
            }
            answers.push(v);
        } else if v["type"] == "message.created"
            && v["data"]["message"]
                .as_str()
                .is_some_and(|t| t.starts_with('p'))
        {
            let id = v["data"]["message_id"].as_i64().expect("id");
            assert!(
                acked.contains(&id),
                "the ack of {id} comes before its message.created"
            );
            own_created += 1;
        }
    }
    let order: Vec<String> = answers
        .iter()
        .map(|a| a["client_id"].as_str().unwrap_or("").to_owned())
        .collect();
    let expected: Vec<String> = (0..40).map(|i| format!("p-{i}")).collect();
    assert_eq!(order, expected, "answers in the order of the sends");
    assert_eq!(answers[17]["type"], "error", "not the user's chat");
    let ids: Vec<i64> = answers
        .iter()
        .filter(|a| a["type"] == "ack")
        .map(|a| a["message_id"].as_i64().expect("id"))
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "stored in order: {ids:?}"
    );
    let stored: Vec<String> = d
        .all_messages(d.chat_u1)
        .await
        .iter()
        .filter_map(|m| m["message"].as_str())
        .filter(|t| t.starts_with('p'))
        .map(String::from)
        .collect();
    let want: Vec<String> = (0..40)
        .filter(|i| *i != 17)
        .map(|i| format!("p{i}"))
        .collect();
    assert_eq!(stored, want);
}
