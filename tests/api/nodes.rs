//! Several nodes on one PostgreSQL or MariaDB database: two real `nati-chat` processes.
//! These run in the test script's PostgreSQL and MariaDB legs
//! (`NATI_TEST_DATABASE_URL=postgres://...` or `mysql://...`; on MariaDB the nodes find each
//! other's events by polling the event log); without such a URL there is no shared database
//! to run them on, and they say so.

use crate::smtp::SmtpSink;
use crate::support::*;
use crate::wsclient::Ws;
use reqwest::StatusCode;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One server process.
pub(crate) struct Node {
    child: Child,
    pub(crate) base: String,
    _dir: Option<tempfile::TempDir>,
}

impl Node {
    fn start(db_url: &str, extra_env: &[(&str, String)]) -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut node = Node::start_in(dir.path(), Some(db_url), extra_env);
        node._dir = Some(dir);
        node
    }

    /// A server on `data_dir` (kept by the caller, so a restart finds its SQLite file),
    /// on `db_url` when given, else the embedded SQLite file.
    pub(crate) fn start_in(
        data_dir: &std::path::Path,
        db_url: Option<&str>,
        extra_env: &[(&str, String)],
    ) -> Node {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nati-chat"));
        cmd.args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir);
        if let Some(url) = db_url {
            cmd.env("NATI_DATABASE_URL", url);
        }
        cmd.env("NATI_LOGIN_RATE_PER_MINUTE", "100000")
            .env("NATI_GUEST_START_RATE_PER_MINUTE", "100000")
            .env(
                "NATI_SECRET_KEY",
                "shared-secret-of-the-test-cluster-0123456789",
            )
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start nati-chat");
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("the server printed its address")
                .expect("read");
            if let Some(addr) = line.strip_prefix("listening on ") {
                break addr.trim().to_owned();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Node {
            child,
            base,
            _dir: None,
        }
    }

    /// SIGKILL: the process gets no chance to finish anything.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A fresh database on the PostgreSQL or MariaDB server of `NATI_TEST_DATABASE_URL`, or `None`.
async fn shared_db() -> Option<ScratchDb> {
    match std::env::var("NATI_TEST_DATABASE_URL") {
        Ok(url) if is_server_url(&url) => Some(
            ScratchDb::create(&url, "nati_it_")
                .await
                .expect("scratch database"),
        ),
        _ => {
            println!(
                "several-node tests need NATI_TEST_DATABASE_URL=postgres://... or mysql://...; the test script's PostgreSQL and MariaDB legs run them"
            );
            None
        }
    }
}

async fn login(base: &str, email: &str, password: &str) -> Client {
    let (st, b) = Client::new(base, None)
        .post(
            "/api/auth/login",
            json!({"email": email, "password": password}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    Client::new(base, b["token"].as_str().map(String::from))
}

/// Create the demo-like accounts through the CLI against the shared database.
fn account(db_url: &str, role: &str, email: &str) {
    let st = Command::new(env!("CARGO_BIN_EXE_nati-chat"))
        .args([
            "account",
            "create",
            "--role",
            role,
            "--email",
            email,
            "--name",
            email,
            "--password",
            PASSWORD,
        ])
        .env("NATI_DATABASE_URL", db_url)
        .env("NATI_DATA_DIR", std::env::temp_dir())
        .stdout(Stdio::null())
        .status()
        .expect("run account create");
    assert!(st.success());
}

#[tokio::test]
async fn a_message_sent_through_one_node_reaches_sockets_on_the_other_in_order_once() {
    let Some(db) = shared_db().await else { return };
    let a = Node::start(db.url(), &[]);
    let b = Node::start(db.url(), &[]);
    account(db.url(), "admin", "admin@n.test");
    let admin_b = login(&b.base, "admin@n.test", PASSWORD).await;
    let (guest_a, chat, _) = {
        let (st, body) = Client::new(&a.base, None)
            .post("/api/chat/start", json!({"message": "first"}))
            .await;
        assert_eq!(st, StatusCode::CREATED);
        (
            Client::new(&a.base, body["guest_token"].as_str().map(String::from)),
            body["chat"]["chat_id"].as_i64().expect("id"),
            (),
        )
    };
    let mut ws_b = Ws::connect(&b.base, admin_b.token.as_deref().expect("t"), "").await;
    let mut sent = Vec::new();
    for i in 0..40 {
        let text = format!("m{i}");
        let (st, _) = guest_a.send_message(chat, &text).await;
        assert_eq!(st, StatusCode::CREATED);
        sent.push(text);
    }
    while !ws_b.texts(chat).contains(&"m39".to_owned()) {
        ws_b.next().await;
    }
    let burst: Vec<String> = ws_b
        .texts(chat)
        .into_iter()
        .filter(|t| t.starts_with('m'))
        .collect();
    assert_eq!(burst, sent, "every message, once, in order, across nodes");
    // Resume on the other node: disconnect from B, send through A, reconnect to A.
    let seen = ws_b.last_event_id();
    drop(ws_b);
    for i in 40..45 {
        guest_a.send_message(chat, &format!("m{i}")).await;
    }
    let admin_a = login(&a.base, "admin@n.test", PASSWORD).await;
    let mut ws_a = Ws::connect(
        &a.base,
        admin_a.token.as_deref().expect("t"),
        &format!("?after={seen}"),
    )
    .await;
    while !ws_a.texts(chat).contains(&"m44".to_owned()) {
        ws_a.next().await;
    }
    assert_eq!(
        ws_a.texts(chat),
        (40..45).map(|i| format!("m{i}")).collect::<Vec<_>>(),
        "exactly the missed ones"
    );
    drop((a, b));
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn killing_a_node_mid_burst_loses_no_acknowledged_message() {
    let Some(db) = shared_db().await else { return };
    let mut a = Node::start(db.url(), &[]);
    let b = Node::start(db.url(), &[]);
    let (st, body) = Client::new(&a.base, None)
        .post("/api/chat/start", json!({"message": "start"}))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let token = body["guest_token"].as_str().map(String::from);
    let chat = body["chat"]["chat_id"].as_i64().expect("id");
    let on_a = Client::new(&a.base, token.clone());
    // Some sends complete; then a concurrent burst, and A dies while requests are in flight.
    let mut acked = Vec::new();
    for i in 0..10 {
        let text = format!("before {i}");
        let (st, _) = on_a.send_message(chat, &text).await;
        assert_eq!(st, StatusCode::CREATED);
        acked.push(text);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let c = on_a.clone();
        tasks.spawn(async move {
            let text = format!("burst {i}");
            let r = c
                .request(reqwest::Method::POST, "/api/chat/send_message")
                .json(&json!({"chat_id": chat, "message": text}))
                .send()
                .await;
            match r {
                Ok(resp) if resp.status() == StatusCode::CREATED => Some(text),
                _ => None,
            }
        });
        if i == 30 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            a.kill();
        }
    }
    while let Some(r) = tasks.join_next().await {
        if let Some(t) = r.expect("task") {
            acked.push(t);
        }
    }
    assert!(
        acked.len() >= 10,
        "the sends before the burst were acknowledged"
    );
    // B keeps serving, and has every acknowledged message.
    let on_b = Client::new(&b.base, token);
    let (st, page) = on_b
        .get(&format!("/api/chat/messages?chat_id={chat}&limit=100"))
        .await;
    assert_eq!(st, StatusCode::OK, "{page}");
    let stored: Vec<String> = page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["message"].as_str().map(String::from))
        .collect();
    for t in &acked {
        assert!(stored.contains(t), "acknowledged `{t}` is stored");
    }
    let (st, _) = on_b.send_message(chat, "after the crash").await;
    assert_eq!(st, StatusCode::CREATED);
    drop(b);
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn both_nodes_run_the_email_job_and_each_email_is_sent_once() {
    let Some(db) = shared_db().await else { return };
    let sink = SmtpSink::start().await;
    let env = [
        ("NATI_SMTP_HOST", "127.0.0.1".to_owned()),
        ("NATI_SMTP_PORT", sink.addr.port().to_string()),
        ("NATI_SMTP_SECURITY", "none".to_owned()),
        ("NATI_EMAIL_POLL_MILLIS", "20".to_owned()),
    ];
    let a = Node::start(db.url(), &env);
    let b = Node::start(db.url(), &env);
    account(db.url(), "admin", "admin@n.test");
    let admin = login(&a.base, "admin@n.test", PASSWORD).await;
    let (_, mut p) = admin.get("/api/me/preferences").await;
    p["email_delay_secs"] = json!(1);
    p["admin_scope"] = json!("all");
    let (st, _) = admin.put("/api/me/preferences", p).await;
    assert_eq!(st, StatusCode::OK);
    // Twelve guests write, half through each node: twelve emails are due to the admin.
    for i in 0..12 {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        let (st, _) = Client::new(base, None)
            .post(
                "/api/chat/start",
                json!({"message": format!("question {i}")}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
    }
    let got = sink.wait_for(12).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let all = sink.received();
    assert_eq!(all.len(), 12, "each email once with two senders: {got:?}");
    let mut ids: Vec<String> = all.iter().map(|m| m.message_id()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12);
    drop((a, b));
    db.drop_database().await.expect("drop");
}

/// A session that ends on one node (signed out there, or the account deactivated there)
/// ends on every node: the other node's socket can send nothing more and is closed with
/// 4401, though that node's hub never heard of it.
#[tokio::test]
async fn a_session_ended_on_one_node_ends_its_sockets_on_the_other() {
    let Some(db) = shared_db().await else { return };
    let env = [
        ("NATI_WS_SESSION_CHECK_MILLIS", "0".to_owned()),
        ("NATI_WS_PING_SECS", "1".to_owned()),
    ];
    let a = Node::start(db.url(), &env);
    let b = Node::start(db.url(), &env);
    account(db.url(), "admin", "admin@n.test");
    account(db.url(), "user", "user@n.test");
    let admin_a = login(&a.base, "admin@n.test", PASSWORD).await;
    // Signed out on A: the socket on B may not send another message.
    let user_b = login(&b.base, "user@n.test", PASSWORD).await;
    let chat = {
        let (st, body) = user_b
            .post(
                "/api/chat/start",
                json!({"topic": "brakes", "message": "hello"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        body["chat"]["chat_id"].as_i64().expect("id")
    };
    let token = user_b.token.clone().expect("token");
    let mut ws_b = Ws::connect(&b.base, &token, "").await;
    let (st, _) = Client::new(&a.base, Some(token.clone()))
        .post("/api/auth/logout", json!({}))
        .await;
    assert!(st.is_success(), "logout on A: {st}");
    ws_b.send(
        json!({"type": "send", "chat_id": chat, "message": "after logout", "client_id": "late-1"}),
    )
    .await;
    assert_eq!(ws_b.closed().await, crate::wsclient::Closed::Code(4401));
    let (_, msgs) = admin_a
        .get(&format!("/api/chat/messages?chat_id={chat}"))
        .await;
    assert!(
        !msgs.to_string().contains("after logout"),
        "nothing sent after the session ended: {msgs}"
    );
    // Deactivated on A: an idle socket on B is closed at its next ping.
    let user_b2 = login(&b.base, "user@n.test", PASSWORD).await;
    let mut idle_b = Ws::connect(&b.base, user_b2.token.as_deref().expect("t"), "").await;
    let (st, body) = admin_a.get("/api/admin/accounts?role=user").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let user_id = body["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["email"] == "user@n.test"))
        .and_then(|x| x["id"].as_i64())
        .expect("user id");
    let (st, body) = admin_a
        .post(
            "/api/admin/accounts/deactivate",
            json!({"role": "user", "id": user_id}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(idle_b.closed().await, crate::wsclient::Closed::Code(4401));
    drop((a, b));
    db.drop_database().await.expect("drop");
}

/// Staff online on one node count for customers served by the other: "someone is there"
/// does not depend on which node a visitor reaches.
#[tokio::test]
async fn staff_presence_is_shared_between_nodes() {
    let Some(db) = shared_db().await else { return };
    let env = [("NATI_PRESENCE_SYNC_MILLIS", "200".to_owned())];
    let a = Node::start(db.url(), &env);
    let b = Node::start(db.url(), &env);
    account(db.url(), "admin", "admin@n.test");
    let admin_a = login(&a.base, "admin@n.test", PASSWORD).await;
    let on_b = |base: &str| Client::new(base, None);
    let staff_online = |v: &serde_json::Value| v["staff_online"].as_i64().unwrap_or(-1);
    let (_, p) = on_b(&b.base).get("/api/chat/presence").await;
    assert_eq!(staff_online(&p), 0, "{p}");
    // A guest on B, with a socket there.
    let (st, body) = on_b(&b.base)
        .post("/api/chat/start", json!({"message": "anyone?"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let guest_token = body["guest_token"].as_str().expect("token").to_owned();
    let mut guest_ws = Ws::connect(&b.base, &guest_token, "").await;
    // The admin opens a panel on A: the guest on B hears someone is there.
    let admin_ws = Ws::connect(&a.base, admin_a.token.as_deref().expect("t"), "").await;
    loop {
        let v = guest_ws.next_of("presence").await;
        if staff_online(&v) == 1 {
            break;
        }
    }
    let (_, p) = on_b(&b.base).get("/api/chat/presence").await;
    assert_eq!(staff_online(&p), 1, "{p}");
    // The admin closes the panel on A: nobody is there, on B too.
    drop(admin_ws);
    loop {
        let v = guest_ws.next_of("presence").await;
        if staff_online(&v) == 0 {
            break;
        }
    }
    // A node that dies stops counting once it is no longer heard from.
    let mut a = a;
    let admin_ws = Ws::connect(&a.base, admin_a.token.as_deref().expect("t"), "").await;
    loop {
        let v = guest_ws.next_of("presence").await;
        if staff_online(&v) == 1 {
            break;
        }
    }
    a.kill();
    drop(admin_ws);
    loop {
        let v = guest_ws.next_of("presence").await;
        if staff_online(&v) == 0 {
            break;
        }
    }
    drop(b);
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn two_nodes_send_each_webhook_once_in_order_per_chat() {
    use crate::webhooks::{Receiver, SECRET, assert_in_order, per_chat};
    let Some(db) = shared_db().await else { return };
    let (rx, url, _stop) = Receiver::start(&[SECRET]).await;
    let hooks = json!([{"name": "bell", "url": url, "secrets": [SECRET],
        "events": ["chat.started", "message.created"]}])
    .to_string();
    let env = [
        ("NATI_WEBHOOKS", hooks),
        ("NATI_WEBHOOK_POLL_MILLIS", "20".to_owned()),
        ("NATI_WEBHOOK_RETRY_BASE_MILLIS", "100".to_owned()),
    ];
    let a = Node::start(db.url(), &env);
    let b = Node::start(db.url(), &env);
    // Six guests, each writing through both nodes in turn.
    let mut chats = Vec::new();
    for i in 0..6 {
        let (st, body) = Client::new(&a.base, None)
            .post("/api/chat/start", json!({"message": format!("hello {i}")}))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        let token = body["guest_token"].as_str().map(String::from);
        chats.push((
            body["chat"]["chat_id"].as_i64().expect("id"),
            Client::new(&a.base, token.clone()),
            Client::new(&b.base, token),
        ));
    }
    for n in 0..4 {
        for (chat, on_a, on_b) in &chats {
            let c = if n % 2 == 0 { on_a } else { on_b };
            let (st, b) = c.send_message(*chat, &format!("m{n}")).await;
            assert_eq!(st, StatusCode::CREATED, "{b}");
        }
    }
    // 6 starts + 6 first messages + 24 messages, each accepted once (accepted() checks).
    let hits = rx.wait("36 deliveries", |h| h.len() >= 36).await;
    rx.assert_all_verified();
    assert_in_order(&hits);
    assert!(per_chat(&hits).values().all(|events| events.len() == 6));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.accepted().len(), 36, "nothing twice with two senders");
    drop((a, b));
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn two_nodes_take_a_silent_workers_chat_once() {
    let Some(db) = shared_db().await else { return };
    account(db.url(), "admin", "admin@t.test");
    account(db.url(), "worker", "w1@t.test");
    let env = [("NATI_ROUTING_POLL_MILLIS", "20".to_owned())];
    let a = Node::start(db.url(), &env);
    let b = Node::start(db.url(), &env);
    let admin = login(&a.base, "admin@t.test", PASSWORD).await;
    let (st, body) = admin
        .put(
            "/api/admin/routing",
            json!({"mode": "manual", "capacity": 3, "silence_secs": 1}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let worker_id = body["workers"][0]["worker_id"].as_i64().expect("worker");
    let mut chats = Vec::new();
    for i in 0..4 {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        let (st, started) = Client::new(base, None)
            .post("/api/chat/start", json!({"message": format!("help {i}")}))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{started}");
        let chat = started["chat"]["chat_id"].as_i64().expect("id");
        let (st, assigned) = admin
            .post(
                "/api/chat/assign_worker",
                json!({"chat_id": chat, "worker_id": worker_id}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{assigned}");
        let guest = Client::new(base, started["guest_token"].as_str().map(String::from));
        guest.send_message(chat, "still there?").await;
        chats.push(chat);
    }
    // Both nodes look; each chat is taken back once.
    for chat in &chats {
        for _ in 0..200 {
            let (_, d) = admin
                .get(&format!("/api/chat/details?chat_id={chat}"))
                .await;
            if d["chat"]["worker_id"].is_null() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for chat in &chats {
        let (_, page) = admin
            .get(&format!("/api/chat/messages?chat_id={chat}&limit=100"))
            .await;
        let lines = page["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter(|m| {
                m["message"]
                    .as_str()
                    .is_some_and(|t| t.contains("did not answer within 1 second"))
            })
            .count();
        assert_eq!(lines, 1, "chat {chat}: {page}");
    }
}

/// A file uploaded through one node is served by the other (each has its own data
/// directory: the bytes are in the shared database), thumbnail and ranges included.
#[tokio::test]
async fn a_photo_uploaded_to_one_node_is_served_by_the_other() {
    let Some(db) = shared_db().await else { return };
    let a = Node::start(db.url(), &[]);
    let b = Node::start(db.url(), &[]);
    account(db.url(), "admin", "admin@n.test");
    let (st, body) = Client::new(&a.base, None)
        .post("/api/chat/start", json!({"message": "look"}))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let token = body["guest_token"].as_str().map(String::from);
    let chat = body["chat"]["chat_id"].as_i64().expect("id");
    let guest_a = Client::new(&a.base, token);
    // Larger than one chunk in the database (256 KiB), so a range crosses chunks.
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.extend((0..600_000u32).map(|i| b'a' + (i % 26) as u8));
    let (st, meta) = crate::attachments::upload(
        &guest_a,
        chat,
        "f1",
        "big.pdf",
        "application/pdf",
        pdf.clone(),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{meta}");
    let (st, photo) = crate::attachments::upload(
        &guest_a,
        chat,
        "f2",
        "light.jpg",
        "image/jpeg",
        crate::attachments::phone_photo(64, 48),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{photo}");
    let ids = [
        meta["id"].as_str().expect("id"),
        photo["id"].as_str().expect("id"),
    ];
    let (st, b2) = guest_a
        .post(
            "/api/chat/send_message",
            json!({"chat_id": chat, "attachments": ids}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b2}");
    let admin_b = login(&b.base, "admin@n.test", PASSWORD).await;
    let get = |path: String, range: Option<&'static str>| {
        let rb = admin_b.request(reqwest::Method::GET, &path);
        let rb = match range {
            Some(r) => rb.header("range", r),
            None => rb,
        };
        async move {
            let resp = rb.send().await.expect("download");
            (resp.status(), resp.bytes().await.expect("bytes").to_vec())
        }
    };
    let (st, got) = get(format!("/api/chat/attachments/{}", ids[0]), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(got, pdf, "every byte, from the other node");
    let (st, part) = get(
        format!("/api/chat/attachments/{}", ids[0]),
        Some("bytes=262140-262150"),
    )
    .await;
    assert_eq!(st, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part,
        pdf[262140..=262150].to_vec(),
        "a range across two chunks"
    );
    let (st, thumb) = get(format!("/api/chat/attachments/{}/thumb", ids[1]), None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(image::load_from_memory(&thumb).is_ok());
    drop((a, b));
    db.drop_database().await.expect("drop");
}
